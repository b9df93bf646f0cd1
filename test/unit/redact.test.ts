import { describe, expect, it } from 'vitest';
import { redact, truncateUtf8 } from '../../src/parse/redact.ts';
import { evidenceLines } from '../../src/findings/evidence.ts';
import { observedSummary } from '../../src/findings/summary.ts';
import { compileRule } from '../../src/detect/compile.ts';

describe('redaction of evidence', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['bearer token', 'GET /api Authorization: Bearer abcdef0123456789abcdef', /Bearer \[REDACTED\]/],
    ['JWT', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U accepted', /^token \[REDACTED\] accepted$/],
    ['password in URL', 'connecting to postgres://app:s3cr3t!@db:5432/shop', /postgres:\/\/app:\[REDACTED\]@db:5432\/shop/],
    ['key=value password', 'login user=bob password=hunter2 ok', /password=\[REDACTED\] ok/],
    ['logfmt quoted secret', 'client_secret="abc def" next=1', /client_secret="\[REDACTED\]" next=1/],
    ['JSON secret', '{"user":"bob","api_key":"AKIAfoo-bar","n":1}', /"api_key":"\[REDACTED\]"/],
    ['AWS access key', 'using key AKIAIOSFODNN7EXAMPLE for s3', /using key \[REDACTED\] for s3/],
    ['private key block', 'key: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- loaded', /-----BEGIN RSA PRIVATE KEY-----\[REDACTED\]-----END RSA PRIVATE KEY----- loaded/],
    ['cut-off private key', 'dump -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC', /-----BEGIN PRIVATE KEY-----\[REDACTED\]/],
    ['GitHub token', 'push with ghp_0123456789abcdefghijklmnopqrstuvwxyzAB', /push with \[REDACTED\]/],
  ];
  for (const [name, input, expected] of cases) {
    it(`redacts ${name}`, () => {
      const out = redact(input);
      expect(out).toMatch(expected);
    });
  }

  it('leaves ordinary lines alone', () => {
    const line = 'GET /healthz 200 1ms timeout=30s user=bob';
    expect(redact(line)).toBe(line);
  });

  it('evidence lines are redacted, then capped at 512 bytes without splitting a character', () => {
    const long = `password=hunter2 ${'é'.repeat(600)}`;
    const [e] = evidenceLines([{ ts: 't', line: long }]);
    expect(e!.line).not.toContain('hunter2');
    expect(Buffer.byteLength(e!.line)).toBeLessThanOrEqual(512);
    expect(e!.line.endsWith('…')).toBe(true);
    expect(evidenceLines(Array.from({ length: 9 }, (_, i) => ({ ts: 't', line: `l${i}` })))).toHaveLength(5);
  });

  it('truncateUtf8 keeps short strings as they are', () => {
    expect(truncateUtf8('abc', 512)).toBe('abc');
  });

  it('a cut never leaves half a [REDACTED] behind', () => {
    const line = `${'a'.repeat(497)} password=hunter2 rest`;
    // The cut falls at byte 509, two characters into the mark.
    expect(truncateUtf8(redact(line), 512)).toBe(`${'a'.repeat(497)} password=…`);
  });

  it('keeps ordinary words that are key names', () => {
    for (const line of ['auth: ldap bind failed', 'token bucket empty', 'password policy: 12 characters', 'tokenizer loaded', 'keyboard ready', 'authentication failed for user bob']) {
      expect(redact(line)).toBe(line);
    }
  });
});

describe('summaries stay well-formed', () => {
  const rule = compileRule({ kind: 'signature', id: 'r', incident_type: 'login_failure', domain: 'identity', severity: 'error', title: 'login failures', match: [/login failed/] });
  const scope = { cluster: 'c', namespace: 'shop', workload: 'api' };

  it('the closing backtick survives redaction of the template\'s secret', () => {
    const s = redact(observedSummary(rule, scope, 2, 0, 60_000, 'login failed password=hunter2'));
    expect(s).toBe('2× `login failed password=[REDACTED]` (login failures) within 1m in shop/api.');
  });

  it('a template with backticks gets a longer fence', () => {
    const s = observedSummary(rule, scope, 1, 0, 0, 'called `Option::unwrap()` on a `None` value');
    expect(s).toBe('1× `` called `Option::unwrap()` on a `None` value `` (login failures) in shop/api.');
  });

  it('a long template is not cut inside a [REDACTED] mark', () => {
    const template = `${'x'.repeat(110)} token=[REDACTED] and more text after it`;
    const s = observedSummary(rule, scope, 1, 0, 0, template);
    expect(s).toContain(`${'x'.repeat(110)} token=...\``);
  });
});

