import { describe, expect, it } from 'vitest';
import { detectLevel, isProblemLine } from '../../src/parse/level.ts';
import { parseStructured } from '../../src/parse/structured.ts';
import { parseDuration, parseRfc3339, rfc3339ToNanosString } from '../../src/parse/timestamp.ts';
import { rec } from '../helpers/records.ts';

describe('timestamps', () => {
  it('keeps nanoseconds exactly and handles offsets', () => {
    expect(rfc3339ToNanosString('2026-01-02T03:04:05.123456789Z')).toBe('1767323045123456789');
    expect(parseRfc3339('2026-01-02T05:04:05.5+02:00')!.ms).toBe(Date.parse('2026-01-02T03:04:05.500Z'));
    expect(parseRfc3339('yesterday')).toBeNull();
  });
  it('parses durations and rejects junk', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('10 minutes')).toThrow(/invalid duration/);
  });
});

describe('levels across formats', () => {
  it.each([
    ['{"level":"error","msg":"x"}', 'error'],
    ['{"level":50,"msg":"pino"}', 'error'],
    ['level=warn msg="slow"', 'warn'],
    ['E0102 15:04:05.123456       1 controller.go:12] failed', 'error'],
    ['F0102 15:04:05.123456       1 main.go:1] fatal', 'fatal'],
    ['2026-01-01 10:00:00 ERROR [main] boom', 'error'],
    ['[warn] disk almost full', 'warn'],
    ['just a line', 'unknown'],
  ])('%s → %s', (line, level) => {
    expect(rec(0, line).level).toBe(level);
  });
  it('uses error vocabulary when there is no level', () => {
    expect(isProblemLine('unknown', 'could not connect: connection refused')).toBe(true);
    expect(isProblemLine('unknown', 'user logged in')).toBe(false);
    expect(detectLevel('INFO all good')).toBe('info');
  });
});

describe('malformed input is counted and passed through', () => {
  it('broken JSON', () => {
    const r = rec(0, '{"level":"error","msg":"unterminated');
    expect(r.malformed).toBe('broken_json');
    expect(r.line).toBe('{"level":"error","msg":"unterminated');
  });
  it('invalid UTF-8 (decoded as replacement characters)', () => {
    const line = Buffer.from([0x66, 0x6f, 0xff, 0xfe, 0x6f]).toString('utf8');
    const r = rec(0, line);
    expect(r.malformed).toBe('invalid_utf8');
    expect(r.line).toBe(line);
  });
  it('a 1 MiB line is parsed on its head only and kept whole', () => {
    const line = `ERROR ${'x'.repeat(1024 * 1024)}`;
    const r = rec(0, line);
    expect(r.malformed).toBe('oversized');
    expect(r.level).toBe('error');
    expect(r.line.length).toBe(line.length);
  });
  it('logfmt and JSON messages join the error field', () => {
    expect(parseStructured('level=error msg="publish failed" err="nats: timeout"')).toMatchObject({ message: 'publish failed: nats: timeout' });
    expect(parseStructured('{"msg":"x","error":{"message":"boom"}}')).toMatchObject({ message: 'x: boom' });
  });
});
