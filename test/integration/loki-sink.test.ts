/**
 * The Loki sink against a real Loki (single binary, filesystem storage, loopback; test/env/loki.ts):
 * push then read back with query_range (counts, order, exact timestamps, labels, structured
 * metadata, line filter), protobuf and JSON; SIGKILL Loki mid-stream and restart it: nothing lost
 * within the spool bound; tiny ingestion limits provoke 429 and the sink recovers.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { startLoki, waitForEntries, queryRange, type LokiHandle } from '../env/loki.ts';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { TRUNCATION_MARKER } from '../../src/sinks/loki/entry.ts';
import { toNanoString, parseRfc3339Nano } from '../../src/sinks/loki/timestamp.ts';

const skip = shouldSkip('loki-sink (real Loki)', ['loki']);

/** RFC3339Nano with all 9 digits, from epoch ms + an extra nanosecond part (what kubelet emits). */
function rfc3339(ms: number, extraNs: number): string {
  const iso = new Date(ms).toISOString(); // …T01:02:03.123Z
  return `${iso.slice(0, 23)}${String(extraNs).padStart(6, '0')}Z`;
}

function makeRecords(cluster: string, n: number, opts: { containers?: string[]; startMs?: number; namespace?: string } = {}): LogRecord[] {
  const containers = opts.containers ?? ['api', 'worker', 'db'];
  const start = opts.startMs ?? Date.now() - 60_000;
  const out: LogRecord[] = [];
  for (let i = 0; i < n; i++) {
    const container = containers[i % containers.length]!;
    const ms = start + i; // strictly increasing per stream
    const isError = i % 10 === 0;
    out.push({
      ts: rfc3339(ms, (i * 7919) % 1_000_000),
      tsMs: ms,
      line: `${isError ? 'level=error' : 'level=info'} seq=${i} container=${container} msg="request ${isError ? 'failed' : 'served'}"`,
      stream: i % 2 ? 'stderr' : 'stdout',
      kind: 'pod',
      level: isError ? 'error' : 'info',
      target: { cluster, namespace: opts.namespace ?? 'shop', pod: `${container}-7d9f-${i % 4}`, container, node: 'node-a', app: 'shop' },
      fields: i % 3 === 0 ? { trace_id: `trace-${i}` } : {},
      position: { key: `cid-${container}`, ts: rfc3339(ms, 0) },
    });
  }
  return out;
}

function seqOf(line: string): number {
  return Number(/seq=(\d+)/.exec(line)?.[1] ?? -1);
}

