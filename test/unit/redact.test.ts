import { describe, expect, it } from 'vitest';
import { redact, truncateUtf8 } from '../../src/parse/redact.ts';
import { evidenceLines } from '../../src/findings/evidence.ts';

describe('redaction of evidence', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['bearer token', 'GET /api Authorization: Bearer abcdef0123456789abcdef', /Bearer \[REDACTED\]/],
    ['JWT', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U accepted', /^token \[REDACTED\] accepted$/],
    ['password in URL', 'connecting to postgres://app:s3cr3t!@db:5432/shop', /postgres:\/\/app:\[REDACTED\]@db:5432\/shop/],
    ['key=value password', 'login user=bob password=hunter2 ok', /password=\[REDACTED\] ok/],
    ['logfmt quoted secret', 'client_secret="abc def" next=1', /client_secret=\[REDACTED\] next=1/],
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
});
