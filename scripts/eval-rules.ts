/**
 * Recall and false-positive rate of the default rule set on a corpus of real log lines and
 * Kubernetes event messages gathered from public sources (test/fixtures/incident-corpus).
 *
 * Usage: node scripts/eval-rules.ts [--corpus DIR] [--split test|dev|all|legacy]
 *        [--attribution pod|namespace] [--pipeline FILE] [--no-second-stage] [--verbose]
 * --split picks the corpus files: test (default; incidents.test.ndjson + ordinary.test.ndjson, the
 * frozen held-out half, see SPLIT.md), dev (the half rules may be derived from), all (both), legacy
 * (the v1 files incidents.ndjson + ordinary.ndjson). --pipeline evaluates a rule-set file instead of
 * pipelines/default.ts, e.g. an edited copy. --no-second-stage evaluates the defaults without the
 * second stage (pipelines/second-stage.ts), which they load by default.
 * Prints a table (recall per type with a 95 % Wilson interval) and the misses/false positives on
 * stderr and a final JSON line on stdout: {"recall":{type:…},"recall_min":…,"fp_rate":…,…}
 *
 * Every sample is replayed as a burst of 5 identical records, 12 s apart (48 s in all), in a
 * namespace, pod and node of its own; samples start 30 minutes apart in event time so that no
 * window, episode or correlation spans two samples. All samples go through one engine in process,
 * the way `robot-sre-detector replay` runs them, through the real ReplaySource and pipeline.
 * A finding counts for a sample when it names the sample's own object (--attribution pod, the
 * default): its pod (resource_scope.pod, or kind/name of an event's object) for logs and events on
 * pods and other namespaced objects, its node for Node events. --attribution namespace counts any
 * finding carrying the sample's namespace (the v1 harness, which let node-scoped findings of log
 * lines count although they name no pod).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import type { Finding } from '../src/model/finding.ts';
import type { Rule } from '../src/detect/types.ts';
import { loadRules } from '../src/detect/rulesets.ts';
import { createTemplateAssigner } from '../src/detect/templates.ts';
import { ReplaySource } from '../src/sources/replay.ts';
import { findings$, detectionEngine } from '../src/pipeline.ts';

export interface Sample {
  /** null for ordinary and near-miss lines. */
  incident_type: string | null;
  kind: 'log' | 'event';
  line?: string;
  reason?: string;
  type?: string;
  message?: string;
  /** Pod, Node, or another object kind (HelmRelease, Kustomization, Application, PersistentVolumeClaim, …). */
  involvedObject?: { kind: string };
  source_url: string;
}

export interface SampleResult {
  sample: Sample;
  namespace: string;
  /** Incident types of observed findings attributed to the sample (novelty rules excluded). */
  fired: string[];
  /** new_error_pattern / error_spike findings attributed to the sample. */
  novelty: string[];
}

export interface EvalResult {
  recall: Record<string, number>;
  counts: Record<string, number>;
  hits: Record<string, number>;
  /** 95 % Wilson score interval of each type's recall, [low, high]. */
  interval: Record<string, [number, number]>;
  recall_min: number;
  fp_rate: number;
  ordinary: number;
  false_positives: number;
  /** Ordinary samples that got only a novelty/volume finding (not counted as false positives). */
  novelty_on_ordinary: number;
  novelty_on_incidents: number;
  misses: SampleResult[];
  fps: SampleResult[];
  results: SampleResult[];
}

/** Volume and novelty rules: they fire on whatever is new or loud, so they are reported apart. */
export const NOVELTY_TYPES: ReadonlySet<string> = new Set(['new_error_pattern', 'error_spike']);

const BURST = 5;
const BURST_STEP_MS = 12_000;
const SAMPLE_SPACING_MS = 30 * 60_000;
const START_MS = Date.parse('2026-01-05T00:00:00Z');

