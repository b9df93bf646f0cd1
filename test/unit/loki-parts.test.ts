import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/model/log-record.ts';
import { backoffMs, classify, parseRetryAfter } from '../../src/sinks/loki/classify.ts';
import { toEntry, truncateLine, TRUNCATION_MARKER } from '../../src/sinks/loki/entry.ts';
import { LabelBuilder } from '../../src/sinks/loki/labels.ts';
import { metrics } from '../../src/metrics.ts';
import { resolveLokiOptions } from '../../src/sinks/loki/options.ts';
import { parseRfc3339Nano, recordTime, toNanoString } from '../../src/sinks/loki/timestamp.ts';
import { TokenBucket } from '../../src/sinks/loki/token-bucket.ts';

function rec(over: Partial<LogRecord> = {}): LogRecord {
  return {
    ts: '2026-11-22T01:02:03.123456789Z',
    tsMs: Date.UTC(2026, 10, 22, 1, 2, 3, 123),
    line: 'hello',
    stream: 'stdout',
    kind: 'pod',
    level: 'info',
    target: { cluster: 'c1', namespace: 'shop', pod: 'cart-abc', container: 'app', node: 'n1', app: 'cart', workload: 'cart' },
    ...over,
  };
}

describe('timestamps', () => {
  it('keeps every nanosecond of RFC3339Nano, any fraction width, Z or offset', () => {
    const base = Date.UTC(2026, 10, 22, 1, 2, 3) / 1000;
    expect(parseRfc3339Nano('2026-11-22T01:02:03.123456789Z')).toEqual({ sec: base, nanos: 123456789 });
    expect(parseRfc3339Nano('2026-11-22T01:02:03.1234Z')).toEqual({ sec: base, nanos: 123400000 });
    expect(parseRfc3339Nano('2026-11-22T01:02:03Z')).toEqual({ sec: base, nanos: 0 });
    expect(parseRfc3339Nano('2026-11-22T03:02:03.000000007+02:00')).toEqual({ sec: base, nanos: 7 });
    expect(parseRfc3339Nano('2026-11-21T20:32:03.5-04:30')).toEqual({ sec: base, nanos: 500000000 });
    expect(parseRfc3339Nano('not a time')).toBeNull();
    expect(toNanoString({ sec: base, nanos: 7 })).toBe(`${base}000000007`);
    // A double would round this; the string form must not.
    expect(toNanoString({ sec: 1795309323, nanos: 123456789 })).toBe('1795309323123456789');
  });

  it('falls back to tsMs when the string is malformed', () => {
    expect(recordTime('garbage', 1795309323123)).toEqual({ sec: 1795309323, nanos: 123000000 });
  });
});

describe('labels and structured metadata', () => {
  it('puts only bounded names in labels; pod, node, level, stream and ids in metadata', () => {
    const b = new LabelBuilder(10);
    const out = b.build(rec({ fields: { traceId: 't-1', request_id: 'r-9', user: 'u' } }));
    expect(out.labels).toEqual([
      ['cluster', 'c1'],
      ['namespace', 'shop'],
      ['app', 'cart'],
      ['container', 'app'],
      ['source', 'pod'],
    ]);
    expect(out.metadata).toEqual([
      ['pod', 'cart-abc'],
      ['node', 'n1'],
      ['level', 'info'],
      ['stream', 'stdout'],
      ['trace_id', 't-1'],
      ['request_id', 'r-9'],
    ]);
  });

  it('omits level unknown and stream unknown; uses workload when there is no app label', () => {
    const out = new LabelBuilder(10).build(rec({ level: 'unknown', stream: 'unknown', target: { cluster: 'c', namespace: 'n', workload: 'w' } }));
    expect(out.labels).toContainEqual(['app', 'w']);
    expect(out.metadata).toEqual([]);
  });

  it('demotes label values beyond the per-name cap to structured metadata, and counts it', async () => {
    const b = new LabelBuilder(3);
    const before = (await metrics.lokiLabelsDemoted.get()).values.find((v) => v.labels.label === 'container' && v.labels.reason === 'cardinality')?.value ?? 0;
    const containers = ['a', 'b', 'c', 'd', 'e', 'a'];
    const outs = containers.map((c) => b.build(rec({ target: { cluster: 'c1', namespace: 'ns', container: c } })));
    expect(outs.map((o) => o.labels.find(([n]) => n === 'container')?.[1] ?? null)).toEqual(['a', 'b', 'c', null, null, 'a']);
    expect(outs[3]!.metadata).toContainEqual(['container', 'd']);
    const after = (await metrics.lokiLabelsDemoted.get()).values.find((v) => v.labels.label === 'container' && v.labels.reason === 'cardinality')?.value ?? 0;
    expect(after - before).toBe(2);
  });
});

