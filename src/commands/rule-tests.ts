/**
 * Rule tests, like `vector test`: YAML cases that feed records with event times through the
 * real engine (the same rules, parse stage, template miner and lifecycle as `run`) and state the
 * findings that must, or must not, come out. A failing case reports what it got, what it expected,
 * and a trace of every record: which rules matched it and why each did or did not fire.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Finding, Severity } from '../model/finding.ts';
import type { EventInfo, Level, LogRecord, SourceKind, Target } from '../model/log-record.ts';
import { formatEventLine } from '../model/event-line.ts';
import { parseRecord } from '../parse/record.ts';
import { parseDuration, parseRfc3339 } from '../parse/timestamp.ts';
import { RuleLoadError } from '../detect/load.ts';
import { loadRules } from '../detect/rulesets.ts';
import { createTemplateAssigner } from '../detect/templates.ts';
import type { EngineTracer, MatchVerdict, SignalOutcome } from '../detect/trace.ts';
import type { Rule } from '../detect/types.ts';
import { detectionEngine, type Detection } from '../pipeline.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

const LABEL_KEYS = ['namespace', 'pod', 'container', 'node', 'workload', 'app', 'component', 'service'] as const;
type Labels = Partial<Record<(typeof LABEL_KEYS)[number], string>>;

/** One input step: records at the case's clock, or the clock moving on. */
export type InputStep =
  | { kind: 'records'; records: Array<Omit<LogRecord, 'ts' | 'tsMs' | 'target'> & { labels: Labels }>; repeat: number; everyMs: number; atMs: number | undefined }
  | { kind: 'advance'; ms: number };

export interface Expectation {
  type: string;
  status: 'observed' | 'recovered';
  severity?: Severity;
  /** Exact number of matching findings; absent = at least one. */
  count?: number;
  scope?: Record<string, string>;
  summary?: string;
  rule?: string;
}

export interface RuleTestCase {
  name: string;
  /** Rule ids this case is meant to cover (for the "every default rule has a case" check). */
  covers: string[];
  start: number;
  labels: Labels;
  input: InputStep[];
  expect: Expectation[];
  expectNone: Array<Pick<Expectation, 'type' | 'status' | 'rule'>>;
}

export interface RuleTestFile {
  file: string;
  rules: { defaults: boolean; pipelines: string[]; files: string[] };
  cases: RuleTestCase[];
}

export interface TraceLine {
  ts: string;
  labels: string;
  line: string;
  level: Level;
  verdicts: Array<{ rule: string; verdict: MatchVerdict }>;
  signals: Array<{ rule: string; outcome: SignalOutcome; count: number }>;
}

export interface CaseResult {
  name: string;
  ok: boolean;
  problems: string[];
  findings: Finding[];
  trace: TraceLine[];
}

const DEFAULT_START = '2026-01-01T00:00:00Z';

class CaseReader {
  private readonly file: string;
  private readonly where: string;
  constructor(file: string, where: string) {
    this.file = file;
    this.where = where;
  }
  fail(field: string, reason: string): never {
    throw new RuleLoadError(this.file, undefined, `${this.where}${field ? `.${field}` : ''}`, reason);
  }
  str(o: Obj, k: string, required = false): string | undefined {
    const v = o[k];
    if (v === undefined || v === null) return required ? this.fail(k, 'required') : undefined;
    if (typeof v !== 'string' || !v) this.fail(k, 'must be a non-empty string');
    return v as string;
  }
  duration(o: Obj, k: string): number | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    try {
      return parseDuration(v as string | number);
    } catch (err) {
      return this.fail(k, (err as Error).message);
    }
  }
  time(o: Obj, k: string): number | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    const p = typeof v === 'string' ? parseRfc3339(v) : v instanceof Date ? { ms: v.getTime() } : null;
    if (!p) this.fail(k, 'must be an RFC3339 timestamp');
    return p!.ms;
  }
  labels(o: Obj, k: string): Labels {
    const v = o[k];
    if (v === undefined || v === null) return {};
    if (!isObj(v)) this.fail(k, 'must be a mapping of labels');
    const out: Labels = {};
    for (const [name, value] of Object.entries(v as Obj)) {
      if (!(LABEL_KEYS as readonly string[]).includes(name)) this.fail(`${k}.${name}`, `unknown label (allowed: ${LABEL_KEYS.join(', ')})`);
      if (typeof value !== 'string') this.fail(`${k}.${name}`, 'must be a string');
      out[name as keyof Labels] = value as string;
    }
    return out;
  }
  known(o: Obj, keys: string[]): void {
    for (const k of Object.keys(o)) if (!keys.includes(k)) this.fail(k, `unknown field (allowed: ${keys.join(', ')})`);
  }
}