export function readCorpusFile(path: string): Sample[] {
  const out: Sample[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    let s: Sample;
    try {
      s = JSON.parse(raw) as Sample;
    } catch (err) {
      throw new Error(`${path}:${i + 1}: ${(err as Error).message}`);
    }
    if (s.kind === 'log' ? typeof s.line !== 'string' : typeof s.message !== 'string' || typeof s.reason !== 'string') {
      throw new Error(`${path}:${i + 1}: a ${s.kind} sample needs ${s.kind === 'log' ? 'line' : 'reason and message'}`);
    }
    if (!s.source_url) throw new Error(`${path}:${i + 1}: source_url missing`);
    out.push(s);
  });
  return out;
}

/** test: the frozen held-out half; dev: the half rules may be derived from; all: both; legacy: the v1 files. */
export type Split = 'test' | 'dev' | 'all' | 'legacy';
export const SPLITS: readonly Split[] = ['test', 'dev', 'all', 'legacy'];

function corpusFiles(dir: string, split: Split): { incidents: string[]; ordinary: string[] } {
  if (split === 'legacy') return { incidents: [join(dir, 'incidents.ndjson')], ordinary: [join(dir, 'ordinary.ndjson')] };
  const parts = split === 'all' ? ['dev', 'test'] : [split];
  return { incidents: parts.map((p) => join(dir, `incidents.${p}.ndjson`)), ordinary: parts.map((p) => join(dir, `ordinary.${p}.ndjson`)) };
}

export function loadCorpus(dir: string, split: Split = 'test'): { incidents: Sample[]; ordinary: Sample[] } {
  const files = corpusFiles(dir, split);
  const incidents = files.incidents.flatMap(readCorpusFile);
  const ordinary = files.ordinary.flatMap(readCorpusFile);
  for (const s of incidents) if (!s.incident_type) throw new Error(`${files.incidents.join(', ')}: sample without incident_type: ${s.line ?? s.message}`);
  for (const s of ordinary) if (s.incident_type !== null) throw new Error(`${files.ordinary.join(', ')}: incident_type must be null: ${s.line ?? s.message}`);
  return { incidents, ordinary };
}

/** 95 % Wilson score interval of a proportion k/n. */
export function wilson(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = p + (z * z) / (2 * n);
  const h = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  const r4 = (x: number) => Math.round(x * 10000) / 10000;
  return [r4(Math.max(0, (c - h) / d)), r4(Math.min(1, (c + h) / d))];
}

/** The NDJSON replay input of one sample: its burst, in the format ReplaySource reads. */
export function sampleRecords(s: Sample, index: number): string[] {
  const namespace = `eval-${index}`;
  const pod = `app-${index}`;
  const node = `node-${index}`;
  const base = START_MS + index * SAMPLE_SPACING_MS;
  const out: string[] = [];
  for (let k = 0; k < BURST; k++) {
    const ts = new Date(base + k * BURST_STEP_MS).toISOString();
    if (s.kind === 'log') {
      out.push(JSON.stringify({ ts, line: s.line, labels: { namespace, pod, container: 'app', node } }));
    } else {
      const objKind = s.involvedObject?.kind ?? 'Pod';
      // Node events are cluster-scoped; the sample's own namespace keeps attribution unambiguous.
      const name = objKind === 'Node' ? node : pod;
      out.push(
        JSON.stringify({
          kind: 'event',
          ts,
          type: s.type ?? 'Warning',
          reason: s.reason,
          message: s.message,
          count: 1,
          involvedObject: { kind: objKind, namespace, name },
          source: { host: node },
        }),
      );
    }
  }
  return out;
}

export interface EvalOptions {
  /** Rules to evaluate (default: pipelines/default.ts). */
  rules?: Rule[];
  /** Corpus files to replay (default: test). */
  split?: Split;
  /** pod (default): a finding must name the sample's pod/object (or node, for Node events); namespace: any finding of its namespace. */
  attribution?: 'pod' | 'namespace';
}

/** Whether a finding names the object of sample i (see the header). */
function attributed(f: Finding, s: Sample, i: number, by: 'pod' | 'namespace'): boolean {
  const rs = f.resource_scope;
  if (rs.namespace !== `eval-${i}`) return false;
  if (by === 'namespace') return true;
  if (s.kind === 'event' && s.involvedObject?.kind === 'Node') return rs.node === `node-${i}` || (rs.kind === 'Node' && rs.name === `node-${i}`);
  return rs.pod === `app-${i}` || rs.name === `app-${i}`;
}

