/**
 * Every default rule's `evidence.loki.query` returns its evidence from a real store. Each case of
 * pipelines/default.test.yaml (one per default rule at least) runs through the real engine while its
 * records go through the real Loki sink into VictoriaLogs (Loki's push protocol). The store speaks
 * LogsQL, not LogQL, so each finding's query is checked by its meaning: its selector's labels are
 * the stored stream's, and its selector and filters, translated here into LogsQL, return every
 * evidence line of the finding and only lines the rule matched.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRules } from '../../src/detect/rulesets.ts';
import { loadRuleTests, runCase, type RuleTestFile } from '../../src/commands/rule-tests.ts';
import type { Rule } from '../../src/detect/types.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import type { Finding } from '../../src/model/finding.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { shouldSkip } from '../env/binaries.ts';
import { queryLogs, startVictoriaLogs, type StoredEntry, type VictoriaLogsHandle } from '../env/victorialogs.ts';

const skip = shouldSkip('evidence queries', ['victoria-logs']);
const CASES = fileURLToPath(new URL('../../pipelines/default.test.yaml', import.meta.url));

/** RE2 QuoteMeta: a literal as a regexp. */
const quoteMeta = (s: string) => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
const logsqlString = (s: string) => JSON.stringify(s);
/** RFC 3339 with up to 9 fractional digits → nanoseconds as a decimal string (the store's timestamps). */
function nsOf(ts: string): string {
  const m = /^(.{19})(?:\.(\d+))?Z$/.exec(ts);
  if (!m) throw new Error(`not an RFC 3339 UTC time: ${ts}`);
  return (BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9))).toString();
}

interface ParsedQuery {
  selector: string;
  labels: Array<{ name: string; op: '=' | '=~'; value: string }>;
  filters: string[];
}

/**
 * The LogQL this project writes — `{l="v", l=~"a|b"} [|= "lit" | |~ "re"] [| pod="x"]` — in LogsQL:
 * the stream selector as is, `|= "lit"` as a case-sensitive regexp of the quoted literal, `|~ "re"`
 * as the same RE2 regexp, `| pod="x"` as the exact field filter `pod:="x"`. Anything else fails the test.
 */
function translate(logql: string): ParsedQuery {
  const m = /^(\{[^}]*\})(.*)$/.exec(logql);
  if (!m) throw new Error(`no stream selector: ${logql}`);
  const labels = [...m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({ name: x[1]!, op: x[2] as '=' | '=~', value: JSON.parse(`"${x[3]}"`) as string }));
  let rest = m[2]!.trim();
  const filters: string[] = [];
  while (rest) {
    const f = /^(\|=|\|~|\|\s*pod=)\s*("(?:[^"\\]|\\.)*")\s*/.exec(rest);
    if (!f) throw new Error(`cannot translate "${rest}" of ${logql}`);
    const value = JSON.parse(f[2]!) as string;
    if (f[1] === '|=') filters.push(`~${logsqlString(quoteMeta(value))}`);
    else if (f[1] === '|~') filters.push(`~${logsqlString(value)}`);
    else filters.push(`pod:=${logsqlString(value)}`);
    rest = rest.slice(f[0].length);
  }
  return { selector: m[1]!, labels, filters };
}

describe.skipIf(skip)('every default rule’s evidence.loki.query returns its evidence (real store)', () => {
  let store: VictoriaLogsHandle;
  let cases: RuleTestFile;
  let rules: Rule[];
  const checked: string[] = [];

  beforeAll(async () => {
    store = await startVictoriaLogs();
    cases = await loadRuleTests(CASES);
    rules = await loadRules({ defaults: true, pipelines: [], rules: [] });
  });
  afterAll(async () => {
    process.stderr.write(`[evidence queries] ${checked.length} findings checked: ${checked.join(', ')}\n`);
    await store?.stop();
  });

  it('for each case: the selector names the stored stream, and the translated query returns every evidence line and only matched lines', async () => {
    const coveredRules = new Set<string>();
    for (const [i, c] of cases.cases.entries()) {
      const cluster = `evq-${i}`;
      const records: LogRecord[] = [];
      const sink = new LokiSink({ url: store.lokiUrl, batchWaitMs: 50 });
      const result = await runCase(c, rules, cluster, (batch) => {
        records.push(...batch);
        sink.write(batch);
      });
      await sink.close(10_000);
      const observed = result.findings.filter((f: Finding) => f.status === 'observed' && f.evidence.lines.length > 0);
      for (const f of observed) {
        const q = translate(f.evidence.loki.query);
        const stored: StoredEntry[] = await queryLogs(store.url, `${q.selector} ${q.filters.join(' ')}`.trim(), { start: f.evidence.loki.start, end: f.evidence.loki.end, limit: 10_000 });
        const where = `${c.name}: ${f.incident_type} (${f.rule.id}) ${f.evidence.loki.query}`;
        expect(stored.length, `${where}: returns nothing`).toBeGreaterThan(0);
        // The selector's labels are exactly the stream's (no label the store does not index).
        for (const e of stored) {
          for (const l of q.labels) {
            const v = e.labels[l.name] ?? '';
            if (l.op === '=') expect(v, `${where}: label ${l.name}`).toBe(l.value);
            else expect(new RegExp(`^(?:${l.value})$`).test(v), `${where}: label ${l.name}=~${l.value}`).toBe(true);
          }
        }
        // Every evidence line is returned (evidence is redacted: compared by its timestamp and pod).
        const returned = new Set(stored.map((e) => `${e.ts}/${e.structuredMetadata.pod ?? ''}`));
        for (const ev of f.evidence.lines) {
          const hit = returned.has(`${nsOf(ev.ts)}/${ev.pod ?? ''}`);
          expect(hit, `${where}: evidence line at ${ev.ts} (${ev.pod ?? '-'}) not returned; got ${stored.map((e) => e.line.slice(0, 80)).join(' | ')}`).toBe(true);
        }
        // Only lines of this case that a rule matched (a correlation's are its inputs'); volume rules
        // (spike, new pattern) count lines by level and template, not by pattern: theirs are the lines
        // of the evidence's template. A custom stage picks its evidence in its own code (no pattern
        // verdict reaches the trace), as does the second stage (`classify`): its query must return only
        // lines with an evidence line's text.
        const kind = rules.find((r) => r.id === f.rule.id)?.kind;
        const matchedLines = new Set(result.trace.filter((t) => t.verdicts.length > 0).map((t) => t.line));
        const evidenceTemplates = new Set(f.evidence.lines.map((l) => l.line));
        for (const e of stored) {
          const ok = kind === 'custom' || kind === 'classify' ? evidenceTemplates.has(e.line) : kind === 'spike' || kind === 'new_pattern' ? evidenceTemplates.has(e.line) || matchedLines.has(e.line) : matchedLines.has(e.line);
          expect(ok, `${where}: returned a line that is not evidence: ${e.line.slice(0, 120)}`).toBe(true);
        }
        coveredRules.add(f.rule.id);
        checked.push(f.rule.id);
      }
    }
    // Every emitting default rule with evidence had its query checked.
    const emitting = rules.filter((r) => (r as { emit?: boolean }).emit !== false && r.kind !== 'correlate' && r.kind !== 'absent' && r.kind !== 'classify').map((r) => r.id);
    expect(emitting.filter((id) => !coveredRules.has(id))).toEqual([]);
  }, 300_000);
});