async function counter(c: typeof metrics.sinkRequests | typeof metrics.dropped, labels: Record<string, string>): Promise<number> {
  const vals = (await c.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return vals.reduce((n, v) => n + v.value, 0);
}

describe.skipIf(skip)('LokiSink → real Loki', () => {
  let loki: LokiHandle;
  beforeAll(async () => {
    loki = await startLoki();
  });
  afterAll(async () => {
    await loki?.stop();
  });

  it('protobuf+snappy: every line comes back once, in order per stream, exact ns timestamps, labels and structured metadata', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const records = makeRecords(cluster, 600);
    // A line above Loki's 256 KB max_line_size: must arrive truncated, not be refused.
    const long: LogRecord = { ...records[0]!, line: `seq=100000 ${'x'.repeat(300_000)}`, ts: rfc3339(Date.now() - 30_000, 1), tsMs: Date.now() - 30_000, fields: {} };
    const sink = new LokiSink({ url: loki.url, batchBytes: 32 * 1024, batchWaitMs: 200 });
    const acked: LogRecord[] = [];
    sink.onDelivered((rs) => acked.push(...rs));
    // Out of order across write() calls within a stream: the sink sorts each stream per push.
    const shuffled = [...records].sort(() => Math.random() - 0.5);
    for (let i = 0; i < shuffled.length; i += 50) sink.write(shuffled.slice(i, i + 50));
    sink.write([long]);
    await sink.flush(30_000);
    await sink.close(5_000);
    expect(acked.length).toBe(601);

    const all = await waitForEntries(loki.url, `{cluster="${cluster}"}`, (e) => e.length >= 601, { limit: 5000 });
    expect(all.length).toBe(601);
    for (const c of ['api', 'worker', 'db']) {
      const got = all.filter((e) => e.labels.container === c && seqOf(e.line) < 100000);
      const want = records.filter((r) => r.target.container === c);
      expect(got.map((e) => seqOf(e.line))).toEqual(want.map((r) => seqOf(r.line)));
      expect(got.map((e) => e.ts)).toEqual(want.map((r) => toNanoString(parseRfc3339Nano(r.ts)!)));
      expect(got[0]!.labels).toMatchObject({ cluster, namespace: 'shop', app: 'shop', container: c, source: 'pod' });
      // pod/level never become labels
      expect(got[0]!.labels.pod).toBeUndefined();
      expect(got[0]!.labels.level).toBeUndefined();
    }
    const first = all.find((e) => seqOf(e.line) === 0)!;
    expect(first.structuredMetadata).toMatchObject({ pod: 'api-7d9f-0', node: 'node-a', level: 'error', stream: 'stdout', trace_id: 'trace-0' });
    const third = all.find((e) => seqOf(e.line) === 1)!;
    expect(third.structuredMetadata).toMatchObject({ pod: 'worker-7d9f-1', level: 'info', stream: 'stderr' });
    expect(third.structuredMetadata.trace_id).toBeUndefined();

    // Line filter and structured-metadata filter.
    const errors = await queryRange(loki.url, `{cluster="${cluster}"} |= "level=error"`, { limit: 5000 });
    expect(errors.length).toBe(records.filter((r) => r.level === 'error').length);
    const traced = await queryRange(loki.url, `{cluster="${cluster}", container="api"} | trace_id="trace-300"`, { limit: 10 });
    expect(traced.map((e) => seqOf(e.line))).toEqual([300]);

    const truncated = all.find((e) => seqOf(e.line) === 100000)!;
    expect(truncated.line.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(Buffer.byteLength(truncated.line)).toBeLessThanOrEqual(256_000);
    expect(truncated.structuredMetadata.truncated).toBe('true');
  });

  it('partial 400: a too-old line is refused and counted, the rest of the batch is stored, nothing blocks', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const records = makeRecords(cluster, 20);
    const weekAgo = Date.now() - 8 * 24 * 3_600_000; // beyond reject_old_samples_max_age (1w)
    const old: LogRecord = { ...records[5]!, line: 'seq=999 too old', ts: rfc3339(weekAgo, 0), tsMs: weekAgo };
    const before = await counter(metrics.dropped, { component: 'loki', reason: 'greater_than_max_sample_age' });
    const before400 = await counter(metrics.sinkRequests, { sink: 'loki-partial', status: '400' });
    const sink = new LokiSink({ url: loki.url, name: 'loki-partial', batchWaitMs: 50 });
    const acked: LogRecord[] = [];
    sink.onDelivered((rs) => acked.push(...rs));
    sink.write([...records.slice(0, 10), old, ...records.slice(10)]);
    await sink.close(10_000);
    expect(await counter(metrics.sinkRequests, { sink: 'loki-partial', status: '400' }) - before400).toBe(1);
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'greater_than_max_sample_age' })) - before).toBe(1);
    expect(acked.length).toBe(21);
    const all = await waitForEntries(loki.url, `{cluster="${cluster}"}`, (e) => e.length >= 20, { limit: 100 });
    expect(all.map((e) => seqOf(e.line)).sort((a, b) => a - b)).toEqual(records.map((r) => seqOf(r.line)));
  });

  it('JSON fallback: the same lines, timestamps and metadata', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const records = makeRecords(cluster, 90);
    const sink = new LokiSink({ url: loki.url, format: 'json', batchBytes: 4096, batchWaitMs: 100 });
    const acked: LogRecord[] = [];
    sink.onDelivered((rs) => acked.push(...rs));
    sink.write(records);
    await sink.close(20_000);
    expect(acked.length).toBe(90);
    const all = await waitForEntries(loki.url, `{cluster="${cluster}"}`, (e) => e.length >= 90, { limit: 1000 });
    expect(all.map((e) => e.ts).sort()).toEqual(records.map((r) => toNanoString(parseRfc3339Nano(r.ts)!)).sort());
    expect(all.find((e) => seqOf(e.line) === 3)!.structuredMetadata).toMatchObject({ trace_id: 'trace-3', level: 'info' });
  });

  it('Loki killed mid-stream and restarted: nothing lost within the spool bound, no duplicates stored', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rsd-loki-spool-'));
    const droppedBefore = await counter(metrics.dropped, { component: 'loki' });
    const sink = new LokiSink({
      url: loki.url,
      batchBytes: 8 * 1024,
      batchWaitMs: 100,
      memoryQueueBytes: 32 * 1024, // small: the outage must overflow into the spool
      spool: { dir, maxBytes: 50 * 1024 * 1024 },
      minBackoffMs: 100,
      maxBackoffMs: 1000,
      timeoutMs: 2000,
    });
    const acked = new Set<string>();
    sink.onDelivered((rs) => rs.forEach((r) => acked.add(r.line)));
    const records = makeRecords(cluster, 3000, { startMs: Date.now() - 120_000 });
    let sent = 0;
    const writeSome = (n: number): void => {
      sink.write(records.slice(sent, sent + n));
      sent += n;
    };
    const producer = setInterval(() => writeSome(Math.min(50, records.length - sent)), 20);
    let maxSpoolSegments = 0;
    const watcher = setInterval(() => {
      maxSpoolSegments = Math.max(maxSpoolSegments, sink.queued().spoolSegments);
    }, 10);
    const errorsBefore = await counter(metrics.sinkRequests, { sink: 'loki', status: 'error' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      await loki.kill();
      await new Promise((r) => setTimeout(r, 1500));
      const during = sink.queued();
      expect(during.spoolBytes + during.memoryBytes).toBeGreaterThan(0);
      await loki.restart();
      while (sent < records.length) await new Promise((r) => setTimeout(r, 20));
    } finally {
      clearInterval(producer);
    }
    await sink.flush(60_000);
    await sink.close(5_000);
    expect(acked.size).toBe(records.length);
    expect((await counter(metrics.dropped, { component: 'loki' })) - droppedBefore).toBe(0);
    const all = await waitForEntries(loki.url, `{cluster="${cluster}"}`, (e) => e.length >= records.length, { limit: 5000, timeoutMs: 30_000 });
    expect(new Set(all.map((e) => e.line)).size).toBe(records.length);
    expect(all.length).toBe(records.length); // re-sent batches are identical, so Loki stored them once
    clearInterval(watcher);
    // The outage really went through the spool (memory was only 32 KiB) and the pushes really failed.
    expect(maxSpoolSegments).toBeGreaterThan(0);
    expect((await counter(metrics.sinkRequests, { sink: 'loki', status: 'error' })) - errorsBefore).toBeGreaterThan(0);
    expect((await readdir(dir)).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });
});

