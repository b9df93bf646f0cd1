import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatFailure, loadRuleTests, runCase, runRuleTestFile } from '../../src/commands/rule-tests.ts';
import { loadDefaultPipeline } from '../../src/detect/load.ts';

const DEFAULT_TESTS = new URL('../../pipelines/default.test.yaml', import.meta.url).pathname;

function tmpFile(name: string, text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'rsd-rule-tests-')), name);
  writeFileSync(f, text);
  return f;
}

describe('rules test: the default rule set', async () => {
  const file = await loadRuleTests(DEFAULT_TESTS);
  const results = await runRuleTestFile(file);

  it.each(results.map((r) => [r.name, r] as const))('%s', (_name, r) => {
    expect(r.ok, formatFailure(r)).toBe(true);
  });

  it('covers every default rule with a case in which that rule really signalled', async () => {
    // A stage that only keeps state for another rule (crash-loop-last-error feeds crash-loop-same-cause)
    // never signals by design: the rule it feeds must be covered instead.
    const STATE_ONLY: Record<string, string> = { 'crash-loop-last-error': 'crash-loop-same-cause' };
    const ids = (await loadDefaultPipeline()).rules.map((r) => STATE_ONLY[r.id] ?? r.id);
    const missing: string[] = [];
    for (const id of ids) {
      const cases = file.cases.filter((c) => c.covers.includes(id));
      const signalled = cases.some((c) => results.find((r) => r.name === c.name)!.trace.some((t) => t.signals.some((s) => s.rule === id)));
      if (!signalled) missing.push(id);
    }
    expect(missing, 'default rules without a case in pipelines/default.test.yaml in which they signal').toEqual([]);
  });
});

describe('rules test: failures and bad files', () => {
  it('a failing case reports what it got, what it expected, and the trace', async () => {
    const f = tmpFile(
      'bad.test.yaml',
      `tests:
  - name: wrong on purpose
    labels: { namespace: shop, pod: billing-1, workload: billing }
    input:
      - line: 'Caused by: java.net.ConnectException: Connection refused: connect'
        repeat: 2
    expect:
      - { type: dependency_refused }
    expect_none:
      - { type: panic_fatal }
`,
    );
    const [r] = await runRuleTestFile(await loadRuleTests(f));
    expect(r!.ok).toBe(false);
    const text = formatFailure(r!);
    expect(text).toContain('expected at least one × dependency_refused observed, got 0');
    expect(text).toContain('dependency-refused:below_threshold');
    expect(text).toContain('(none)');
  });

  it('expect_none fails when the finding appears, and exact counts are exact', async () => {
    const rules = (await loadDefaultPipeline()).rules;
    const t = await loadRuleTests(
      tmpFile(
        'x.test.yaml',
        `tests:
  - name: panic
    input:
      - line: 'panic: runtime error: index out of range [3] with length 3'
        repeat: 2
        every: 40m
    expect:
      - { type: panic_fatal, count: 1 }
    expect_none:
      - { type: panic_fatal }
`,
      ),
    );
    const r = await runCase(t.cases[0]!, rules);
    // Two panics 40 minutes apart are two observations (the suppression window is 30 minutes).
    expect(r.problems).toEqual(['expected 1 × panic_fatal observed, got 2', 'expected no panic_fatal observed, got 2']);
  });

  it.each([
    ['tests: []\n', 'field tests: must be a non-empty list of cases'],
    ['tests:\n  - name: a\n    input: [{ line: x }]\n', 'field tests["a"].expect: a case needs expect or expect_none'],
    ['tests:\n  - name: a\n    input: [{ line: x, evry: 1s }]\n    expect: [{ type: t }]\n', 'field tests["a"].input[0].evry: unknown field'],
    ['tests:\n  - name: a\n    input: [{ line: x }]\n    expect: [{ type: t, status: firing }]\n', 'field tests["a"].expect[0].status: must be observed or recovered'],
    ['tests:\n  - name: a\n    input: [{ line: x, labels: { team: a } }]\n    expect: [{ type: t }]\n', 'field tests["a"].input[0].labels.team: unknown label'],
    ['tests:\n  - name: a\n    input: [{ advance: 5m, line: x }]\n    expect: [{ type: t }]\n', 'field tests["a"].input[0].advance: stands alone'],
  ])('rejects %j naming the file, case and field', async (text, message) => {
    const f = tmpFile('e.test.yaml', text);
    await expect(loadRuleTests(f)).rejects.toThrow(`${f}: ${message}`);
  });
});
