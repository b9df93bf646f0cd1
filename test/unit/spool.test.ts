/**
 * The one spool format (src/delivery/spool.ts) as both sinks use it: whole segments and appended ones,
 * read back in order across a restart; a truncated or corrupt file gives its good frames and counts the
 * bad ones; a full disk (a real 64 KiB tmpfs when this user may mount one, else /dev/full) fails the write with nothing
 * left under a real name; files of the earlier format are still replayed. The Loki sink replays the good
 * part of a damaged segment and counts the rest.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { frame, SegmentSpool, unframe, type SpoolLoss } from '../../src/delivery/spool.ts';
import { smallDisk, unmountAll } from '../helpers/small-disk.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { SourceAcks } from '../../src/delivery/acks.ts';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';

const dirs: string[] = [];
afterAll(() => {
  unmountAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'rsd-spool-'));
  dirs.push(d);
  return d;
};
const payload = (i: number): string => JSON.stringify({ n: i, text: `line ${i} ü ✓` });
const nums = (ps: string[]): number[] => ps.map((p) => (JSON.parse(p) as { n: number }).n);

function losses(): { seen: Record<SpoolLoss, number>; codes: string[]; onLoss: (r: SpoolLoss, n: number, e?: Error) => void } {
  const seen: Record<SpoolLoss, number> = { write_error: 0, corrupt: 0 };
  const codes: string[] = [];
  return { seen, codes, onLoss: (r, n, e) => ((seen[r] += n), e && codes.push((e as NodeJS.ErrnoException).code ?? e.message)) };
}

describe('the spool format', () => {
  it('frames carry a checksum of the payload; a payload with a newline is refused', () => {
    const f = frame('{"a":"ü"}');
    expect(f).toMatch(/^[0-9a-f]{8} \{"a":"ü"\}\n$/);
    expect(unframe(f + f)).toEqual({ payloads: ['{"a":"ü"}', '{"a":"ü"}'], corrupt: 0 });
    expect(() => frame('{"a":\n1}')).toThrow(/one line/);
    // A bare JSON line is a frame only in a file of the earlier format.
    expect(unframe('{"a":1}\n')).toEqual({ payloads: [], corrupt: 1 });
    expect(unframe('{"a":1}\n', true)).toEqual({ payloads: ['{"a":1}'], corrupt: 0 });
  });

  it('whole and appended segments read back oldest first after a restart; `before` goes ahead of everything', async () => {
    const dir = tmp();
    const a = new SegmentSpool(dir);
    const s1 = await a.write([payload(1), payload(2)], { meta: 1_700_000_000_123 });
    for (let i = 3; i <= 5; i++) a.append(payload(i));
    a.seal();
    a.append(payload(6));
    await a.settle();
    const s0 = await a.write([payload(0)], { before: true });
    writeFileSync(join(dir, 'seg-500000000000099.spool.tmp'), 'half a write');
    expect(s0.seq).toBeLessThan(s1.seq);

    const b = new SegmentSpool(dir);
    const segs = await b.opened;
    expect(readdirSync(dir).some((f) => f.endsWith('.tmp'))).toBe(false);
    expect(segs.map((s) => s.count)).toEqual([1, 2, -1, -1]);
    expect(segs[1]!.meta).toBe(1_700_000_000_123);
    const all: number[] = [];
    for (const s of segs) all.push(...nums((await b.read(s)).payloads));
    expect(all).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // New segments of the second run come after the first run's.
    const next = await b.write([payload(7)]);
    expect(next.seq).toBeGreaterThan(Math.max(...segs.map((s) => s.seq)));
    for (const s of [...segs, next]) await b.remove(s);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a truncated file: every whole frame is read, the torn tail counted and dropped', async () => {
    const dir = tmp();
    const rec = losses();
    const w = new SegmentSpool(dir);
    const seg = await w.write(Array.from({ length: 10 }, (_, i) => payload(i)));
    truncateSync(seg.file, seg.bytes - 7); // a crash in the middle of the last frame
    const r = new SegmentSpool(dir, { onLoss: rec.onLoss });
    const [found] = await r.opened;
    const got = await r.read(found!);
    expect(nums(got.payloads)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(got.corrupt).toBe(1);
    expect(rec.seen.corrupt).toBe(1);
  });

  it('a corrupt file: flipped bytes and invalid UTF-8 fail their frames only; the frames after them are read', async () => {
    const dir = tmp();
    const rec = losses();
    const w = new SegmentSpool(dir);
    const seg = await w.write(Array.from({ length: 6 }, (_, i) => payload(i)));
    const bytes = readFileSync(seg.file);
    const lines: number[] = [0];
    bytes.forEach((b, i) => b === 0x0a && lines.push(i + 1));
    const at = lines[1]! + 12;
    bytes[at] = bytes[at]! ^ 0x04; // a flipped bit inside frame 1's payload
    bytes[lines[3]! + 20] = 0xff; // an invalid UTF-8 byte inside frame 3
    writeFileSync(seg.file, Buffer.concat([bytes, Buffer.from('\u0000\u0000 garbage after a crash\n')]));
    const r = new SegmentSpool(dir, { onLoss: rec.onLoss });
    const [found] = await r.opened;
    const got = await r.read(found!);
    expect(nums(got.payloads)).toEqual([0, 2, 4, 5]);
    expect(got.corrupt).toBe(3);
    expect(rec.seen.corrupt).toBe(3);
  });

  it('files of the earlier format (bare JSON lines) are replayed, before the new ones', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'seg-000000000003-2-1700000000000.ndjson'), `${payload(1)}\n${payload(2)}\n`);
    const s = new SegmentSpool(dir);
    const fresh = await s.write([payload(3)]);
    const b = new SegmentSpool(dir);
    const segs = await b.opened;
    expect(segs.map((x) => [x.legacy, x.count])).toEqual([[true, 2], [false, 1]]);
    expect(segs[0]!.meta).toBe(1_700_000_000_000);
    expect(nums((await b.read(segs[0]!)).payloads)).toEqual([1, 2]);
    expect(segs[1]!.seq).toBe(fresh.seq);
  });

  it('a full disk: a whole segment is refused with ENOSPC and leaves nothing behind; appends count their loss and the spool goes on', async () => {
    // A real 64 KiB tmpfs; where this user may not mount one, /dev/full (every write fails with ENOSPC)
    // under the names the first whole segment and the appended one will take.
    const disk = smallDisk();
    const dir = disk ?? tmp();
    const rec = losses();
    const s = new SegmentSpool(dir, { onLoss: rec.onLoss });
    await s.opened;
    if (!disk) symlinkSync('/dev/full', join(dir, 'seg-500000000000000-100.spool.tmp'));
    const big = Array.from({ length: 100 }, (_, i) => JSON.stringify({ n: i, pad: 'x'.repeat(1000) }));
    await expect(s.write(big)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(readdirSync(dir)).toEqual([]);
    const small = await s.write(big.slice(0, 10));
    if (!disk) symlinkSync('/dev/full', join(dir, 'seg-500000000000002.spool'));
    for (const p of big) s.append(p);
    await s.settle();
    expect(rec.seen.write_error).toBeGreaterThan(0);
    expect(rec.codes).toContain('ENOSPC');
    expect((await s.read(small)).payloads).toHaveLength(10);
  });
});

describe('the Loki sink on a damaged spool', () => {
  it('replays the good records of a truncated segment, counts the torn one, and acknowledges what it sent', async () => {
    const dir = tmp();
    const lines: string[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const acks = new SourceAcks('src', (rs) => lines.push(...rs.map((r) => r.line)));
    const now = Date.now();
    // As the sink spills them: the handle is written as its id (AckHandle.toJSON).
    const rec = (i: number): LogRecord => ({
      ts: new Date(now + i).toISOString(),
      tsMs: now + i,
      line: `line ${i}`,
      stream: 'stdout',
      kind: 'pod',
      level: 'info',
      target: { cluster: 'c1', namespace: 'ns', pod: 'p', container: 'app', app: 'a' },
      position: { key: 'cid', ts: new Date(now + i).toISOString() },
      ack: acks,
    });
    const w = new SegmentSpool(dir);
    const seg = await w.write(Array.from({ length: 8 }, (_, i) => JSON.stringify(rec(i))), { meta: Date.now() });
    truncateSync(seg.file, seg.bytes - 5);
    const before = (await metrics.dropped.get()).values.find((v) => v.labels.component === 'loki' && v.labels.reason === 'spool_corrupt')?.value ?? 0;

    const sink = new LokiSink({ url, batchWaitMs: 10, spool: { dir, maxBytes: 1 << 20 } });
    sink.register([acks]);
    await sink.flush(3000);
    await sink.close(500);
    server.close();
    expect(lines).toEqual(Array.from({ length: 7 }, (_, i) => `line ${i}`));
    const after = (await metrics.dropped.get()).values.find((v) => v.labels.component === 'loki' && v.labels.reason === 'spool_corrupt')?.value ?? 0;
    expect(after - before).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