describe('line truncation', () => {
  it('cuts at a code point boundary and appends the marker, within the byte cap', () => {
    const line = '€'.repeat(1000); // 3 bytes each
    const t = truncateLine(line, 1000);
    expect(t.truncated).toBe(true);
    expect(Buffer.byteLength(t.line)).toBeLessThanOrEqual(1000);
    expect(t.line.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(t.line).not.toContain('\ufffd');
    expect(truncateLine('short', 1000)).toEqual({ line: 'short', truncated: false });
  });

  it('marks truncated entries in structured metadata', () => {
    const e = toEntry(rec({ line: 'x'.repeat(5000) }), new LabelBuilder(10), 1000);
    expect(Buffer.byteLength(e.line)).toBeLessThanOrEqual(1000);
    expect(e.metadata).toContainEqual(['truncated', 'true']);
  });
});

describe('response classification', () => {
  it('retries 429 and 5xx, rejects 400 by reason without retry, fails auth', () => {
    expect(classify(204, '', undefined)).toEqual({ kind: 'delivered' });
    expect(classify(429, 'Ingestion rate limit exceeded for user fake (limit: 1 bytes/sec)', '3')).toEqual({ kind: 'retry', reason: 'rate_limited', retryAfterMs: 3000 });
    expect(classify(429, "Per stream rate limit exceeded (limit: 1MB/sec) while attempting to ingest for stream '{a=\"b\"}'", undefined).kind).toBe('retry');
    expect(classify(503, 'no healthy ingesters', undefined)).toMatchObject({ kind: 'retry', reason: 'http_503' });
    const tooOld =
      "entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-15T00:00:00Z\n" +
      "entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01T00:00:01Z, oldest acceptable timestamp is: 2026-11-15T00:00:00Z";
    expect(classify(400, tooOld, undefined)).toEqual({ kind: 'rejected', reason: 'greater_than_max_sample_age', count: 2, reasons: [{ reason: 'greater_than_max_sample_age', count: 2 }] });
    // A body listing several kinds of refusal counts each of them.
    const mixed = `${tooOld}\nentry for stream '{app="a"}' has timestamp too new: 2030-01-01T00:00:00Z\ntotal ignored: 3 out of 9`;
    expect(classify(400, mixed, undefined)).toMatchObject({ kind: 'rejected', reasons: [{ reason: 'greater_than_max_sample_age', count: 2 }, { reason: 'too_far_in_future', count: 1 }] });
    expect(classify(400, "entry too far behind, entry timestamp is: x, oldest acceptable timestamp is: y", undefined)).toMatchObject({ reason: 'too_far_behind' });
    expect(classify(400, "max entry size '256000' bytes exceeded for stream", undefined)).toMatchObject({ reason: 'line_too_long' });
    expect(classify(401, 'no org id', undefined)).toEqual({ kind: 'failed', reason: 'unauthorized' });
    expect(classify(413, 'request body too large', undefined)).toEqual({ kind: 'failed', reason: 'request_too_large' });
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.UTC(2026, 10, 22, 0, 0, 0);
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(new Date(now + 12_000).toUTCString(), now)).toBe(12_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('backs off exponentially with jitter inside [min, max]', () => {
    expect(backoffMs(0, 500, 300_000, () => 1)).toBe(500);
    expect(backoffMs(3, 500, 300_000, () => 1)).toBe(4000);
    expect(backoffMs(3, 500, 300_000, () => 0)).toBe(500);
    expect(backoffMs(40, 500, 300_000, () => 1)).toBe(300_000);
    for (let i = 0; i < 100; i++) {
      const v = backoffMs(i % 12, 500, 300_000);
      expect(v).toBeGreaterThanOrEqual(500);
      expect(v).toBeLessThanOrEqual(300_000);
    }
  });
});

describe('token bucket', () => {
  it('allows the burst, then paces at the rate (debt carries over)', () => {
    const b = new TokenBucket(1000, 2000, 0);
    expect(b.delayMs(0)).toBe(0);
    b.take(5000, 0); // a batch bigger than the burst still goes, and puts the bucket in debt
    expect(b.delayMs(0)).toBe(3000);
    expect(b.delayMs(1500)).toBe(1500);
    expect(b.delayMs(3000)).toBe(0);
  });
});

describe('options', () => {
  it('appends the push path, moves URL credentials out of the URL, validates', () => {
    const o = resolveLokiOptions({ url: 'http://u:p%40ss@loki:3100/' });
    expect(o.pushUrl.href).toBe('http://loki:3100/loki/api/v1/push');
    expect(o.basicAuth).toEqual({ username: 'u', password: 'p@ss' });
    expect(o.batchBytes).toBe(1024 * 1024);
    expect(() => resolveLokiOptions({ url: 'ftp://x' })).toThrow(/http/);
    expect(() => resolveLokiOptions({ url: 'http://x', tenant: 'a|b' })).toThrow(/tenant/);
    expect(() => resolveLokiOptions({ url: 'http://x', batchBytes: 0 })).toThrow(/batchBytes/);
  });
});