export async function evaluate(corpusDir: string, opts: EvalOptions = {}): Promise<EvalResult> {
  const { incidents, ordinary } = loadCorpus(corpusDir, opts.split ?? 'test');
  const by = opts.attribution ?? 'pod';
  const all = [...incidents, ...ordinary];
  const input = all.flatMap((s, i) => sampleRecords(s, i)).join('\n') + '\n';

  const rules = opts.rules ?? (await loadRules({}));
  const templates = await createTemplateAssigner();
  const engine = detectionEngine({ rules, assignTemplate: templates.assign });
  const source = new ReplaySource({ files: ['-'], stdin: Readable.from([input]) });
  const found: Finding[] = await lastValueFrom(findings$({ sources: [source], engine }).pipe(toArray()));
  // Watermark-driven detectors (spike) report only once event time moves on.
  found.push(...engine.tick(START_MS + (all.length + 2) * SAMPLE_SPACING_MS));

  const byNs = new Map<string, Finding[]>();
  for (const f of found) {
    if (f.status !== 'observed') continue;
    const ns = f.resource_scope.namespace;
    let list = byNs.get(ns);
    if (!list) byNs.set(ns, (list = []));
    list.push(f);
  }

  const results: SampleResult[] = all.map((sample, i) => {
    const namespace = `eval-${i}`;
    const types = [...new Set((byNs.get(namespace) ?? []).filter((f) => attributed(f, sample, i, by)).map((f) => f.incident_type))].sort();
    return {
      sample,
      namespace,
      fired: types.filter((t) => !NOVELTY_TYPES.has(t)),
      novelty: types.filter((t) => NOVELTY_TYPES.has(t)),
    };
  });

  const incidentResults = results.slice(0, incidents.length);
  const ordinaryResults = results.slice(incidents.length);
  const recall: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const hits: Record<string, number> = {};
  const misses: SampleResult[] = [];
  for (const r of incidentResults) {
    const t = r.sample.incident_type!;
    counts[t] = (counts[t] ?? 0) + 1;
    if (r.fired.includes(t)) hits[t] = (hits[t] ?? 0) + 1;
    else misses.push(r);
  }
  const interval: Record<string, [number, number]> = {};
  for (const t of Object.keys(counts).sort()) {
    hits[t] ??= 0;
    recall[t] = round(hits[t], counts[t]!);
    interval[t] = wilson(hits[t], counts[t]!);
  }
  const fps = ordinaryResults.filter((r) => r.fired.length > 0);
  return {
    recall,
    counts,
    hits,
    interval,
    recall_min: Math.min(...Object.values(recall)),
    fp_rate: round(fps.length, ordinaryResults.length),
    ordinary: ordinaryResults.length,
    false_positives: fps.length,
    novelty_on_ordinary: ordinaryResults.filter((r) => r.fired.length === 0 && r.novelty.length > 0).length,
    novelty_on_incidents: incidentResults.filter((r) => r.novelty.length > 0).length,
    misses,
    fps,
    results,
  };
}

const round = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 10000) / 10000);

export function describeSample(s: Sample): string {
  return s.kind === 'log' ? s.line! : `[event ${s.involvedObject?.kind ?? 'Pod'} ${s.type ?? 'Warning'} ${s.reason}] ${s.message}`;
}

/**
 * The per-type table always; the missed and falsely flagged lines only when `showLines`: by default for the
 * dev half only, so nobody writes a rule from a held-out line by reading the output.
 */
