import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RE2JS } from 're2js';
import {
  commonLiteral,
  evidenceLines,
  evidenceQuery,
  MAX_LITERAL_CHARS,
  patternRegex,
  queryOptionsOf,
  re2Source,
  sampleOf,
  streamLabelsOf,
  type Sample,
} from '../../src/findings/evidence.ts';
import { redact, redactionSpans, REDACTED } from '../../src/parse/redact.ts';
import { LabelBuilder } from '../../src/sinks/loki/labels.ts';
import { feedCase, loadRuleTests, type RuleTestCase } from '../../src/commands/rule-tests.ts';
import { loadRules } from '../../src/detect/rulesets.ts';
import { compileRule, type CompiledRule } from '../../src/detect/compile.ts';
import { createTemplateAssigner } from '../../src/detect/templates.ts';
import type { Signal } from '../../src/detect/signal.ts';
import type { LogRecord, Target } from '../../src/model/log-record.ts';
import type { ResourceScope } from '../../src/model/finding.ts';
import type { Pattern, Rule } from '../../src/detect/types.ts';
import defaultRules from '../../pipelines/default.ts';
import { detectionEngine } from '../../src/pipeline.ts';

// ── parsing a query back ─────────────────────────────────────────────────────────────────

/** Go string unquoting for what quoteLabelValue writes (\" \\ \n \r \t \xNN). */
function unquote(s: string): string {
  return JSON.parse(s.replace(/\\x([0-9a-f]{2})/g, '\\u00$1')) as string;
}

const STRING = String.raw`"(?:[^"\\]|\\.)*"`;
const QUERY = new RegExp(String.raw`^\{(.*)\}(?: (\|=|\|~) (${STRING}))?(?: \| pod=(${STRING}))?$`);

interface Parsed {
  selector: Array<{ name: string; op: '=' | '=~'; value: string }>;
  literal?: string;
  regex?: string;
  pod?: string;
}

function parseQuery(query: string): Parsed {
  const m = QUERY.exec(query);
  if (!m) throw new Error(`not a query of the expected shape: ${query}`);
  const selector: Parsed['selector'] = [];
  const matcher = new RegExp(String.raw`([a-z_]+)(=~|=)(${STRING})(?:, |$)`, 'y');
  for (let x = matcher.exec(m[1]!); x; x = matcher.exec(m[1]!)) selector.push({ name: x[1]!, op: x[2] as '=' | '=~', value: unquote(x[3]!) });
  expect(matcher.lastIndex === 0 || matcher.lastIndex === m[1]!.length, `selector parsed whole: ${m[1]}`).toBe(true);
  const p: Parsed = { selector };
  if (m[2] === '|=') p.literal = unquote(m[3]!);
  if (m[2] === '|~') p.regex = unquote(m[3]!);
  if (m[4]) p.pod = unquote(m[4]);
  return p;
}

/** Whether a Loki label matcher accepts `value` (undefined: the stream lacks the label). */
function matcherAccepts(m: Parsed['selector'][number], value: string | undefined): boolean {
  if (m.op === '=') return value === m.value;
  return RE2JS.compile(`^(?:${m.value})$`).matcher(value ?? '').matches();
}

