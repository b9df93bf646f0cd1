/**
 * Rule cases as vitest tests: each `[name, line, type it must be, type it must not be]` becomes one rule
 * test of the same runner and format as pipelines/default.test.yaml (the default rules loaded), run
 * once, reported case by case. Used by the per-freeze rule tests (test/unit/default-rules-*-freeze.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatFailure, loadRuleTests, runRuleTestFile } from '../../src/commands/rule-tests.ts';

/** [case name, line, type it must be, type it must not be] */
export type RuleCase = [string, string, string | null, string | null];

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

function yaml(cases: readonly RuleCase[]): string {
  const tests = cases.map(([name, line, type, notType], i) => {
    const out = [`  - name: ${q(name)}`, `    labels: { namespace: ns-${i}, pod: app-${i} }`, '    input:', `      - line: ${q(line)}`];
    if (type) out.push('    expect:', `      - { type: ${type} }`);
    if (notType) out.push('    expect_none:', `      - { type: ${notType} }`);
    return out.join('\n');
  });
  return `rules:\n  defaults: true\ntests:\n${tests.join('\n')}\n`;
}

export function describeRuleCases(title: string, cases: readonly RuleCase[]): void {
  describe(title, async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'rsd-rule-cases-')), 'cases.test.yaml');
    writeFileSync(f, yaml(cases));
    const results = await runRuleTestFile(await loadRuleTests(f));

    it.each(results.map((r) => [r.name, r] as const))('%s', (_name, r) => {
      expect(r.ok, formatFailure(r)).toBe(true);
    });
  });
}