const STEP_KEYS = ['line', 'lines', 'event', 'status', 'labels', 'level', 'kind', 'stream', 'fields', 'repeat', 'every', 'at', 'advance'];

function readStep(raw: unknown, file: string, where: string, start: number): InputStep {
  const r = new CaseReader(file, where);
  if (!isObj(raw)) r.fail('', 'must be a mapping (line, lines, event, status or advance)');
  const o = raw as Obj;
  r.known(o, STEP_KEYS);
  const advance = r.duration(o, 'advance');
  const forms = ['line', 'lines', 'event', 'status'].filter((k) => o[k] !== undefined);
  if (advance !== undefined) {
    if (forms.length) r.fail('advance', 'stands alone (no records in the same step)');
    return { kind: 'advance', ms: advance };
  }
  if (forms.length !== 1) r.fail('', 'needs exactly one of line, lines, event, status, advance');
  const labels = r.labels(o, 'labels');
  const level = o.level === undefined ? 'unknown' : (o.level as Level);
  const stream = o.stream === 'stdout' || o.stream === 'stderr' ? o.stream : 'unknown';
  const kind = (r.str(o, 'kind') ?? 'pod') as SourceKind;
  if (!['pod', 'file', 'journal', 'replay'].includes(kind) && forms[0] !== 'event' && forms[0] !== 'status') r.fail('kind', 'must be pod, file, journal or replay');
  const fields = o.fields === undefined ? undefined : isObj(o.fields) ? (o.fields as Record<string, string>) : r.fail('fields', 'must be a mapping');
  const records: Array<Omit<LogRecord, 'ts' | 'tsMs' | 'target'> & { labels: Labels }> = [];
  if (o.line !== undefined || o.lines !== undefined) {
    const lines = o.line !== undefined ? [o.line] : o.lines;
    if (!Array.isArray(lines) || !lines.every((l) => typeof l === 'string')) r.fail(o.line !== undefined ? 'line' : 'lines', 'must be a string (line) or a list of strings (lines)');
    for (const line of lines as string[]) records.push({ line, stream, kind, level, labels, ...(fields ? { fields } : {}) });
  } else if (o.event !== undefined) {
    if (!isObj(o.event)) r.fail('event', 'must be a mapping: type, reason, message, object: {kind, name}');
    const e = o.event as Obj;
    const er = new CaseReader(file, `${where}.event`);
    er.known(e, ['type', 'reason', 'message', 'object', 'count', 'component']);
    const obj = isObj(e.object) ? (e.object as Obj) : er.fail('object', 'required: {kind, name}');
    const ns = labels.namespace ?? 'default';
    const event: EventInfo = {
      uid: `${ns}/${String(obj.name)}/${String(e.reason)}`,
      type: er.str(e, 'type') ?? 'Warning',
      reason: er.str(e, 'reason', true)!,
      count: typeof e.count === 'number' ? e.count : 1,
      involvedObject: { kind: String(obj.kind ?? 'Pod'), name: String(obj.name ?? 'unknown'), namespace: ns },
      ...(typeof e.component === 'string' ? { reportingComponent: e.component } : {}),
    };
    const message = er.str(e, 'message') ?? '';
    const evLabels: Labels = { ...labels, ...(event.involvedObject.kind === 'Pod' ? { pod: event.involvedObject.name } : {}) };
    if (event.involvedObject.kind === 'Node') evLabels.node = event.involvedObject.name;
    records.push({ line: formatEventLine(event, message), message, stream: 'unknown', kind: 'event', level: 'unknown', labels: evLabels, event });
  } else {
    const line = r.str(o, 'status', true)!;
    records.push({ line, stream: 'unknown', kind: 'pod_status', level: level === 'unknown' ? 'warn' : level, labels, ...(fields ? { fields } : {}) });
  }
  const repeat = o.repeat === undefined ? 1 : typeof o.repeat === 'number' && Number.isInteger(o.repeat) && o.repeat >= 1 && o.repeat <= 100_000 ? o.repeat : r.fail('repeat', 'must be an integer from 1 to 100000');
  const at = o.at === undefined ? undefined : typeof o.at === 'string' && o.at.startsWith('+') ? start + parseDuration(o.at.slice(1)) : r.time(o, 'at');
  return { kind: 'records', records, repeat, everyMs: r.duration(o, 'every') ?? 1000, atMs: at };
}