/** The properties every evidence query must have, checked against the raw records behind it. */
function checkQuery(query: string, records: readonly LogRecord[]): Parsed {
  const p = parseQuery(query);
  expect(Buffer.byteLength(query)).toBeLessThanOrEqual(2000);
  // Selector: exactly the stream labels the Loki sink gives these records, and nothing else.
  const sink = new LabelBuilder(10_000);
  const streams = records.map((r) => Object.fromEntries(sink.build(r).labels));
  for (const r of records) expect(streamLabelsOf(r)).toEqual(Object.fromEntries(sink.build(r).labels));
  const names = new Set(streams.flatMap((s) => Object.keys(s)));
  expect(new Set(p.selector.map((m) => m.name))).toEqual(names);
  for (const m of p.selector) for (const s of streams) expect(matcherAccepts(m, s[m.name]), `${m.name} matcher accepts ${s[m.name]}`).toBe(true);
  for (const m of p.selector.filter((x) => x.op === '=')) for (const s of streams) expect(s[m.name]).toBe(m.value);
  // Line filter: a literal in every raw line, same case, outside anything redaction removes.
  if (p.literal !== undefined) {
    expect(p.literal.length).toBeGreaterThanOrEqual(4);
    expect(p.literal.length).toBeLessThanOrEqual(MAX_LITERAL_CHARS);
    expect(p.literal).not.toContain(REDACTED);
    expect(redact(p.literal)).toBe(p.literal);
    for (const r of records) {
      expect(r.line, 'literal in the raw line').toContain(p.literal);
      const spans = redactionSpans(r.line);
      for (let i = r.line.indexOf(p.literal); i >= 0; i = r.line.indexOf(p.literal, i + 1)) {
        expect(spans.some((s) => s.start < i + p.literal!.length && i < s.end), 'literal overlaps no secret').toBe(false);
      }
    }
  }
  if (p.regex !== undefined) {
    expect(p.regex.startsWith('(?i)')).toBe(true);
    const re = RE2JS.compile(p.regex);
    for (const r of records) expect(re.matcher(r.line).find(), `regex matches ${r.line}`).toBe(true);
  }
  // Pod: structured metadata, filtered when the evidence comes from one pod.
  const pods = new Set(records.map((r) => r.target.pod));
  if (pods.size === 1 && records[0]!.target.pod) expect(p.pod).toBe(records[0]!.target.pod);
  else expect(p.pod).toBeUndefined();
  return p;
}

// ── running the rule tests' cases, keeping the records behind each episode ─────────────────

interface Episode {
  rule: CompiledRule;
  scope: ResourceScope;
  samples: Sample[];
  records: LogRecord[];
  cursor: number;
}

/** The lifecycle's sampling (src/findings/lifecycle.ts addSamples), with the records kept. */
function addSamples(e: Episode, s: Signal): void {
  const recs = s.related?.length ? s.related.map((r) => r.record).filter((r) => r !== undefined) : s.record ? [s.record] : [];
  for (const r of recs) {
    if (e.samples.some((x) => x.line === r.line && x.pod === r.target.pod)) continue;
    const sample = sampleOf(r);
    if (e.samples.length < 5) {
      e.samples.push(sample);
      e.records.push(r);
    } else {
      const slot = 2 + (e.cursor % 3);
      e.samples[slot] = sample;
      e.records[slot] = r;
      e.cursor++;
    }
  }
}


async function episodesOf(c: RuleTestCase, rules: Rule[]): Promise<Episode[]> {
  const templates = await createTemplateAssigner();
  const engine = detectionEngine({ rules, assignTemplate: templates.assign });
  const episodes = new Map<string, Episode>();
  engine.setTracer({
    signal: (s) => {
      let e = episodes.get(s.key);
      if (!e) episodes.set(s.key, (e = { rule: s.rule, scope: s.scope, samples: [], records: [], cursor: 0 }));
      addSamples(e, s);
    },
  });
  try {
    feedCase(c, engine, { onBatch: (batch) => engine.process(batch), onAdvance: (now) => engine.tick(now) });
  } finally {
    engine.close();
  }
  return [...episodes.values()].filter((e) => e.samples.length > 0);
}

const optsOf = (rule: CompiledRule) => queryOptionsOf(rule);

describe('evidence query of the default rules (pipelines/default.test.yaml)', async () => {
  const file = await loadRuleTests('pipelines/default.test.yaml');
  const rules = await loadRules({ defaults: true, pipelines: [], rules: [] });
  const seen = new Map<string, { literal: number; regex: number; none: number }>();
  for (const c of file.cases) {
    it(c.name, async () => {
      const episodes = await episodesOf(c, rules);
      if (c.expect.length > 0) expect(episodes.length).toBeGreaterThan(0);
      for (const e of episodes) {
        const query = evidenceQuery(e.samples, e.scope, optsOf(e.rule));
        const p = checkQuery(query, e.records);
        const n = seen.get(e.rule.id) ?? { literal: 0, regex: 0, none: 0 };
        if (p.literal !== undefined) n.literal++;
        else if (p.regex !== undefined) n.regex++;
        else n.none++;
        seen.set(e.rule.id, n);
      }
    });
  }
  it('every covered rule got a line filter from its typical lines', () => {
    const covered = new Set(file.cases.flatMap((c) => c.covers));
    for (const id of covered) {
      const n = seen.get(id);
      expect(n, `${id} produced an episode`).toBeDefined();
      expect(n!.literal + n!.regex, `${id} has a line filter`).toBeGreaterThan(0);
    }
  });
});

