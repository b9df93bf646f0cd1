import { describe, expect, it } from 'vitest';
import { parseOperatorRules, loadOperatorRules } from '../../src/detect/operator-rules.ts';
import { main } from '../../src/cli.ts';
import { expectValid, rec, event } from '../helpers/records.ts';
import type { Target } from '../../src/model/log-record.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const parse = (yaml: string) => parseOperatorRules(yaml, 'rules.yaml');

/** `rules lint` on files written to a temporary directory (name → content) plus repository files. */
async function lintFiles(files: Record<string, string>, repoFiles: string[] = []): Promise<{ code: number; out: string; paths: Record<string, string> }> {
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

describe('operator rules (data only)', () => {
  it('loads the example file and detects with it', async () => {
    const set = await loadOperatorRules('examples/operator-rules.yaml');
    expect(set.rules.map((r) => r.id)).toEqual(['payments-ldap-timeouts', 'payments-ldap-timeouts-correlated', 'quota-exceeded-events', 'ldap-timeout-spike']);
    const e = detectionEngine({ rules: set.rules });
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
    ['rules:\n  - name: a\n    match: [oops', /rules.yaml: rule "a": field match: not valid YAML: Flow sequence/],
    ['rules: [{ name: a, match: x }]\nrules: []', /rules.yaml: field rules: given twice: keep one/],
  ])('rejects %s', (yaml, err) => {
    expect(() => parse(yaml)).toThrow(err);
  });

  it('matches catastrophic-backtracking patterns in linear time (RE2)', () => {
    const set = parse('rules: [{ name: evil, match: { regex: ["(a+)+$"] }, severity: error, incident_type: evil }]');
    const e = detectionEngine({ rules: set.rules });
    // With a backtracking engine this line takes longer than the age of the universe.
    const hostile = `${'a'.repeat(50_000)}!`;
    expect(e.process([rec(0, hostile)])).toEqual([]);
    expect(e.process([rec(1000, 'aaaa')]).map((f) => f.incident_type)).toEqual(['evil']);
  });

  it('rules lint reports file, rule and field, and exits 1', async () => {
    const { code, out, paths } = await lintFiles({ 'bad.yaml': 'rules: [{ name: a, match: { contains: x }, severity: error, incident_type: t, domain: web }]' }, ['examples/operator-rules.yaml', 'pipelines/default.ts']);
    expect(code).toBe(1);
    const bad = paths['bad.yaml']!;
    expect(out).toContain('ok   examples/operator-rules.yaml: 4 rules');
    expect(out).toContain(`FAIL ${bad}: rule "a": field domain: must be one of`);
    expect(out).toMatch(/ok {3}pipelines\/default.ts: \d+ rules/);
    // Every shipped rule is narrowed by the literal prefilter: no notes for them.
    expect(out).not.toContain('note ');
  });

  it('rules lint notes a rule whose patterns must run on every line (no required literal), without failing', async () => {
    const { code, out } = await lintFiles({
      'slow.yaml': 'rules:\n  - { name: anchored, match: { regex: ["ldap.*(timed? ?out|timeout)"] }, severity: error, incident_type: t, domain: identity }\n  - { name: everywhere, match: { regex: ["\\\\d+ ms|[a-z]{2}"] }, severity: error, incident_type: u, domain: identity }\n',
    });
    expect(code).toBe(0);
    const notes = out.split('\n').filter((l) => l.startsWith('note '));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('rule "everywhere": no literal of 3+ characters');
  });
});

/** The design's example rule (the seed's "Operator-Defined Log Rules"), as the design writes it. */
const SEED_VERBATIM = `rules:
  - name: LDAP timeout spike
    source: logs
    selector: namespace=image-factory, component=backend
    match: LDAP Result Code 200 OR failed to connect to LDAP
    threshold: ">= 5 in 10m"
    severity: warning
    emit incident type: identity_provider_unreachable
`;
/** The same rule with a selector mapping, a quoted match and the usual field names. */
const SEED_MAPPING = `rules:
  - name: ldap-timeout-spike
    source: logs
    selector: { namespace: image-factory, component: backend }
    match: "LDAP Result Code 200 OR failed to connect to LDAP"
    threshold: ">= 5 in 10m"
    severity: warning
    incident_type: identity_provider_unreachable
`;

const BACKEND = { namespace: 'image-factory', component: 'backend', workload: 'backend', pod: 'backend-7d9f8-x2k4p', container: 'backend' };
const LINES = [
  'LDAP Result Code 200 "Network Error": dial tcp 10.43.12.7:636: i/o timeout',
  'level=error msg="failed to connect to LDAP" err="dial tcp 10.43.12.7:636: connect: connection refused"',
  'auth: Failed To Connect To LDAP server ldap.image-factory.svc',
  'ldap result code 200 "Network Error": EOF',
  'LDAP Result Code 200 "Network Error": dial tcp 10.43.12.7:636: i/o timeout',
];
const MIN = 60_000;
const lines = (n: number, everyMs: number, target: Partial<Target> = BACKEND) => Array.from({ length: n }, (_, i) => rec(i * everyMs, LINES[i % LINES.length]!, target));

describe('operator rules in the design shape (string match, threshold and selector)', () => {
  it.each([
    ['verbatim', SEED_VERBATIM],
    ['selector mapping', SEED_MAPPING],
  ])('the design example (%s) compiles to a rate rule of literal, prefiltered patterns', (_form, yaml) => {
    const { rules } = parse(yaml);
    expect(rules).toEqual([
      {
        kind: 'rate',
        id: 'ldap-timeout-spike',
        incident_type: 'identity_provider_unreachable',
        domain: 'application',
        severity: 'warning',
        selector: { source: 'logs', namespace: ['image-factory'], component: ['backend'] },
        match: [
          { contains: 'LDAP Result Code 200', caseSensitive: false },
          { contains: 'failed to connect to LDAP', caseSensitive: false },
        ],
        threshold: 5,
        window: '10m',
      },
    ]);
    const e = detectionEngine({ rules });
    expect(e.unprefilteredRules()).toEqual([]);
  });

  it.each([
    ['verbatim', SEED_VERBATIM],
    ['selector mapping', SEED_MAPPING],
  ])('the design example (%s): 5 matching lines in 10m of image-factory/backend are one finding', (_form, yaml) => {
    const e = detectionEngine({ rules: parse(yaml).rules });
    const out = expectValid(e.process(lines(5, 2 * MIN)));
    expect(out).toHaveLength(1);
    const f = out[0]!;
    expect(f).toMatchObject({
      incident_type: 'identity_provider_unreachable',
      severity: 'warning',
      status: 'observed',
      domain: 'application',
      count: 5,
      rule: { id: 'ldap-timeout-spike' },
      resource_scope: { cluster: 'c1', namespace: 'image-factory', workload: 'backend', pod: 'backend-7d9f8-x2k4p', container: 'backend' },
    });
    expect(f.evidence.details).toMatchObject({ window_count: 5, threshold: 5, window_s: 600 });
  });

  it.each([
    ['4 lines in 10m', lines(4, 2 * MIN)],
    ['5 lines over 12m (never 5 inside one 10m window)', lines(5, 3 * MIN)],
    ['another namespace', lines(5, MIN, { ...BACKEND, namespace: 'payments' })],
    ['another component', lines(5, MIN, { ...BACKEND, component: 'frontend' })],
    ['no component label', lines(5, MIN, { ...BACKEND, component: undefined })],
    ['other LDAP errors', Array.from({ length: 6 }, (_, i) => rec(i * MIN, 'LDAP Result Code 49 "Invalid Credentials"', BACKEND))],
  ])('the design example: no finding for %s', (_what, records) => {
    const e = detectionEngine({ rules: parse(SEED_VERBATIM).rules });
    expect(e.process(records)).toEqual([]);
  });

  it.each([
    ['A OR B', ['A', 'B']],
    ['  spaced   words  OR  b ', ['spaced   words', 'b']],
    ['failed or timed out', ['failed or timed out']],
    ['"404 NOT FOUND" OR \'a OR b\'', ['404 NOT FOUND', 'a OR b']],
    ['"say \\"hi\\"" OR x', ['say "hi"', 'x']],
    ["can't contact LDAP server OR ORACLE down", ["can't contact LDAP server", 'ORACLE down']],
    ['NOT_FOUND OR ANDROID', ['NOT_FOUND', 'ANDROID']],
  ])('match %j is the literals %j', (match, literals) => {
    const { rules } = parse(`rules: [{ name: a, match: ${JSON.stringify(match)}, severity: error, incident_type: t }]`);
    expect((rules[0] as { match: Array<{ contains: string }> }).match.map((p) => p.contains)).toEqual(literals);
  });

  it('string match is case-insensitive, like match.contains; exclude takes the same form', () => {
    const { rules } = parse('rules: [{ name: a, match: "Connection Reset OR broken pipe", exclude: "healthz OR readyz", severity: error, incident_type: t }]');
    const e = detectionEngine({ rules });
    const out = e.process([rec(0, 'GET /healthz: connection reset by peer'), rec(1000, 'write: BROKEN PIPE'), rec(2000, 'read: connection reset by peer')]);
    expect(out.map((f) => f.evidence.lines[0]!.line)).toEqual(['write: BROKEN PIPE']);
  });

  it.each([
    ['>= 5 in 10m', 5, '10m'],
    ['>=5 in 10m', 5, '10m'],
    ['> 4 in 10m', 5, '10m'],
    ['5 in 1h30m', 5, '1h30m'],
    ['≥ 3 IN 30s', 3, '30s'],
    ['> 0 in 5m', 1, '5m'],
  ])('threshold %j is count %d in %s', (threshold, count, window) => {
    const { rules } = parse(`rules: [{ name: a, match: x y z, threshold: ${JSON.stringify(threshold)}, severity: error, incident_type: t }]`);
    expect(rules[0]).toMatchObject({ kind: count > 1 ? 'rate' : 'signature', threshold: count, window });
  });

  it('selectors take values, value lists and the label=value string; events keep reason/type/kind', () => {
    const sel = (s: string) => parse(`rules: [{ name: a, source: any, selector: ${s}, match: xyz, severity: error, incident_type: t }]`).rules[0]!.selector;
    expect(sel('{ namespace: [a, b], component: backend, service_name: api, cluster: prod-1 }')).toEqual({ source: 'any', namespace: ['a', 'b'], component: ['backend'], service: ['api'], cluster: ['prod-1'] });
    expect(sel('"app=shop, container=web,node=n1"')).toEqual({ source: 'any', app: ['shop'], container: ['web'], node: ['n1'] });
    expect(sel('{ reason: [BackOff], type: Warning, kind: Pod, level: [error, fatal] }')).toEqual({ source: 'any', reason: ['BackOff'], eventType: 'Warning', objectKind: ['Pod'], level: ['error', 'fatal'] });
  });
});

describe('rules lint on malformed operator rules: file, rule id, field and reason', () => {
  const rule = (extra: string, base = 'match: xyz, severity: error, incident_type: t') => `rules:\n  - { name: r1, ${base}${extra ? `, ${extra}` : ''} }\n`;
  const cases: Array<[string, string, string, string, string]> = [
    // [what, file content, rule, field, reason (substring)]
    ['threshold <=', rule('threshold: "<= 5 in 10m"'), 'r1', 'threshold', '"<=" is not supported'],
    ['threshold <', rule('threshold: "< 5 in 10m"'), 'r1', 'threshold', '"<" is not supported'],
    ['threshold =', rule('threshold: "= 5 in 10m"'), 'r1', 'threshold', '"=" is not supported'],
    ['threshold without window', rule('threshold: ">= 5"'), 'r1', 'threshold', 'has no window'],
    ['threshold count not a number', rule('threshold: ">= five in 10m"'), 'r1', 'threshold', 'must be a whole number'],
    ['threshold count fraction', rule('threshold: "2.5 in 10m"'), 'r1', 'threshold', 'must be a whole number'],
    ['threshold count 0', rule('threshold: ">= 0 in 10m"'), 'r1', 'threshold', 'at least 1'],
    ['threshold bad window', rule('threshold: ">= 5 in soon"'), 'r1', 'threshold', 'invalid duration "soon"'],
    ['threshold zero window', rule('threshold: ">= 5 in 0m"'), 'r1', 'threshold', 'positive duration'],
    ['threshold per', rule('threshold: ">= 5 per 10m"'), 'r1', 'threshold', 'expected "in" before the window'],
    ['threshold number', rule('threshold: 5'), 'r1', 'threshold', 'must be a string ">= N in DURATION"'],
    ['threshold unquoted >=', 'rules:\n  - name: r1\n    match: xyz\n    threshold: >= 5 in 10m\n    severity: error\n    incident_type: t\n', 'r1', 'threshold', 'must be quoted in YAML'],
    ['threshold mapping typo', rule('threshold: { count: 5, windw: 10m }'), 'r1', 'threshold.windw', 'unknown field'],
    ['empty last OR branch', rule('', 'match: "LDAP Result Code 200 OR", severity: error, incident_type: t'), 'r1', 'match', 'branch 2 of "LDAP Result Code 200 OR" is empty'],
    ['empty first OR branch', rule('', 'match: "OR failed to connect", severity: error, incident_type: t'), 'r1', 'match', 'branch 1 of "OR failed to connect" is empty'],
    ['OR OR', rule('', 'match: "a OR OR b", severity: error, incident_type: t'), 'r1', 'match', 'branch 2 of "a OR OR b" is empty'],
    ['empty match', rule('', 'match: "", severity: error, incident_type: t'), 'r1', 'match', 'is empty (nothing to match)'],
    ['empty quoted phrase', rule('', 'match: \'"" OR x\', severity: error, incident_type: t'), 'r1', 'match', 'branch 1'],
    ['unterminated quote', rule('', 'match: \'"failed to connect OR x\', severity: error, incident_type: t'), 'r1', 'match', 'unterminated quote'],
    ['text after a quoted phrase', rule('', 'match: \'"failed" to connect\', severity: error, incident_type: t'), 'r1', 'match', 'expected OR after the quoted phrase "failed"'],
    ['AND', rule('', 'match: "ldap AND timeout", severity: error, incident_type: t'), 'r1', 'match', 'AND is not supported'],
    ['NOT', rule('', 'match: "ldap OR timeout NOT healthz", severity: error, incident_type: t'), 'r1', 'match', 'NOT is not supported'],
    ['match list', rule('', 'match: [a, b], severity: error, incident_type: t'), 'r1', 'match', 'must be a string ("A OR B") or a mapping'],
    ['bad exclude', rule('exclude: "healthz OR"'), 'r1', 'exclude', 'branch 2 of "healthz OR" is empty'],
    ['unknown selector label', rule('selector: { namespace: image-factory, environment: prod }'), 'r1', 'selector.environment', 'no record carries a label "environment", so this selector would never match'],
    ['unknown label in selector string', rule('selector: "namespace=a, env=prod"'), 'r1', 'selector.env', 'allowed: cluster, namespace, app, component, service_name, service, container, workload, pod, node, reason, type, kind, level'],
    ['selector source', rule('selector: { source: pod }'), 'r1', 'selector.source', "rule's top-level source"],
    ['selector negation', rule('selector: { namespace: "!kube-system" }'), 'r1', 'selector.namespace', 'negation is not supported'],
    ['selector !=', rule('selector: "namespace!=kube-system"'), 'r1', 'selector', 'only label=value (exact)'],
    ['selector label twice', rule('selector: "namespace=a, namespace=b"'), 'r1', 'selector.namespace', 'given twice'],
    ['selector empty item', rule('selector: "namespace=a,"'), 'r1', 'selector', 'item 2 is empty'],
    ['selector empty value', rule('selector: { component: "" }'), 'r1', 'selector.component', 'must not be empty'],
    ['selector list', rule('selector: [namespace=a]'), 'r1', 'selector', 'must be a mapping'],
    ['selector service and service_name', rule('selector: { service: a, service_name: b }'), 'r1', 'selector.service_name', 'same label as selector.service'],
    ['selector level', rule('selector: { level: warning }'), 'r1', 'selector.level', '"warning" is not a level'],
    ['selector type', rule('selector: { type: [Normal, Warning] }'), 'r1', 'selector.type', 'must be Normal or Warning'],
    ['both match forms', 'rules:\n  - name: r1\n    match: "LDAP Result Code 200 OR failed to connect to LDAP"\n    match: { contains: [ldap] }\n    severity: error\n    incident_type: t\n', 'r1', 'match', 'given twice in this rule (a string form and a structured form?)'],
    ['both threshold forms', 'rules:\n  - name: r1\n    match: xyz\n    threshold: ">= 5 in 10m"\n    threshold: { count: 5, window: 10m }\n    severity: error\n    incident_type: t\n', 'r1', 'threshold', 'given twice'],
    ['incident_type and emit incident type', rule('"emit incident type": u'), 'r1', 'emit incident type', 'the same as incident_type: give one'],
    ['top-level exclude with structured match', rule('exclude: x', 'match: { contains: [xyz] }, severity: error, incident_type: t'), 'r1', 'exclude', 'goes under match (match.exclude)'],
    ['name without an id', rule('', 'match: xyz, severity: error, incident_type: t').replace('name: r1', 'name: "!!!"'), '!!!', 'name', 'gives no rule id'],
    ['two names, one id', 'rules:\n  - { name: LDAP spike, match: xyz, severity: error, incident_type: t }\n  - { name: ldap-spike, match: xyz, severity: error, incident_type: t }\n', 'ldap-spike', 'name', 'rule id "ldap-spike" is already taken by rule "LDAP spike"'],
    ['seed-style rule, bad severity', SEED_VERBATIM.replace('severity: warning', 'severity: warn'), 'LDAP timeout spike', 'severity', 'must be one of info, warning, error, critical'],
    ['seed-style rule, bad incident type', SEED_VERBATIM.replace('identity_provider_unreachable', 'Identity-Provider'), 'LDAP timeout spike', 'emit incident type', 'must be snake_case'],
  ];
  it.each(cases)('%s', async (_what, content, ruleId, field, reason) => {
    const { code, out, paths } = await lintFiles({ 'rules.yaml': content });
    expect(code).toBe(1);
    expect(out).toContain(`FAIL ${paths['rules.yaml']}: rule "${ruleId}": field ${field}: `);
    const line = out.split('\n').find((l) => l.startsWith('FAIL '))!;
    expect(line).toContain(reason);
  });

  it('the design example lints clean, before and after the shipped examples', async () => {
    const { code, out, paths } = await lintFiles({ 'seed.yaml': SEED_VERBATIM, 'mapping.yaml': SEED_MAPPING }, ['examples/operator-rules.yaml']);
    expect(out).toBe(`ok   examples/operator-rules.yaml: 4 rules\nok   ${paths['seed.yaml']}: 1 rule\nok   ${paths['mapping.yaml']}: 1 rule\n`);
    expect(code).toBe(0);
  });
});
