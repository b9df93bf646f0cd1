/**
 * The Loki sink against a real Loki-protocol store: VictoriaLogs (test/env/victorialogs.ts) through
 * its Loki push endpoint. Push, then read back through the store's own query API: counts, order per
 * stream, exact nanosecond timestamps, labels (stream fields), structured metadata (fields), line and
 * metadata filters, protobuf and JSON; the store stopped mid-stream and started again: nothing lost
 * within the spool bound, nothing stored twice. Loki's refusals (429, 5xx, 400 per entry, 413, tenant)
 * are played by the proxy of test/env/loki-answers.ts in loki-answers.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { exactDuplicates, queryLogs, startVictoriaLogs, waitForLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { SourceAcks } from '../../src/delivery/acks.ts';
import { TRUNCATION_MARKER } from '../../src/sinks/loki/entry.ts';
import { toNanoString, parseRfc3339Nano } from '../../src/sinks/loki/timestamp.ts';

const skip = shouldSkip('loki-sink (real VictoriaLogs)', ['victoria-logs']);

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

/** What a source does for the sink: its handle on each record, registered so spooled records find it too. */
function ofSource(sink: LokiSink, records: LogRecord[], onAck: (rs: readonly LogRecord[]) => void): void {
  const h = new SourceAcks('it-source', onAck);
  sink.register([h]);
  for (const r of records) r.ack = h;
}

function seqOf(line: string): number {
  return Number(/seq=(\d+)/.exec(line)?.[1] ?? -1);
}