// ── the cases of the issue ─────────────────────────────────────────────────────────────────

const rulesById = new Map(defaultRules.rules.map((r) => [r.id, compileRule(r)]));
const rule = (id: string) => rulesById.get(id)!;
const target: Target = { cluster: 'edge-1', namespace: 'shop', pod: 'worker-1', container: 'app', workload: 'worker' };
const rec = (line: string, t: Partial<Target> = {}, kind: LogRecord['kind'] = 'pod'): LogRecord => ({
  ts: '2026-01-01T00:00:00Z',
  tsMs: Date.parse('2026-01-01T00:00:00Z'),
  line,
  stream: 'stderr',
  kind,
  level: 'error',
  target: { ...target, ...t },
});
const scope: ResourceScope = { cluster: 'edge-1', namespace: 'shop', workload: 'worker', pod: 'worker-1', container: 'app' };
const queryOf = (records: LogRecord[], id?: string) => evidenceQuery(records.map(sampleOf), scope, id ? optsOf(rule(id)) : {});

describe('evidence query: oom_killed', () => {
  const runtime = rec('fatal error: runtime: out of memory');
  const status = rec('container worker terminated: OOMKilled (exit code 137)', {}, 'pod_status');

  it('no longer filters on a literal lifted from a regex ("OutOfMemory")', () => {
    for (const r of [runtime, status]) expect(queryOf([r], 'oom-killed')).not.toContain('OutOfMemory');
  });

  it('filters on the evidence line itself, scoped by app and source and the pod', () => {
    expect(queryOf([runtime], 'oom-killed')).toBe('{cluster="edge-1", namespace="shop", app="worker", container="app", source="pod"} |= "fatal error: runtime: out of memory" | pod="worker-1"');
    expect(queryOf([status], 'oom-killed')).toBe(
      '{cluster="edge-1", namespace="shop", app="worker", container="app", source="pod_status"} |= "container worker terminated: OOMKilled (exit code 137)" | pod="worker-1"',
    );
    checkQuery(queryOf([runtime], 'oom-killed'), [runtime]);
  });

  it('lines with no common text fall back to a case-insensitive RE2 regex of the patterns that matched', () => {
    const q = queryOf([runtime, status], 'oom-killed');
    const p = checkQuery(q, [runtime, status]);
    expect(p.literal).toBeUndefined();
    expect(p.regex).toBe(String.raw`(?i)(?:OOM[ -]?Kill)|(?:out of memory)|(?:reason=OOMKilled|exit ?code[=: ]+137\b)|(?:runtime: cannot map pages in arena|runtime: out of memory|VirtualAlloc of \d+ bytes failed|errno=1455\b|paging file is too small)`);
    expect(q).toContain('source=~"pod|pod_status"');
  });

  it('a long line gives at most 120 characters, starting at the rule match', () => {
    const kernel = rec(
      'May 15 23:09:30 ubuntu-s-1vcpu-2gb-ams3-01 kernel: [  518.050606] Out of memory: Killed process 15784 (python3) total-vm:11964kB, anon-rss:4288kB, file-rss:3028kB, shmem-rss:0kB',
      { pod: 'node-logs-a', container: 'kmsg', workload: 'node-logs', namespace: 'kube-system' },
    );
    const p = checkQuery(queryOf([kernel], 'oom-killed'), [kernel]);
    expect(p.literal!.startsWith('Out of memory: Killed process 15784')).toBe(true);
  });
});