function report(r: EvalResult, verbose: boolean, title: string, showLines: boolean): string {
  const lines: string[] = [title];
  const pad = (s: string, n: number) => s.padEnd(n);
  lines.push(`${pad('incident_type', 26)} ${pad('samples', 8)} ${pad('hits', 5)} ${pad('recall', 7)} 95% interval`);
  for (const t of Object.keys(r.recall)) {
    const flag = r.recall[t]! < 0.9 ? '  < 0.9' : '';
    const [lo, hi] = r.interval[t]!;
    lines.push(`${pad(t, 26)} ${pad(String(r.counts[t]), 8)} ${pad(String(r.hits[t]), 5)} ${r.recall[t]!.toFixed(3)}   ${lo.toFixed(3)}–${hi.toFixed(3)}${flag}`);
  }
  const macro = Object.values(r.recall).reduce((a, b) => a + b, 0) / Math.max(1, Object.keys(r.recall).length);
  lines.push(`macro recall ${macro.toFixed(3)}, min ${r.recall_min.toFixed(3)}`);
  const [flo, fhi] = wilson(r.false_positives, r.ordinary);
  lines.push(`ordinary/near-miss samples: ${r.ordinary}, with findings: ${r.false_positives} (fp_rate ${r.fp_rate.toFixed(4)}, 95% ${flo.toFixed(3)}–${fhi.toFixed(3)})`);
  lines.push(`novelty/volume findings (not counted): ${r.novelty_on_ordinary} ordinary, ${r.novelty_on_incidents} incident samples`);
  const cut = (s: string) => (verbose || s.length <= 220 ? s : `${s.slice(0, 217)}...`);
  if (!showLines && (r.misses.length || r.fps.length)) {
    lines.push('', `${r.misses.length} misses and ${r.fps.length} false positives; their lines are not shown for the held-out half (--show-test-lines shows them)`);
    return lines.join('\n') + '\n';
  }
  if (r.misses.length) {
    lines.push('', `MISSES (${r.misses.length}):`);
    for (const m of r.misses) {
      const instead = m.fired.length ? m.fired.join(',') : 'nothing';
      lines.push(`- ${m.sample.incident_type} <- ${instead}${m.novelty.length ? ` (+${m.novelty.join(',')})` : ''}`, `    ${cut(describeSample(m.sample))}`, `    ${m.sample.source_url}`);
    }
  }
  if (r.fps.length) {
    lines.push('', `FALSE POSITIVES (${r.fps.length}):`);
    for (const f of r.fps) lines.push(`- ${f.fired.join(',')}`, `    ${cut(describeSample(f.sample))}`, `    ${f.sample.source_url}`);
  }
  return lines.join('\n') + '\n';
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      corpus: { type: 'string', default: resolve(import.meta.dirname, '../test/fixtures/incident-corpus') },
      split: { type: 'string', default: 'test' },
      attribution: { type: 'string', default: 'pod' },
      pipeline: { type: 'string' },
      'no-second-stage': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      'show-test-lines': { type: 'boolean', default: false },
    },
  });
  const split = values.split as Split;
  if (!SPLITS.includes(split)) throw new Error(`--split must be one of ${SPLITS.join(', ')}`);
  const attribution = values.attribution as 'pod' | 'namespace';
  if (attribution !== 'pod' && attribution !== 'namespace') throw new Error('--attribution must be pod or namespace');
  const noSecond = values['no-second-stage']!;
  const rules = values.pipeline
    ? await loadRules({ defaults: false, pipelines: [resolve(values.pipeline)] })
    : noSecond
      ? await loadRules({ secondStage: false })
      : undefined;
  const r = await evaluate(resolve(values.corpus!), { split, attribution, ...(rules ? { rules } : {}) });
  // 'all' and 'legacy' hold test samples too: only dev shows its lines by default.
  const showLines = split === 'dev' || values['show-test-lines']!;
  process.stderr.write(report(r, values.verbose!, `corpus split: ${split}, attribution: ${attribution}${values.pipeline ? `, rules: ${values.pipeline}` : noSecond ? ', without the second stage' : ''}`, showLines));
  const out = {
    split,
    attribution,
    recall: r.recall,
    interval: r.interval,
    recall_min: r.recall_min,
    fp_rate: r.fp_rate,
    samples: r.counts,
    ordinary: r.ordinary,
    false_positives: r.false_positives,
    novelty_on_ordinary: r.novelty_on_ordinary,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
