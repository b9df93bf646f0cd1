/**
 * Pipeline throughput: ≥ 1M records (Loghub-2k lines from ../shared/datasets mixed with incident
 * lines, spread over 1,000 pods) through the default pipeline in process: parse → every default rule
 * (templates mined on demand) → findings lifecycle. One thread, no sinks.
 *   node bench/pipeline.ts [--lines N] [--batch N] [--datasets DIR]
 * Reference measured in the same run: the same records through parse only (the cheapest stage every
 * collector pays), so the figure can be read as a ratio on any machine.
 * Final JSON line: lines_per_sec, rss_mb_peak, batch_ms_p50/p99, reference and ratio.
 */
import { DEFAULT_DATASETS, INCIDENTS, loghubLines } from './lib/corpus.ts';
import { parseArgs } from 'node:util';
import type { LogRecord } from '../src/model/log-record.ts';
import { parseRecord } from '../src/parse/record.ts';
import { loadRules } from '../src/detect/rulesets.ts';
import { createTemplateAssigner } from '../src/detect/templates.ts';
import { detectionEngine } from '../src/pipeline.ts';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '1000' },
    datasets: { type: 'string', default: DEFAULT_DATASETS },
  },
});
const TOTAL = Number(values.lines);
const BATCH = Number(values.batch);
const PODS = 1000;

const pool = loghubLines(values.datasets!);
if (pool.length === 0) throw new Error(`no Loghub lines under ${values.datasets}`);
const targets = Array.from({ length: PODS }, (_, i) => ({
  cluster: 'bench',
  namespace: `ns-${i % 50}`,
  workload: `app-${i % 200}`,
  pod: `app-${i % 200}-${i.toString(36)}`,
  container: 'main',
  node: `node-${i % 2}`,
}));
const T0 = Date.parse('2026-11-01T00:00:00Z');
const STEP_MS = 3_600_000 / TOTAL; // one hour of logs, whatever the line count

function makeBatch(start: number, n: number): LogRecord[] {
  const out: LogRecord[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const i = start + k;
    const ms = T0 + Math.floor(i * STEP_MS);
    const line = i % 997 === 0 ? INCIDENTS[(i / 997) % INCIDENTS.length | 0]! : pool[i % pool.length]!;
    // Records of a container share its Target object, as the Kubernetes source's do.
    out[k] = { ts: new Date(ms).toISOString(), tsMs: ms, line, stream: 'stdout', kind: 'pod', level: 'unknown', target: targets[(i * 7919) % PODS]! };
  }
  return out;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

// Reference: parse only, timed the same way (record creation excluded: it is the bench's, not the pipeline's).
let refSeconds = 0;
for (let i = 0; i < TOTAL; i += BATCH) {
  const batch = makeBatch(i, Math.min(BATCH, TOTAL - i));
  const c0 = process.cpuUsage();
  for (const r of batch) parseRecord(r);
  const c = process.cpuUsage(c0);
  refSeconds += (c.user + c.system) / 1e6;
}

// The default pipeline.
const rules = await loadRules({});
const templates = await createTemplateAssigner();
const engine = detectionEngine({ rules, assignTemplate: templates.assign });
let rssPeak = process.memoryUsage.rss();
const batchMs: number[] = [];
let findings = 0;
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
let seconds = 0;
// CPU time of the processing alone: robust when other work shares the machine's cores.
let cpuSeconds = 0;
for (let i = 0; i < TOTAL; i += BATCH) {
  const batch = makeBatch(i, Math.min(BATCH, TOTAL - i));
  const c0 = process.cpuUsage();
  const b0 = performance.now();
  for (const r of batch) parseRecord(r);
  findings += engine.process(batch).length;
  const ms = performance.now() - b0;
  const c = process.cpuUsage(c0);
  cpuSeconds += (c.user + c.system) / 1e6;
  batchMs.push(ms);
  seconds += ms / 1000;
  if ((i / BATCH) % 50 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
}
const wallSeconds = (performance.now() - wall0) / 1000;
const cpu = process.cpuUsage(cpu0);
rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
const heapMb = Math.round(process.memoryUsage().heapUsed / 1024 / 1024);

const result = {
  bench: 'pipeline',
  lines: TOTAL,
  pods: PODS,
  rules: rules.length,
  seconds: +seconds.toFixed(3),
  lines_per_sec: Math.round(TOTAL / seconds),
  lines_per_cpu_sec: Math.round(TOTAL / cpuSeconds),
  wall_seconds_with_record_creation: +wallSeconds.toFixed(3),
  cpu_seconds_with_record_creation: +((cpu.user + cpu.system) / 1e6).toFixed(3),
  rss_mb_peak: Math.round(rssPeak / 1024 / 1024),
  heap_mb_end: heapMb,
  batch_size: BATCH,
  batch_ms_p50: +percentile(batchMs, 50).toFixed(3),
  batch_ms_p99: +percentile(batchMs, 99).toFixed(3),
  findings,
  templates: templates.clusters(),
  // The engine mines on demand (warning-or-worse lines, records behind findings): this many were.
  lines_mined: templates.miner.stats().lines,
  reference_parse_only_lines_per_cpu_sec: Math.round(TOTAL / refSeconds),
  ratio_vs_parse_only: +(refSeconds / cpuSeconds).toFixed(3),
  node: process.version,
  node_options: [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ').trim(),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