describe('evidence query: identity_provider_unreachable', () => {
  const ldapLines = [
    "2026-01-01T10:00:01Z ERROR [ldap] bind cn=svc,dc=example,dc=com password=hunter2 failed: Can't contact LDAP server (-1)",
    "2026-01-01T10:00:31Z ERROR [ldap] bind cn=svc,dc=example,dc=com password=hunter2 failed: Can't contact LDAP server (-1)",
    '2026-01-01T10:01:01Z ERROR [ldap] bind cn=svc,dc=example,dc=com password=hunter2 failed: ldap_sasl_bind(SIMPLE): Can\'t contact LDAP server (-1)',
  ];
  const kc: Partial<Target> = { namespace: 'auth', pod: 'keycloak-0', workload: 'keycloak', container: 'keycloak' };

  it('holds no secret and no [REDACTED], and still finds the raw lines', () => {
    const records = ldapLines.map((l) => rec(l, kc));
    const q = queryOf(records, 'identity-provider-unreachable');
    expect(q).not.toContain('hunter2');
    expect(q).not.toContain(REDACTED);
    const p = checkQuery(q, records);
    // The longest common text stops where the password starts.
    expect(p.literal).toBe('ERROR [ldap] bind cn=svc,dc=example,dc=com password=');
    expect(q).toBe(`{cluster="edge-1", namespace="auth", app="keycloak", container="keycloak", source="pod"} |= "ERROR [ldap] bind cn=svc,dc=example,dc=com password=" | pod="keycloak-0"`);
  });

  it('through the engine: the correlation over five LDAP failures', async () => {
    const rules = await loadRules({ defaults: true, pipelines: [], rules: [] });
    const c: RuleTestCase = {
      name: 'ldap with a password in the line',
      covers: [],
      start: Date.parse('2026-01-01T10:00:00Z'),
      labels: { namespace: 'auth', pod: 'keycloak-0', workload: 'keycloak', container: 'keycloak' },
      input: [
        {
          kind: 'records',
          records: [{ line: 'ldap_sasl_bind(SIMPLE): bind dn=cn=svc password=hunter2 failed: Can\'t contact LDAP server (-1)', stream: 'stderr', kind: 'pod', level: 'unknown', labels: {} }],
          repeat: 5,
          everyMs: 30_000,
          atMs: undefined,
        },
      ],
      expect: [],
      expectNone: [],
    };
    const episodes = await episodesOf(c, rules);
    const idp = episodes.find((e) => e.rule.incident_type === 'identity_provider_unreachable');
    expect(idp).toBeDefined();
    const q = evidenceQuery(idp!.samples, idp!.scope, optsOf(idp!.rule));
    expect(q).not.toContain('hunter2');
    expect(q).not.toContain(REDACTED);
    checkQuery(q, idp!.records);
    // The evidence lines shown are redacted, the query points at the raw ones.
    expect(evidenceLines(idp!.samples)[0]!.line).toContain(`password=${REDACTED}`);
  });
});

describe('evidence query: selector, pod and quoting', () => {
  it('labels that differ between records become an anchored alternation; a missing label also matches empty', () => {
    const a = rec('upstream connect error: connection refused', { workload: 'api', pod: 'api-1' });
    const b = rec('upstream connect error: connection refused', { workload: 'web', pod: 'web-1', container: undefined });
    const p = checkQuery(queryOf([a, b]), [a, b]);
    expect(p.selector.find((m) => m.name === 'app')).toEqual({ name: 'app', op: '=~', value: 'api|web' });
    expect(p.selector.find((m) => m.name === 'container')).toEqual({ name: 'container', op: '=~', value: 'app|' });
    expect(p.pod).toBeUndefined();
  });

  it('events carry source="event" and the involved pod as metadata', () => {
    const ev = rec('type=Warning reason=BackOff kind=Pod name=shop/api-1 count=1 total=7 msg="Back-off restarting failed container api in pod api-1_shop"', { workload: 'api', pod: 'api-1', container: undefined }, 'event');
    const p = checkQuery(queryOf([ev], 'crash-loop'), [ev]);
    expect(p.selector.find((m) => m.name === 'source')!.value).toBe('event');
  });

  it('values and literals with quotes and backslashes round-trip through LogQL quoting', () => {
    const r = rec('msg="failed \\"C:\\\\data\\" is locked"\ttab', { workload: 'we"ird\\app' });
    const p = checkQuery(queryOf([r]), [r]);
    expect(p.selector.find((m) => m.name === 'app')!.value).toBe('we"ird\\app');
    expect(r.line).toContain(p.literal!);
  });

  it('a label the sink demotes for length is no selector label', () => {
    const r = rec('disk quota exceeded', { workload: 'x'.repeat(1100) });
    const p = checkQuery(queryOf([r]), [r]);
    expect(p.selector.some((m) => m.name === 'app')).toBe(false);
  });

  it('samples without stream labels (saved by an older version) use the scope', () => {
    const s: Sample = { ts: 't', line: 'Back-off restarting failed container', pod: 'worker-1' };
    expect(evidenceQuery([s], scope, {})).toBe('{cluster="edge-1", namespace="shop", container="app"} |= "Back-off restarting failed container" | pod="worker-1"');
  });
});