function readExpectation(raw: unknown, file: string, where: string, none: boolean): Expectation {
  const r = new CaseReader(file, where);
  if (!isObj(raw)) r.fail('', 'must be a mapping with at least `type`');
  const o = raw as Obj;
  r.known(o, none ? ['type', 'status', 'rule'] : ['type', 'status', 'severity', 'count', 'scope', 'summary', 'rule']);
  const status = (r.str(o, 'status') ?? 'observed') as Expectation['status'];
  if (status !== 'observed' && status !== 'recovered') r.fail('status', 'must be observed or recovered');
  const e: Expectation = { type: r.str(o, 'type', true)!, status };
  const severity = r.str(o, 'severity');
  if (severity !== undefined) {
    if (!['info', 'warning', 'error', 'critical'].includes(severity)) r.fail('severity', 'must be info, warning, error or critical');
    e.severity = severity as Severity;
  }
  if (o.count !== undefined) {
    if (typeof o.count !== 'number' || !Number.isInteger(o.count) || o.count < 0) r.fail('count', 'must be a whole number');
    e.count = o.count as number;
  }
  if (o.scope !== undefined) {
    if (!isObj(o.scope)) r.fail('scope', 'must be a mapping of resource_scope fields');
    e.scope = Object.fromEntries(Object.entries(o.scope as Obj).map(([k, v]) => [k, String(v)]));
  }
  const summary = r.str(o, 'summary');
  if (summary !== undefined) e.summary = summary;
  const rule = r.str(o, 'rule');
  if (rule !== undefined) e.rule = rule;
  return e;
}

