import { describe, expect, it } from 'vitest';
import { parseOperatorRules, loadOperatorRules } from '../../src/detect/operator-rules.ts';
import { DetectionEngine } from '../../src/detect/engine.ts';
import { main } from '../../src/cli.ts';
import { expectValid, rec, event } from '../helpers/records.ts';

const parse = (yaml: string) => parseOperatorRules(yaml, 'rules.yaml');

describe('operator rules (data only)', () => {
  it('loads the example file and detects with it', async () => {
    const set = await loadOperatorRules('examples/operator-rules.yaml');
    expect(set.rules.map((r) => r.id)).toEqual(['payments-ldap-timeouts', 'payments-ldap-timeouts-correlated', 'quota-exceeded-events']);
    const e = new DetectionEngine({ rules: set.rules });
    const out = expectValid(e.process([
      ...[0, 1, 2, 3, 4].map((i) => rec(i * 1000, 'ldap search timed out', { namespace: 'payments' })),
      event(9000, 'FailedCreate', 'pods "x" is forbidden: exceeded quota: compute'),
    ]));
    expect(out.map((f) => f.incident_type)).toEqual(['ldap_unreachable', 'quota_exceeded']);
    expect(out[0]!.labels).toEqual({ team: 'identity', runbook: 'https://runbooks.example.com/ldap' });
  });

  it.each([
    ['rules: [{ name: a, match: { regex: [x] }, severity: loud, incident_type: t }]', /rules.yaml: rule "a": field severity: must be one of info, warning, error, critical/],
    ['rules: [{ name: a, match: { regex: ["(a)\\\\1"] }, severity: error, incident_type: t }]', /rule "a": field match.regex\[0\]: not a valid RE2 regex/],
    ['rules: [{ name: a, match: { regex: ["(?=x)y"] }, severity: error, incident_type: t }]', /field match.regex\[0\]: not a valid RE2 regex/],
    ['rules: [{ name: a, match: {}, severity: error, incident_type: t }]', /field match: needs at least one regex or contains pattern/],
    ['rules: [{ name: a, mtach: { contains: x }, severity: error, incident_type: t }]', /field mtach: unknown field/],
    ['rules: [{ name: a, match: { contains: x }, severity: error, incident_type: t, threshold: { count: 0 } }]', /field threshold.count: must be an integer ≥ 1/],
    ['rules: [{ name: a, match: { contains: x }, severity: error, incident_type: t, threshold: { count: 2, window: soon } }]', /field threshold.window: invalid duration "soon"/],
    ['rules: [{ name: a, match: { contains: x }, severity: error, incident_type: Bad-Type }]', /field incident_type: must be snake_case/],
    ['rules:\n  - name: a\n    match: [oops', /rules.yaml: not valid YAML/],
  ])('rejects %s', (yaml, err) => {
    expect(() => parse(yaml)).toThrow(err);
  });

  it('matches catastrophic-backtracking patterns in linear time (RE2)', () => {
    const set = parse('rules: [{ name: evil, match: { regex: ["(a+)+$"] }, severity: error, incident_type: evil }]');
    const e = new DetectionEngine({ rules: set.rules });
    // With a backtracking engine this line takes longer than the age of the universe.
    const hostile = `${'a'.repeat(50_000)}!`;
    expect(e.process([rec(0, hostile)])).toEqual([]);
    expect(e.process([rec(1000, 'aaaa')]).map((f) => f.incident_type)).toEqual(['evil']);
  });

  /** `rules lint` on files written to a temporary directory (name → content) plus repository files. */
  async function lint(files: Record<string, string>, repoFiles: string[] = []): Promise<{ code: number; out: string; paths: Record<string, string> }> {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'rsd-lint-'));
    const paths: Record<string, string> = {};
    for (const [name, content] of Object.entries(files)) {
      paths[name] = join(dir, name);
      await writeFile(paths[name], content);
    }
    const chunks: string[] = [];
    const orig = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((c: string) => (chunks.push(String(c)), true)) as typeof process.stdout.write;
    try {
      const code = await main(['rules', 'lint', ...repoFiles, ...Object.values(paths)]);
      return { code, out: chunks.join(''), paths };
    } finally {
      process.stdout.write = orig;
    }
  }

  it('rules lint reports file, rule and field, and exits 1', async () => {
    const { code, out, paths } = await lint({ 'bad.yaml': 'rules: [{ name: a, match: { contains: x }, severity: error, incident_type: t, domain: web }]' }, ['examples/operator-rules.yaml', 'pipelines/default.ts']);
    expect(code).toBe(1);
    const bad = paths['bad.yaml']!;
    expect(out).toContain('ok   examples/operator-rules.yaml: 3 rules');
    expect(out).toContain(`FAIL ${bad}: rule "a": field domain: must be one of`);
    expect(out).toMatch(/ok {3}pipelines\/default.ts: \d+ rules/);
    // Every shipped rule is narrowed by the literal prefilter: no notes for them.
    expect(out).not.toContain('note ');
  });

  it('rules lint notes a rule whose patterns must run on every line (no required literal), without failing', async () => {
    const { code, out } = await lint({
      'slow.yaml': 'rules:\n  - { name: anchored, match: { regex: ["ldap.*(timed? ?out|timeout)"] }, severity: error, incident_type: t, domain: identity }\n  - { name: everywhere, match: { regex: ["\\\\d+ ms|[a-z]{2}"] }, severity: error, incident_type: u, domain: identity }\n',
    });
    expect(code).toBe(0);
    const notes = out.split('\n').filter((l) => l.startsWith('note '));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('rule "everywhere": no literal of 3+ characters');
  });
});
