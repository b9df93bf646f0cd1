/**
 * Loki's refusals, played by the proxy of test/env/loki-answers.ts in front of the real store
 * (VictoriaLogs). Each case asserts on what the store finally holds: a retried answer loses nothing
 * and stores nothing twice; a permanent refusal is dropped, counted per reason in rsd_dropped_total,
 * and logged once per interval with the stream it concerns.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { startLokiAnswers, type LokiAnswersProxy } from '../env/loki-answers.ts';
import { exactDuplicates, queryLogs, startVictoriaLogs, waitForLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';
import { log } from '../../src/logger.ts';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { SourceAcks } from '../../src/delivery/acks.ts';

const skip = shouldSkip('loki answers (real VictoriaLogs behind a Loki-answers proxy)', ['victoria-logs']);

function records(cluster: string, n: number, opts: { startMs?: number; stepMs?: number; container?: string } = {}): LogRecord[] {
  const start = opts.startMs ?? Date.now() - 60_000;
  return Array.from({ length: n }, (_, i) => {
    const ms = start + i * (opts.stepMs ?? 1);
    const container = opts.container ?? 'api';
    return { ts: new Date(ms).toISOString(), tsMs: ms, line: `seq=${i} msg="served"`, stream: 'stdout', kind: 'pod', level: 'info', target: { cluster, namespace: 'shop', pod: `${container}-1`, container, app: 'shop' } } satisfies LogRecord;
  });
}

async function counter(c: typeof metrics.sinkRequests | typeof metrics.dropped, labels: Record<string, string>): Promise<number> {
  const vals = (await c.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return vals.reduce((n, v) => n + v.value, 0);
}

async function deliver(proxy: LokiAnswersProxy, name: string, rs: LogRecord[], opts: Partial<ConstructorParameters<typeof LokiSink>[0]> = {}): Promise<LogRecord[]> {
  const sink = new LokiSink({ url: proxy.url, name, batchWaitMs: 50, minBackoffMs: 50, maxBackoffMs: 400, ...opts });
  const acked: LogRecord[] = [];
  // What a source does: its handle on each record.
  const ack = new SourceAcks(`${name}-source`, (x) => acked.push(...x));
  sink.register([ack]);
  for (const r of rs) r.ack = ack;
  sink.write(rs);
  await sink.flush(30_000);
  await sink.close(5_000);
  return acked;
}

describe.skipIf(skip)("Loki's answers in front of the real store", () => {
  let store: VictoriaLogsHandle;
  let proxy: LokiAnswersProxy;
  beforeAll(async () => {
    store = await startVictoriaLogs();
    proxy = await startLokiAnswers(store.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await store?.stop();
  });
  afterEach(() => {
    for (const k of Object.keys(proxy.answers)) delete (proxy.answers as Record<string, unknown>)[k];
    vi.restoreAllMocks();
  });

  it.each([
    [429, undefined],
    [429, '1'],
    [500, undefined],
    [502, undefined],
    [503, '1'],
    [504, undefined],
  ])('%i (Retry-After %s): retried until accepted; every line stored once', async (status, retryAfter) => {
    const cluster = `la-${randomUUID().slice(0, 8)}`;
    const rs = records(cluster, 200);
    const name = `la-${status}-${retryAfter ?? 'none'}`;
    proxy.answers.failNext = { count: 3, status, ...(retryAfter ? { retryAfter } : {}) };
    const from = proxy.log.length;
    const acked = await deliver(proxy, name, rs);
    expect(acked.length).toBe(200);
    expect(await counter(metrics.sinkRequests, { sink: name, status: String(status) })).toBe(3);
    const stored = await waitForLogs(store.url, `{cluster="${cluster}"}`, (e) => e.length >= 200);
    expect(stored.length).toBe(200);
    expect(exactDuplicates(stored)).toEqual([]);
    // Three refusals, then only acceptances (after repeated 429s the sink may halve the batch: two 204s).
    const statuses = proxy.log.slice(from).map((l) => l.status);
    expect(statuses.slice(0, 3)).toEqual([status, status, status]);
    expect(statuses.slice(3).length).toBeGreaterThan(0);
    expect(statuses.slice(3).every((x) => x === 204)).toBe(true);
  });

  it('400 for too-old, too-new and out-of-order entries: the rest is stored, the refused are counted per reason and logged with the stream', async () => {
    const cluster = `la-${randomUUID().slice(0, 8)}`;
    proxy.answers.rejectOlderThanMs = 7 * 24 * 3_600_000;
    proxy.answers.rejectNewerThanMs = 10 * 60_000;
    proxy.answers.rejectOutOfOrder = true;
    const good = records(cluster, 30);
    const old = records(cluster, 2, { startMs: Date.now() - 8 * 24 * 3_600_000 }).map((r) => ({ ...r, line: `old ${r.line}` }));
    const future = records(cluster, 3, { startMs: Date.now() + 3_600_000 }).map((r) => ({ ...r, line: `future ${r.line}` }));
    const warn = vi.spyOn(log, 'warn');
    const before = {
      old: await counter(metrics.dropped, { component: 'loki', reason: 'greater_than_max_sample_age' }),
      future: await counter(metrics.dropped, { component: 'loki', reason: 'too_far_in_future' }),
      ooo: await counter(metrics.dropped, { component: 'loki', reason: 'out_of_order' }),
    };
    // One push with all of them; then an entry older than the stream's newest, in a later push.
    const acked = await deliver(proxy, 'la-partial', [...good, ...old, ...future]);
    expect(acked.length).toBe(35); // acknowledged: a refusal will not change by re-reading
    const late = { ...good[0]!, line: 'late seq=-1', ts: new Date(good[0]!.tsMs - 1).toISOString(), tsMs: good[0]!.tsMs - 1 };
    await deliver(proxy, 'la-partial', [late]);
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'greater_than_max_sample_age' })) - before.old).toBe(2);
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'too_far_in_future' })) - before.future).toBe(3);
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'out_of_order' })) - before.ooo).toBe(1);
    const stored = await waitForLogs(store.url, `{cluster="${cluster}"}`, (e) => e.length >= 30);
    expect(stored.map((e) => e.line).sort()).toEqual(good.map((r) => r.line).sort());
    const logged = warn.mock.calls.filter((c) => (c[1] as string) === 'loki push not fully accepted').map((c) => c[0] as { reason: string; streams?: string[] });
    expect(logged.length).toBeGreaterThan(0);
    expect(logged[0]!.streams?.[0]).toContain(`cluster="${cluster}"`);
  });

  it('a rejection is logged once per interval, however many pushes it hits', async () => {
    proxy.answers.rejectOlderThanMs = 60_000;
    const warn = vi.spyOn(log, 'warn');
    const cluster = `la-${randomUUID().slice(0, 8)}`;
    const sink = new LokiSink({ url: proxy.url, name: 'la-once', batchWaitMs: 20 });
    for (let i = 0; i < 5; i++) {
      sink.write(records(cluster, 2, { startMs: Date.now() - 3_600_000 - i * 10 }));
      await sink.flush(5_000);
    }
    await sink.close(5_000);
    const lines = warn.mock.calls.filter((c) => (c[1] as string) === 'loki push not fully accepted' && (c[0] as { reason?: string }).reason === 'greater_than_max_sample_age');
    expect(lines.length).toBeLessThanOrEqual(1);
  });

  it('400 for bad labels and 413 for a too large body: nothing stored, dropped and counted, not acknowledged', async () => {
    const cluster = `la-${randomUUID().slice(0, 8)}`;
    proxy.answers.rejectLabel = 'app';
    const beforeLabels = await counter(metrics.dropped, { component: 'loki', reason: 'invalid_labels' });
    const a = await deliver(proxy, 'la-labels', records(cluster, 10));
    expect(a.length).toBe(10); // a 400 is final: acknowledged so the source moves on, and counted
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'invalid_labels' })) - beforeLabels).toBe(1);
    delete proxy.answers.rejectLabel;
    proxy.answers.maxBodyBytes = 10;
    const before413 = await counter(metrics.dropped, { component: 'loki', reason: 'request_too_large' });
    const b = await deliver(proxy, 'la-413', records(`${cluster}-b`, 10));
    expect(b).toEqual([]); // nothing ingested: not acknowledged, so the source re-reads after a fix
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'request_too_large' })) - before413).toBe(10);
    expect(await queryLogs(store.url, `{cluster=~"${cluster}.*"}`)).toEqual([]);
  });

  it('a multi-tenant Loki: pushes carry X-Scope-OrgID; without a tenant 401, counted, nothing acknowledged', async () => {
    const cluster = `la-${randomUUID().slice(0, 8)}`;
    proxy.answers.requireTenant = true;
    const from = proxy.log.length;
    const a = await deliver(proxy, 'la-tenant', records(cluster, 20), { tenant: 'team-a' });
    expect(a.length).toBe(20);
    expect(proxy.log.slice(from).every((l) => l.tenant === 'team-a')).toBe(true);
    expect((await waitForLogs(store.url, `{cluster="${cluster}"}`, (e) => e.length >= 20)).length).toBe(20);
    const before = await counter(metrics.dropped, { component: 'loki', reason: 'unauthorized' });
    const b = await deliver(proxy, 'la-anon', records(`${cluster}-anon`, 5));
    expect(b).toEqual([]);
    expect(await counter(metrics.sinkRequests, { sink: 'la-anon', status: '401' })).toBe(1);
    expect((await counter(metrics.dropped, { component: 'loki', reason: 'unauthorized' })) - before).toBe(5);
  });
});