/** Reads and validates a test file; every problem names the file, the case and the field. */
export async function loadRuleTests(file: string): Promise<RuleTestFile> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new RuleLoadError(file, undefined, undefined, `cannot read test file: ${(err as Error).message}`);
  }
  const top = new CaseReader(file, '');
  if (!isObj(doc)) top.fail('', 'must be a mapping with `tests:`');
  const d = doc as Obj;
  const rootReader = new CaseReader(file, '(root)');
  rootReader.known(d, ['rules', 'tests']);
  const base = dirname(resolve(file));
  const rulesRaw = isObj(d.rules) ? (d.rules as Obj) : {};
  new CaseReader(file, 'rules').known(rulesRaw, ['defaults', 'pipelines', 'files']);
  const list = (k: string) => {
    const v = rulesRaw[k];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) new CaseReader(file, 'rules').fail(k, 'must be a list of paths');
    return (v as string[]).map((p) => resolve(base, p));
  };
  const rules = { defaults: rulesRaw.defaults !== false, pipelines: list('pipelines'), files: list('files') };
  if (!Array.isArray(d.tests) || d.tests.length === 0) new CaseReader(file, 'tests').fail('', 'must be a non-empty list of cases');
  const names = new Set<string>();
  const cases = (d.tests as unknown[]).map((raw, i): RuleTestCase => {
    const where = `tests[${i}]`;
    const r = new CaseReader(file, where);
    if (!isObj(raw)) r.fail('', 'must be a mapping');
    const o = raw as Obj;
    r.known(o, ['name', 'covers', 'start', 'labels', 'input', 'expect', 'expect_none']);
    const name = r.str(o, 'name', true)!;
    if (names.has(name)) r.fail('name', `duplicate case name "${name}"`);
    names.add(name);
    const cr = new CaseReader(file, `tests["${name}"]`);
    const start = cr.time(o, 'start') ?? parseRfc3339(DEFAULT_START)!.ms;
    if (!Array.isArray(o.input) || o.input.length === 0) cr.fail('input', 'must be a non-empty list of steps');
    const input = (o.input as unknown[]).map((s, j) => readStep(s, file, `tests["${name}"].input[${j}]`, start));
    const expect = o.expect === undefined ? [] : Array.isArray(o.expect) ? o.expect.map((e, j) => readExpectation(e, file, `tests["${name}"].expect[${j}]`, false)) : cr.fail('expect', 'must be a list');
    const expectNone = o.expect_none === undefined ? [] : Array.isArray(o.expect_none) ? o.expect_none.map((e, j) => readExpectation(e, file, `tests["${name}"].expect_none[${j}]`, true)) : cr.fail('expect_none', 'must be a list');
    if (expect.length === 0 && expectNone.length === 0) cr.fail('expect', 'a case needs expect or expect_none');
    const covers = o.covers === undefined ? [] : Array.isArray(o.covers) && o.covers.every((x) => typeof x === 'string') ? (o.covers as string[]) : cr.fail('covers', 'must be a list of rule ids');
    return { name, covers, start, labels: cr.labels(o, 'labels'), input, expect, expectNone };
  });
  return { file, rules, cases };
}

function scopeMatches(f: Finding, scope: Record<string, string> | undefined): boolean {
  if (!scope) return true;
  const s = f.resource_scope as unknown as Record<string, string | undefined>;
  return Object.entries(scope).every(([k, v]) => s[k] === v);
}

function matches(f: Finding, e: Pick<Expectation, 'type' | 'status' | 'rule'> & Partial<Expectation>): boolean {
  return (
    f.incident_type === e.type &&
    f.status === e.status &&
    (e.rule === undefined || f.rule.id === e.rule) &&
    (e.severity === undefined || f.severity === e.severity) &&
    (e.summary === undefined || f.summary.includes(e.summary)) &&
    scopeMatches(f, e.scope)
  );
}

const describeExpectation = (e: Partial<Expectation>) =>
  [e.type, e.status, e.severity, e.rule && `rule=${e.rule}`, e.count !== undefined && `count=${e.count}`, e.scope && `scope=${JSON.stringify(e.scope)}`, e.summary && `summary~"${e.summary}"`].filter(Boolean).join(' ');

/**
 * Plays a case's input in event time: records get the case's labels (one Target object per label
 * set, as sources share them), `advance` steps move the clock. The caller processes each batch and
 * ticks the engine; the engine's lifetime is the caller's.
 */
export function feedCase(c: RuleTestCase, engine: Detection, o: { cluster?: string; onBatch: (batch: LogRecord[]) => void; onAdvance: (nowMs: number) => void }): void {
  const cluster = o.cluster ?? 'test';
  const targets = new Map<string, Target>();
  const targetOf = (labels: Labels): Target => {
    const merged: Labels = { ...c.labels, ...labels };
    const key = JSON.stringify(merged);
    let t = targets.get(key);
    if (!t) {
      t = { cluster, namespace: merged.namespace ?? 'default' };
      for (const k of LABEL_KEYS) if (k !== 'namespace' && merged[k] !== undefined) t[k] = merged[k];
      targets.set(key, t);
    }
    return t;
  };
  let now = c.start;
  for (const step of c.input) {
    if (step.kind === 'advance') {
      now += step.ms;
      o.onAdvance(now);
      continue;
    }
    if (step.atMs !== undefined) now = step.atMs;
    for (let i = 0; i < step.repeat; i++) {
      const batch: LogRecord[] = [];
      for (const proto of step.records) {
        const { labels, ...rest } = proto;
        const rec: LogRecord = { ...rest, ts: new Date(now).toISOString(), tsMs: now, target: targetOf(labels) };
        if (rest.fields) rec.fields = { ...rest.fields };
        batch.push(parseRecord(rec));
      }
      o.onBatch(batch);
      now += step.everyMs;
    }
  }
}

