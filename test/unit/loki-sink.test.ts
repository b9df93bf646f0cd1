import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { afterEach, describe, expect, it } from 'vitest';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { SourceAcks } from '../../src/delivery/acks.ts';
import type { LokiSinkOptions } from '../../src/sinks/loki/options.ts';

const root = new protobuf.Root();
protobuf.parse(readFileSync(new URL('./fixtures/loki-push.proto', import.meta.url), 'utf8'), root, { keepCase: true });
root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
root.resolveAll();
const PushRequest = root.lookupType('logproto.PushRequest');

interface Got {
  at: number;
  headers: http.IncomingHttpHeaders;
  streams: Array<{ labels: string; lines: string[] }>;
  lines: string[];
  status: number;
}
type Reply = { status: number; body?: string; headers?: Record<string, string> };

/** A stand-in for Loki's push endpoint: decodes every request, answers from a script. */
async function fakeLoki(script: (req: Got, n: number) => Reply = () => ({ status: 204 })) {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let streams: Got['streams'];
      if (String(req.headers['content-type']).startsWith('application/json')) {
        const j = JSON.parse(body.toString()) as { streams: Array<{ stream: Record<string, string>; values: string[][] }> };
        streams = j.streams.map((s) => ({ labels: JSON.stringify(s.stream), lines: s.values.map((v) => v[1]!) }));
      } else {
        const m = PushRequest.toObject(PushRequest.decode(snappy.uncompress(body)), { defaults: true }) as {
          streams: Array<{ labels: string; entries: Array<{ line: string }> }>;
        };
        streams = m.streams.map((s) => ({ labels: s.labels, lines: s.entries.map((e) => e.line) }));
      }
      const g: Got = { at: Date.now(), headers: req.headers, streams, lines: streams.flatMap((s) => s.lines), status: 0 };
      got.push(g);
      const r = script(g, got.length - 1);
      g.status = r.status;
      res.writeHead(r.status, r.headers ?? {});
      res.end(r.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    got,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Recent by default: live-first interleaving only applies inside Loki's out-of-order window. */
const BASE_MS = Date.now() - 60_000;

/** The source these records are of: its handle is on each; sink() points it at that sink's `acked`. */
let ackedTo: LogRecord[] = [];
const SOURCE = new SourceAcks('test-source', (rs) => ackedTo.push(...rs));

function rec(i: number, over: Partial<LogRecord> = {}, baseMs = BASE_MS): LogRecord {
  const ms = baseMs + i;
  return {
    ts: `${new Date(ms).toISOString().slice(0, 23)}${String(i % 1000).padStart(6, '0')}Z`,
    tsMs: ms,
    line: `line ${i}`,
    stream: 'stdout',
    kind: 'pod',
    level: 'info',
    target: { cluster: 'c1', namespace: 'ns', pod: 'p', container: over.target?.container ?? 'app', app: 'a' },
    position: { key: 'cid', ts: new Date(ms).toISOString() },
    ack: SOURCE,
    ...over,
  };
}

async function droppedCount(reason: string): Promise<number> {
  const v = (await metrics.dropped.get()).values.find((x) => x.labels.component === 'loki' && x.labels.reason === reason);
  return v?.value ?? 0;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function sink(url: string, o: Partial<LokiSinkOptions> = {}): { s: LokiSink; acked: LogRecord[] } {
  const s = new LokiSink({ url, batchWaitMs: 20, minBackoffMs: 10, maxBackoffMs: 50, ...o });
  const acked: LogRecord[] = [];
  ackedTo = acked;
  s.register([SOURCE]);
  cleanup.push(() => s.close(500));
  return { s, acked };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LokiSink against a local HTTP endpoint', () => {
  it('batches by size and by wait, keeps each stream in timestamp order, acks after 2xx', async () => {
    const loki = await fakeLoki();
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url, { batchBytes: 200, batchWaitMs: 150, tenant: 'team-a', bearerToken: 'sekret' });
    // 30 records of ~40 bytes (line + metadata): several size-triggered batches; shuffled timestamps.
    const rs = Array.from({ length: 30 }, (_, i) => rec(i));
    const shuffled = [...rs.slice(0, 24)].sort(() => Math.random() - 0.5).concat(rs.slice(24));
    const t0 = Date.now();
    s.write(shuffled);
    await until(() => acked.length === 30);
    expect(loki.got.length).toBeGreaterThan(2);
    // The tail (less than one batch) waited for batchWaitMs.
    expect(loki.got.at(-1)!.at - t0).toBeGreaterThanOrEqual(140);
    for (const g of loki.got) {
      for (const st of g.streams) {
        const nums = st.lines.map((l) => Number(l.split(' ')[1]));
        expect(nums).toEqual([...nums].sort((a, b) => a - b));
      }
      expect(g.headers['x-scope-orgid']).toBe('team-a');
      expect(g.headers.authorization).toBe('Bearer sekret');
      expect(g.headers['content-type']).toBe('application/x-protobuf');
    }
    expect(new Set(loki.got.flatMap((g) => g.lines))).toEqual(new Set(rs.map((r) => r.line)));
    expect(loki.got[0]!.streams[0]!.labels).toBe('{app="a",cluster="c1",container="app",namespace="ns",source="pod"}');
  });

  it('retries 5xx with backoff and honours Retry-After on 429; acks only after success', async () => {
    const loki = await fakeLoki((_g, n) =>
      n === 0 ? { status: 503, body: 'no healthy ingesters' } : n === 1 ? { status: 429, body: 'Ingestion rate limit exceeded', headers: { 'retry-after': '1' } } : { status: 204 },
    );
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url);
    s.write([rec(1), rec(2)]);
    await until(() => loki.got.length >= 2);
    expect(acked).toEqual([]);
    await until(() => acked.length === 2, 4000).catch((e: unknown) => { console.log(loki.got.map((g) => [g.at, g.lines])); throw e; });
    expect(loki.got.length).toBe(3);
    // Same batch re-sent verbatim (Loki de-duplicates identical entries).
    expect(loki.got[2]!.lines).toEqual(loki.got[0]!.lines);
    expect(loki.got[2]!.at - loki.got[1]!.at).toBeGreaterThanOrEqual(950);
    expect(acked.map((r) => r.position?.ts)).toEqual([rec(1).position!.ts, rec(2).position!.ts]);
  });

  it('never retries a 400 and never lets it block the queue: counts by reason, acks (partial acceptance)', async () => {
    const before = await droppedCount('greater_than_max_sample_age');
    const loki = await fakeLoki((_g, n) =>
      n === 0 ? { status: 400, body: "entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: x" } : { status: 204 },
    );
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url);
    s.write([rec(1), rec(2)]);
    await until(() => acked.length === 2);
    s.write([rec(3)]);
    await until(() => acked.length === 3);
    expect(loki.got.map((g) => g.lines)).toEqual([['line 1', 'line 2'], ['line 3']]);
    expect((await droppedCount('greater_than_max_sample_age')) - before).toBe(1);
  });

  it('does not acknowledge a request refused as a whole (401), and moves on', async () => {
    const loki = await fakeLoki((_g, n) => (n === 0 ? { status: 401, body: 'no org id' } : { status: 204 }));
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url);
    s.write([rec(1)]);
    await until(() => loki.got.length === 1);
    s.write([rec(2)]);
    await until(() => acked.length === 1);
    expect(acked[0]!.line).toBe('line 2');
    expect(loki.got.length).toBe(2);
  });

  it('halves a batch that keeps getting 429 (bigger than the server burst) until it passes', async () => {
    const loki = await fakeLoki((g) => (g.lines.length > 3 ? { status: 429, body: 'Ingestion rate limit exceeded' } : { status: 204 }));
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url, { splitAfter429: 1 });
    s.write(Array.from({ length: 12 }, (_, i) => rec(i)));
    await until(() => acked.length === 12);
    const okLines = loki.got.filter((g) => g.lines.length <= 3).flatMap((g) => g.lines);
    expect(okLines).toEqual(Array.from({ length: 12 }, (_, i) => `line ${i}`));
  });

  it('sends JSON when asked', async () => {
    const loki = await fakeLoki();
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url, { format: 'json', basicAuth: { username: 'u', password: 'p' } });
    s.write([rec(1)]);
    await until(() => acked.length === 1);
    expect(loki.got[0]!.headers['content-type']).toBe('application/json');
    expect(loki.got[0]!.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(JSON.parse(loki.got[0]!.streams[0]!.labels)).toEqual({ app: 'a', cluster: 'c1', container: 'app', namespace: 'ns', source: 'pod' });
  });

  it('memory bound without spool: drops the oldest, counts it, delivers the newest after recovery', async () => {
    let down = true;
    const loki = await fakeLoki(() => (down ? { status: 503 } : { status: 204 }));
    cleanup.push(loki.close);
    const before = await droppedCount('queue_full');
    const { s, acked } = sink(loki.url, { batchBytes: 100, memoryQueueBytes: 1000 });
    for (let i = 0; i < 100; i++) s.write([rec(i)]);
    expect(s.queued().memoryBytes).toBeLessThanOrEqual(1000);
    expect(s.pressure.fill).toBeGreaterThan(0.5);
    const lost = (await droppedCount('queue_full')) - before;
    expect(lost).toBeGreaterThan(50);
    down = false;
    await s.flush(3000);
    expect(acked.length + lost).toBe(100);
    expect(acked.some((r) => r.line === 'line 99')).toBe(true);
    // The oldest went first: line 0 was dropped (unless it was the batch already in flight).
    expect(acked.filter((r) => Number(r.line.split(' ')[1]) < 50).length).toBeLessThan(acked.filter((r) => Number(r.line.split(' ')[1]) >= 50).length);
  });

  it('sends live chunks before backlog after an outage (alternating), each stream still sorted per push', async () => {
    let down = true;
    const loki = await fakeLoki(() => (down ? { status: 503 } : { status: 204 }));
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url, { batchBytes: 100, liveWindowMs: 50, maxBackoffMs: 20 });
    for (let i = 0; i < 40; i++) s.write([rec(i)]);
    await new Promise((r) => setTimeout(r, 120));
    s.write([rec(1000, { line: 'live line' })]);
    await new Promise((r) => setTimeout(r, 30));
    down = false;
    await until(() => acked.length === 41);
    const ok = loki.got.filter((g) => g.status === 204);
    // Ten backlog batches, yet the live line goes in the first or second successful push
    // (the first is the batch that was being retried when Loki came back).
    expect(ok.length).toBeGreaterThanOrEqual(8);
    const liveAt = ok.findIndex((g) => g.lines.includes('live line'));
    expect(liveAt).toBeGreaterThanOrEqual(0);
    expect(liveAt).toBeLessThanOrEqual(1);
    for (const g of ok) {
      for (const st of g.streams) {
        const nums = st.lines.filter((l) => l !== 'live line').map((l) => Number(l.split(' ')[1]));
        expect(nums).toEqual([...nums].sort((a, b) => a - b));
      }
    }
    // Sent live-first, but acknowledged in write order: a source's cursor never passes queued backlog.
    expect(acked.map((r) => r.line)).toEqual([...Array.from({ length: 40 }, (_, i) => `line ${i}`), 'live line']);
  });

  it('holds acknowledgements of batches delivered ahead of older ones within heldAckBytes; past it they are never acknowledged, and counted', async () => {
    const discarded = async () => (await metrics.sinkAcksDiscarded.get()).values.find((v) => v.labels.sink === 'held-test')?.value ?? 0;
    const before = await discarded();
    let down = true;
    const loki = await fakeLoki(() => (down ? { status: 503 } : { status: 204 }));
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url, { name: 'held-test', batchBytes: 100, liveWindowMs: 50, maxBackoffMs: 20, heldAckBytes: 150 });
    for (let i = 0; i < 40; i++) s.write([rec(i)]);
    await new Promise((r) => setTimeout(r, 120));
    for (let i = 0; i < 6; i++) s.write([rec(1000 + i, { line: `live ${i}` })]);
    await new Promise((r) => setTimeout(r, 30));
    down = false;
    await s.flush(5000);
    const lost = (await discarded()) - before;
    const order = (l: string) => (l.startsWith('live') ? 1000 + Number(l.split(' ')[1]) : Number(l.split(' ')[1]));
    const nums = acked.map((r) => order(r.line));
    expect(nums).toEqual([...nums].sort((a, b) => a - b));
    expect(lost).toBeGreaterThan(0);
    expect(acked.length + lost).toBe(46);
    // Every line reached Loki all the same.
    expect(new Set(loki.got.filter((g) => g.status === 204).flatMap((g) => g.lines)).size).toBe(46);
  });
  it('catches up strictly oldest first when the backlog is older than the out-of-order window', async () => {
    let down = true;
    const loki = await fakeLoki(() => (down ? { status: 503 } : { status: 204 }));
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url, { batchBytes: 100, liveWindowMs: 50, maxBackoffMs: 20, outOfOrderWindowMs: 3_600_000 });
    const old = Date.now() - 2 * 3_600_000;
    for (let i = 0; i < 40; i++) s.write([rec(i, {}, old)]);
    await new Promise((r) => setTimeout(r, 120));
    s.write([rec(1000, { line: 'live line' })]);
    await new Promise((r) => setTimeout(r, 30));
    down = false;
    await until(() => acked.length === 41);
    const ok = loki.got.filter((g) => g.status === 204);
    expect(ok.at(-1)!.lines).toContain('live line');
    const seqs = ok.flatMap((g) => g.lines).filter((l) => l !== 'live line').map((l) => Number(l.split(' ')[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});

describe('LokiSink disk spool', () => {
  it('survives a restart: unsent batches go to the spool, a new sink replays and acks them with positions', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rsd-spool-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const down = await fakeLoki(() => ({ status: 503 }));
    cleanup.push(down.close);
    const first = new LokiSink({ url: down.url, batchBytes: 200, memoryQueueBytes: 400, spool: { dir, maxBytes: 1_000_000 }, batchWaitMs: 10, minBackoffMs: 10, maxBackoffMs: 20 });
    const rs = Array.from({ length: 50 }, (_, i) => rec(i));
    first.write(rs);
    await until(() => first.queued().spoolSegments > 0);
    await first.close(100);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.spool'));
    expect(files.length).toBeGreaterThan(1);

    const up = await fakeLoki();
    cleanup.push(up.close);
    const { s: second, acked } = sink(up.url, { spool: { dir, maxBytes: 1_000_000 } });
    await second.ready;
    expect(second.queued().spoolBytes).toBeGreaterThan(0);
    await until(() => acked.length === 50);
    expect(new Set(up.got.flatMap((g) => g.lines))).toEqual(new Set(rs.map((r) => r.line)));
    expect(acked.map((r) => r.position?.key)).toEqual(Array(50).fill('cid'));
    await until(() => second.queued().spoolSegments === 0);
    expect((await readdir(dir)).filter((f) => f.endsWith('.spool'))).toEqual([]);
  });

  it('gives each source only its own records, also those read back from the spool after a restart, and this run\'s after them', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rsd-spool-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const mk = () => {
      const got = { a: [] as LogRecord[], b: [] as LogRecord[] };
      return { got, a: new SourceAcks('a', (rs) => got.a.push(...rs)), b: new SourceAcks('b', (rs) => got.b.push(...rs)) };
    };
    // Batches of two sources and records nobody waits for (no handle), interleaved.
    const write = (s: LokiSink, h: ReturnType<typeof mk>, from: number, n: number) => {
      for (let i = from; i < from + n; i++) s.write([rec(i, { line: `a ${i}`, ack: h.a }), rec(i, { line: `b ${i}`, ack: h.b }), rec(i, { line: `none ${i}`, ack: undefined })]);
    };
    const down = await fakeLoki(() => ({ status: 503 }));
    cleanup.push(down.close);
    const first = new LokiSink({ url: down.url, batchBytes: 300, memoryQueueBytes: 400, spool: { dir, maxBytes: 1_000_000 }, batchWaitMs: 10, minBackoffMs: 10, maxBackoffMs: 20 });
    const before = mk();
    first.register([before.a, before.b]);
    write(first, before, 0, 20);
    await until(() => first.queued().spoolSegments > 0);
    await first.close(100);
    expect([before.got.a.length, before.got.b.length]).toEqual([0, 0]);

    // After the restart: new handles under the same ids, and new lines behind the spooled ones.
    const up = await fakeLoki();
    cleanup.push(up.close);
    const s = new LokiSink({ url: up.url, batchBytes: 300, batchWaitMs: 10, spool: { dir, maxBytes: 1_000_000 } });
    cleanup.push(() => s.close(500));
    const after = mk();
    s.register([after.a, after.b]);
    write(s, after, 20, 10);
    await until(() => after.got.a.length === 30 && after.got.b.length === 30);
    await s.flush(2000);
    const nums = (rs: LogRecord[], p: string) => rs.map((r) => { expect(r.line.startsWith(`${p} `)).toBe(true); return Number(r.line.split(' ')[1]); });
    for (const [rs, p] of [[after.got.a, 'a'], [after.got.b, 'b']] as const) {
      const n = nums(rs, p);
      // The spooled ones (in spool order) first, each once; then this run's, in write order.
      expect([...n.slice(0, 20)].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(n.slice(20)).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
    }
    expect(new Set(up.got.flatMap((g) => g.lines)).size).toBe(90);
  });

  it('drops the oldest spool segment when the spool is full, and counts it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rsd-spool-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const before = await droppedCount('spool_full');
    let down = true;
    const loki = await fakeLoki(() => (down ? { status: 503 } : { status: 204 }));
    cleanup.push(loki.close);
    const { s, acked } = sink(loki.url, { batchBytes: 200, memoryQueueBytes: 300, spool: { dir, maxBytes: 3000 } });
    for (let i = 0; i < 200; i++) s.write([rec(i)]);
    await until(() => s.queued().spoolBytes > 0 && !(s as unknown as { buffer: { busy(): boolean } }).buffer.busy());
    expect(s.queued().spoolBytes).toBeLessThanOrEqual(3000);
    const lost = (await droppedCount('spool_full')) - before;
    expect(lost).toBeGreaterThan(0);
    down = false;
    await s.flush(5000);
    expect(acked.length + lost).toBe(200);
    expect(acked.some((r) => r.line === 'line 199')).toBe(true);
    // Acknowledgements were in write order, and the ordering bookkeeping is empty once drained.
    const nums = acked.map((r) => Number(r.line.split(' ')[1]));
    expect(nums).toEqual([...nums].sort((a, b) => a - b));
    const inner = s as unknown as { acks: { counts(): { outstanding: number; held: number } }; buffer: { spooled(): number } };
    expect([inner.acks.counts().outstanding, inner.buffer.spooled(), inner.acks.counts().held]).toEqual([0, 0, 0]);
  });

  it('flush returns by its deadline while Loki is down', async () => {
    const loki = await fakeLoki(() => ({ status: 503 }));
    cleanup.push(loki.close);
    const { s } = sink(loki.url);
    s.write([rec(1)]);
    const t0 = Date.now();
    await s.flush(300);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(s.queued().memoryBytes).toBeGreaterThan(0);
  });
});