async function counter(c: typeof metrics.sinkRequests | typeof metrics.dropped, labels: Record<string, string>): Promise<number> {
  const vals = (await c.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return vals.reduce((n, v) => n + v.value, 0);
}

describe.skipIf(skip)('LokiSink → real Loki-protocol store (VictoriaLogs)', () => {
  let store: VictoriaLogsHandle;
  beforeAll(async () => {
    store = await startVictoriaLogs();
  });
  afterAll(async () => {
    await store?.stop();
  });

  it('protobuf+snappy: every line comes back once, in order per stream, exact ns timestamps, labels and structured metadata', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const records = makeRecords(cluster, 600);
    // A line above Loki's 256 KB max_line_size: must arrive truncated, not be refused.
    const long: LogRecord = { ...records[0]!, line: `seq=100000 ${'x'.repeat(300_000)}`, ts: rfc3339(Date.now() - 30_000, 1), tsMs: Date.now() - 30_000, fields: {} };
    const sink = new LokiSink({ url: store.lokiUrl, batchBytes: 32 * 1024, batchWaitMs: 200 });
    const acked: LogRecord[] = [];
    ofSource(sink, [...records, long], (rs) => acked.push(...rs));
    // Out of order across write() calls within a stream: the sink sorts each stream per push.
    const shuffled = [...records].sort(() => Math.random() - 0.5);
    for (let i = 0; i < shuffled.length; i += 50) sink.write(shuffled.slice(i, i + 50));
    sink.write([long]);
    await sink.flush(30_000);
    await sink.close(5_000);
    expect(acked.length).toBe(601);

    const all = await waitForLogs(store.url, `{cluster="${cluster}"}`, (e) => e.length >= 601);
    expect(all.length).toBe(601);
    expect(exactDuplicates(all)).toEqual([]);
    for (const c of ['api', 'worker', 'db']) {
      const got = all.filter((e) => e.labels.container === c && seqOf(e.line) < 100000);
      const want = records.filter((r) => r.target.container === c);
      expect(got.map((e) => seqOf(e.line))).toEqual(want.map((r) => seqOf(r.line)));
      expect(got.map((e) => e.ts)).toEqual(want.map((r) => toNanoString(parseRfc3339Nano(r.ts)!)));
      // Exactly these labels make the stream (pod and level are structured metadata, never labels).
      expect(got[0]!.labels).toEqual({ cluster, namespace: 'shop', app: 'shop', container: c, source: 'pod' });
    }
    const first = all.find((e) => seqOf(e.line) === 0)!;
    expect(first.structuredMetadata).toMatchObject({ pod: 'api-7d9f-0', node: 'node-a', level: 'error', stream: 'stdout', trace_id: 'trace-0' });
    const third = all.find((e) => seqOf(e.line) === 1)!;
    expect(third.structuredMetadata).toMatchObject({ pod: 'worker-7d9f-1', level: 'info', stream: 'stderr' });
    expect(third.structuredMetadata.trace_id).toBeUndefined();

    // Line filter and structured-metadata filter (LogsQL: a phrase, and an exact field match).
    const errors = await queryLogs(store.url, `{cluster="${cluster}"} "level=error"`);
    expect(errors.length).toBe(records.filter((r) => r.level === 'error').length);
    const traced = await queryLogs(store.url, `{cluster="${cluster}", container="api"} trace_id:="trace-300"`);
    expect(traced.map((e) => seqOf(e.line))).toEqual([300]);

    const truncated = all.find((e) => seqOf(e.line) === 100000)!;
    expect(truncated.line.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(Buffer.byteLength(truncated.line)).toBeLessThanOrEqual(256_000);
    expect(truncated.structuredMetadata.truncated).toBe('true');
  });

  it('JSON fallback: the same lines, timestamps and metadata', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const records = makeRecords(cluster, 90);
    const sink = new LokiSink({ url: store.lokiUrl, format: 'json', batchBytes: 4096, batchWaitMs: 100 });
    const acked: LogRecord[] = [];
    ofSource(sink, records, (rs) => acked.push(...rs));
    sink.write(records);
    await sink.close(20_000);
    expect(acked.length).toBe(90);
    const all = await waitForLogs(store.url, `{cluster="${cluster}"}`, (e) => e.length >= 90);
    expect(all.length).toBe(90);
    expect(all.map((e) => e.ts).sort()).toEqual(records.map((r) => toNanoString(parseRfc3339Nano(r.ts)!)).sort());
    expect(all.find((e) => seqOf(e.line) === 3)!.structuredMetadata).toMatchObject({ trace_id: 'trace-3', level: 'info' });
    expect(all.find((e) => seqOf(e.line) === 3)!.labels).toEqual({ cluster, namespace: 'shop', app: 'shop', container: 'api', source: 'pod' });
  });

  it('the store stopped mid-stream and started again: nothing lost within the spool bound, nothing stored twice', async () => {
    const cluster = `it-${randomUUID().slice(0, 8)}`;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rsd-loki-spool-'));
    const droppedBefore = await counter(metrics.dropped, { component: 'loki' });
    const sink = new LokiSink({
      url: store.lokiUrl,
      batchBytes: 8 * 1024,
      batchWaitMs: 100,
      memoryQueueBytes: 32 * 1024, // small: the outage must overflow into the spool
      spool: { dir, maxBytes: 50 * 1024 * 1024 },
      minBackoffMs: 100,
      maxBackoffMs: 1000,
      timeoutMs: 2000,
    });
    const acked = new Set<string>();
    const records = makeRecords(cluster, 3000, { startMs: Date.now() - 120_000 });
    ofSource(sink, records, (rs) => rs.forEach((r) => acked.add(r.line)));
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
      // SIGTERM: VictoriaLogs flushes what it acknowledged (it has no WAL: a SIGKILL would lose the
      // store's last second, which no collector can prevent). The sink sees refused connections.
      await store.pause();
      await new Promise((r) => setTimeout(r, 1500));
      const during = sink.queued();
      expect(during.spoolBytes + during.memoryBytes).toBeGreaterThan(0);
      await store.start();
      while (sent < records.length) await new Promise((r) => setTimeout(r, 20));
    } finally {
      clearInterval(producer);
    }
    await sink.flush(60_000);
    await sink.close(5_000);
    expect(acked.size).toBe(records.length);
    expect((await counter(metrics.dropped, { component: 'loki' })) - droppedBefore).toBe(0);
    const all = await waitForLogs(store.url, `{cluster="${cluster}"}`, (e) => e.length >= records.length, { timeoutMs: 30_000 });
    expect(new Set(all.map((e) => e.line)).size).toBe(records.length);
    // VictoriaLogs keeps exact duplicates (Loki would drop them): so this counts what the sink re-sent.
    expect(exactDuplicates(all)).toEqual([]);
    expect(all.length).toBe(records.length);
    clearInterval(watcher);
    // The outage really went through the spool (memory was only 32 KiB) and the pushes really failed.
    expect(maxSpoolSegments).toBeGreaterThan(0);
    expect((await counter(metrics.sinkRequests, { sink: 'loki', status: 'error' })) - errorsBefore).toBeGreaterThan(0);
    expect((await readdir(dir)).filter((f) => f.endsWith('.spool'))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });
});