describe.skipIf(skip)('LokiSink → real Loki with tiny ingestion limits', () => {
  let loki: LokiHandle;
  beforeAll(async () => {
    // 50 KB/s per tenant, burst 50 KB: a 32 KiB batch passes, a few in a row do not.
    loki = await startLoki({ limits: { ingestion_rate_mb: 0.05, ingestion_burst_size_mb: 0.05 } });
  });
  afterAll(async () => {
    await loki?.stop();
  });

  it('gets 429, backs off, and delivers everything', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const before429 = await counter(metrics.sinkRequests, { sink: 'loki-429', status: '429' });
    // Client buckets wide open so Loki's own limiter is what answers.
    const sink = new LokiSink({ url: loki.url, name: 'loki-429', batchBytes: 16 * 1024, batchWaitMs: 50, minBackoffMs: 200, maxBackoffMs: 2000, tenantRateBytes: 1e9, tenantBurstBytes: 1e9 });
    const acked: LogRecord[] = [];
    sink.onDelivered((rs) => acked.push(...rs));
    const records = makeRecords(cluster, 1500); // ~130 KB of lines + metadata
    sink.write(records);
    await sink.flush(60_000);
    await sink.close(5_000);
    const got429 = (await counter(metrics.sinkRequests, { sink: 'loki-429', status: '429' })) - before429;
    expect(got429).toBeGreaterThan(0);
    expect(acked.length).toBe(records.length);
    const all = await waitForEntries(loki.url, `{cluster="${cluster}"}`, (e) => e.length >= records.length, { limit: 5000 });
    expect(all.length).toBe(records.length);
  });

  it('with client token buckets under the server limit, no 429 at all', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const sink = new LokiSink({ url: loki.url, name: 'loki-paced', batchBytes: 8 * 1024, batchWaitMs: 50, tenantRateBytes: 40_000, tenantBurstBytes: 40_000 });
    const acked: LogRecord[] = [];
    sink.onDelivered((rs) => acked.push(...rs));
    const records = makeRecords(cluster, 600);
    // Let Loki's bucket refill after the previous test.
    await new Promise((r) => setTimeout(r, 1500));
    sink.write(records);
    await sink.flush(60_000);
    await sink.close(5_000);
    expect(await counter(metrics.sinkRequests, { sink: 'loki-paced', status: '429' })).toBe(0);
    expect(acked.length).toBe(records.length);
  });
});

describe.skipIf(skip)('LokiSink → real multi-tenant Loki (auth_enabled)', () => {
  let loki: LokiHandle;
  beforeAll(async () => {
    loki = await startLoki({ authEnabled: true });
  });
  afterAll(async () => {
    await loki?.stop();
  });

  it('pushes under X-Scope-OrgID; without a tenant Loki says 401 and nothing is acknowledged', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const records = makeRecords(cluster, 30);
    const sink = new LokiSink({ url: loki.url, tenant: 'team-a', batchWaitMs: 50 });
    const acked: LogRecord[] = [];
    sink.onDelivered((rs) => acked.push(...rs));
    sink.write(records);
    await sink.close(10_000);
    expect(acked.length).toBe(30);
    const mine = await waitForEntries(loki.url, `{cluster="${cluster}"}`, (e) => e.length >= 30, { tenant: 'team-a' });
    expect(mine.length).toBe(30);
    expect(await queryRange(loki.url, `{cluster="${cluster}"}`, { tenant: 'team-b' })).toEqual([]);

    const before = await counter(metrics.dropped, { component: 'loki', reason: 'unauthorized' });
    const anon = new LokiSink({ url: loki.url, name: 'loki-anon', batchWaitMs: 50 });
    const anonAcked: LogRecord[] = [];
    anon.onDelivered((rs) => anonAcked.push(...rs));
    anon.write(makeRecords(`${cluster}-anon`, 5));
    await anon.close(10_000);
    expect(anonAcked).toEqual([]);
    expect(await counter(metrics.sinkRequests, { sink: 'loki-anon', status: '401' })).toBe(1);
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'unauthorized' })) - before).toBe(5);
  });
});
