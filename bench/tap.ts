/**
 * Tap cost: pipeline throughput (parse → default rules → findings) with no tap client, with a client
 * that reads (selector on one namespace, signals on), and with a client that stopped reading (a raw
 * socket that never reads), in alternating rounds in one process. The goal: a stalled tap is within
 * noise of no tap (it is disconnected once its buffer bound is hit, and never waited for).
 *   node bench/tap.ts [--lines N] [--rounds N]
 * Final JSON line: lines/s medians per mode and the ratios to "none" measured in the same run.
 */
import { connect, type Socket } from 'node:net';
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { DEFAULT_DATASETS, INCIDENTS, loghubLines } from './lib/corpus.ts';
import type { LogRecord, Target } from '../src/model/log-record.ts';
import { parseRecord } from '../src/parse/record.ts';
import { loadRules } from '../src/detect/rulesets.ts';
import { createTemplateAssigner } from '../src/detect/templates.ts';
import { createLogger } from '../src/logger.ts';
import { startServer } from '../src/server.ts';
import { TapHub } from '../src/tap.ts';
import { detectionEngine } from '../src/pipeline.ts';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '300000' }, rounds: { type: 'string', default: '3' } } });
const TOTAL = Number(values.lines);
const ROUNDS = Number(values.rounds);
const pool = loghubLines(DEFAULT_DATASETS);
const targets: Target[] = Array.from({ length: 500 }, (_, i) => ({ cluster: 'bench', namespace: `ns-${i % 50}`, workload: `app-${i % 100}`, pod: `app-${i}`, container: 'main' }));
const T0 = Date.parse('2026-11-01T00:00:00Z');

type Mode = 'none' | 'reading' | 'stalled';

async function round(mode: Mode): Promise<{ linesPerSec: number; tapMessages: number; stalledDroppedAfterRecords?: number }> {
  const templates = await createTemplateAssigner();
  const engine = detectionEngine({ rules: await loadRules({}), assignTemplate: templates.assign });
  const hub = new TapHub(engine, createLogger('silent'), { maxRate: 10_000 });
  const server: Server = await startServer({ host: '127.0.0.1', port: 0, readiness: [], routes: { '/tap': (req, res) => hub.handle(req, res) } });
  const port = (server.address() as { port: number }).port;
  let received = 0;
  let sock: Socket | undefined;
  let ac: AbortController | undefined;
  if (mode === 'reading') {
    ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/tap?selector=namespace=ns-1&signals=1`, { signal: ac.signal });
    void (async () => {
      try {
        for await (const chunk of res.body!) received += (chunk as Uint8Array).length;
      } catch {
        /* aborted */
      }
    })();
  } else if (mode === 'stalled') {
    sock = connect(port, '127.0.0.1');
    sock.write('GET /tap?selector=namespace=ns-1&signals=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    sock.pause();
  }
  while (mode !== 'none' && hub.size === 0) await new Promise((r) => setTimeout(r, 5));
  let droppedAt: number | undefined;
  const t0 = performance.now();
  for (let start = 0; start < TOTAL; start += 1000) {
    const batch: LogRecord[] = [];
    for (let i = start; i < start + 1000; i++) {
      const ms = T0 + i * 10;
      const line = i % 997 === 0 ? INCIDENTS[(i / 997) % INCIDENTS.length | 0]! : pool[i % pool.length]!;
      batch.push(parseRecord({ ts: new Date(ms).toISOString(), tsMs: ms, line, stream: 'stdout', kind: 'pod', level: 'unknown', target: targets[(i * 7919) % targets.length]! }));
    }
    engine.process(batch);
    if (mode === 'stalled' && droppedAt === undefined && hub.size === 0) droppedAt = start + 1000;
    // Yield as the live pipeline does between source chunks, so the socket writes can happen.
    await new Promise((r) => setImmediate(r));
  }
  const secs = (performance.now() - t0) / 1000;
  ac?.abort();
  sock?.destroy();
  hub.close();
  server.close();
  engine.close();
  return { linesPerSec: Math.round(TOTAL / secs), tapMessages: received, ...(droppedAt !== undefined ? { stalledDroppedAfterRecords: droppedAt } : {}) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<Mode, number[]> = { none: [], reading: [], stalled: [] };
const extra: Record<string, unknown>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of ['none', 'reading', 'stalled'] as const) {
    const out = await round(mode);
    results[mode].push(out.linesPerSec);
    extra.push({ round: r, mode, ...out });
    process.stderr.write(`round ${r} ${mode}: ${out.linesPerSec} lines/s${out.tapMessages ? `, ${out.tapMessages} tap bytes read` : ''}${out.stalledDroppedAfterRecords ? `, stalled client dropped after ${out.stalledDroppedAfterRecords} records` : ''}\n`);
  }
}
const none = median(results.none);
process.stdout.write(
  `${JSON.stringify({
    bench: 'tap',
    lines: TOTAL,
    rounds: ROUNDS,
    lines_per_sec: { none, reading: median(results.reading), stalled: median(results.stalled) },
    ratio_to_none: { reading: +(median(results.reading) / none).toFixed(3), stalled: +(median(results.stalled) / none).toFixed(3) },
    runs: extra,
  })}\n`,
);
process.exit(0);