/** Runs one case against `rules` in a fresh engine; deterministic (event time only). */
/** `onRecords` sees every batch the case feeds the engine (a test that also stores them, say). */
export async function runCase(c: RuleTestCase, rules: Rule[], cluster = 'test', onRecords?: (batch: readonly LogRecord[]) => void): Promise<CaseResult> {
  const templates = await createTemplateAssigner();
  const engine = detectionEngine({ rules, assignTemplate: templates.assign });
  const trace: TraceLine[] = [];
  let current: TraceLine | undefined;
  const tracer: EngineTracer = {
    record: (r) => {
      const t = r.target;
      current = { ts: r.ts, labels: LABEL_KEYS.filter((k) => t[k] !== undefined).map((k) => `${k}=${t[k]}`).join(','), line: r.line, level: r.level, verdicts: [], signals: [] };
      if (trace.length < 2000) trace.push(current);
    },
    match: (rule, _r, verdict) => current?.verdicts.push({ rule: rule.id, verdict }),
    signal: (s, outcome) => current?.signals.push({ rule: s.rule.id, outcome, count: s.count }),
  };
  engine.setTracer(tracer);
  const findings: Finding[] = [];
  try {
    feedCase(c, engine, {
      cluster,
      onBatch: (batch) => {
        onRecords?.(batch);
        findings.push(...engine.process(batch));
      },
      onAdvance: (now) => {
        current = undefined;
        findings.push(...engine.tick(now));
      },
    });
  } finally {
    engine.close();
  }
  const problems: string[] = [];
  for (const e of c.expect) {
    const n = findings.filter((f) => matches(f, e)).length;
    if (e.count === undefined ? n === 0 : n !== e.count) problems.push(`expected ${e.count === undefined ? 'at least one' : e.count} × ${describeExpectation({ ...e, count: undefined })}, got ${n}`);
  }
  for (const e of c.expectNone) {
    const hit = findings.filter((f) => matches(f, e));
    if (hit.length) problems.push(`expected no ${describeExpectation(e)}, got ${hit.length}`);
  }
  return { name: c.name, ok: problems.length === 0, problems, findings, trace };
}

export async function runRuleTestFile(t: RuleTestFile): Promise<CaseResult[]> {
  const rules = await loadRules({ defaults: t.rules.defaults, pipelines: t.rules.pipelines, rules: t.rules.files });
  const out: CaseResult[] = [];
  for (const c of t.cases) out.push(await runCase(c, rules));
  return out;
}

/** The human report of a failed case: the problems, what came out, and the per-record trace. */
export function formatFailure(r: CaseResult): string {
  const lines = [`FAIL ${r.name}`, ...r.problems.map((p) => `  - ${p}`), '  findings it produced:'];
  if (r.findings.length === 0) lines.push('    (none)');
  for (const f of r.findings) lines.push(`    ${f.observed_at} ${f.status.padEnd(9)} ${f.incident_type} ${f.severity} rule=${f.rule.id} count=${f.count} scope=${JSON.stringify(f.resource_scope)}`);
  lines.push('  trace (record → rules whose patterns matched it, and signals):');
  for (const t of r.trace) {
    const verdicts = t.verdicts.map((v) => `${v.rule}:${v.verdict}`).join(' ') || 'no pattern rule matched';
    const signals = t.signals.map((s) => `signal ${s.rule}×${s.count} → ${s.outcome}`).join(', ');
    lines.push(`    ${t.ts} [${t.level}] {${t.labels}} ${t.line.length > 160 ? `${t.line.slice(0, 157)}...` : t.line}`);
    lines.push(`        ${verdicts}${signals ? `; ${signals}` : ''}`);
  }
  return lines.join('\n');
}