describe('the literal', () => {
  it('is the longest common text at word boundaries, with the lines\' case', () => {
    expect(commonLiteral(['E1120 09:15:00 Killed process 15784 (java)', 'E1120 09:16:40 Killed process 20011 (java)'])).toBe('Killed process');
    expect(commonLiteral(['OOMKilled: container app', 'oomkilled: container app'])).toBe('container app');
  });

  it('never spans a secret or an earlier [REDACTED] mark', () => {
    const lines = ['login password=hunter2 rejected for bob', 'login password=hunter2 rejected for bob'];
    const lit = commonLiteral(lines)!;
    expect(lit).not.toContain('hunter2');
    expect(lines[0]).toContain(lit);
    expect(commonLiteral([`token=${REDACTED} refused by upstream`])).toBe('refused by upstream');
    expect(commonLiteral(['Authorization: Bearer 2YotnFZFEjr1zCsicMWpAA'])).toBe('Authorization: Bearer');
  });

  it('is not a word of a secret that the other line shows in clear text', () => {
    // "Adm1nP4ss" is a secret in the first line: no literal may contain it, even where a line shows it as text.
    expect(commonLiteral(['bind failed credentials=Adm1nP4ss', 'retry Adm1nP4ss bind failed'])).toBe('bind failed');
  });

  it('is undefined below 4 characters', () => {
    expect(commonLiteral(['abc', 'abc'])).toBeUndefined();
    expect(commonLiteral(['fatal error: runtime: out of memory', 'container terminated: OOMKilled (exit code 137)'])).toBeUndefined();
  });
});

describe('the RE2 fallback', () => {
  it('converts every default rule pattern to valid RE2 that matches at least what the JavaScript pattern matches', () => {
    const incidents = readFileSync('test/fixtures/incident-corpus/incidents.ndjson', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { line?: string; message?: string })
      .map((o) => o.line ?? o.message ?? '');
    let checked = 0;
    for (const r of defaultRules.rules) {
      if (!('match' in r) || !r.match) continue;
      for (const p of [r.match].flat() as Pattern[]) {
        const src = re2Source(p);
        expect(src, `${r.id}: ${String(p)}`).toBeDefined();
        const re2 = RE2JS.compile(`(?i)${src}`);
        const js = p instanceof RegExp ? new RegExp(p.source, p.flags) : null;
        for (const line of incidents) {
          if (js && js.test(line)) {
            expect(re2.matcher(line).find(), `${r.id} ${String(p)} on ${line}`).toBe(true);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(200);
  });

  it('drops lookarounds, rewrites named groups and \\u escapes, refuses backreferences', () => {
    expect(re2Source(/(?<!-XX:[+-]?\w{0,20})OutOfMemory/)).toBe('OutOfMemory');
    expect(re2Source(/timeout(?![=:_ ]*\d)/)).toBe('timeout');
    expect(re2Source(/(?<code>\d+) caf\u00e9/)).toBe('(?:\\d+) caf\\x{00e9}');
    expect(re2Source(/(a)\1/)).toBeUndefined();
    expect(re2Source('a.b')).toBe('a\\.b');
    expect(re2Source({ regex: 'x{2}\\Q.\\E' })).toBe('x{2}\\Q.\\E');
  });

  it('is undefined when no pattern matches every line', () => {
    expect(patternRegex([/CrashLoopBackOff/], ['CrashLoopBackOff', 'something else'])).toBeUndefined();
    expect(patternRegex(undefined, ['x'])).toBeUndefined();
  });
});
