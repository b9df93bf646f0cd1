/**
 * The shared delivery buffer (src/delivery/buffer.ts) both sinks queue in: memory first (the newest),
 * its oldest spilled to the spool, the spool's oldest dropped past its bound; a full disk, a truncated
 * or corrupt segment, a restart in the middle. Real files (and a real 64 KiB tmpfs, or /dev/full where
 * this user may not mount one).
 */
import { mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeliveryBuffer, PREVIOUS_RUN, type BatchCodec, type Buffered } from '../../src/delivery/buffer.ts';
import { smallDisk, unmountAll } from '../helpers/small-disk.ts';

interface Batch extends Buffered {
  nums: number[];
}

const codec: BatchCodec<Batch> = {
  items: (b) => b.nums.length,
  encode: (b) => b.nums.map((n) => JSON.stringify({ n, pad: 'x'.repeat(90) })),
  meta: (b) => b.nums[0] ?? Number.NaN,
  decode(payloads, seg) {
    const nums: number[] = [];
    let corrupt = 0;
    for (const p of payloads) {
      const v = JSON.parse(p) as { n?: unknown };
      if (typeof v.n === 'number') nums.push(v.n);
      else corrupt++;
    }
    return { batches: nums.length ? [{ nums, bytes: nums.length * 100, order: seg.orders[0] ?? 0 }] : [], corrupt };
  },
};

const dirs: string[] = [];
afterAll(() => {
  unmountAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'rsd-buffer-'));
  dirs.push(d);
  return d;
};

let nextOrder = 0;
/** A batch of `k` items starting at `from`, 100 bytes an item. */
const batch = (from: number, k = 10): Batch => ({ nums: Array.from({ length: k }, (_, i) => from + i), bytes: k * 100, order: nextOrder++ });

function make(o: { memoryBytes: number; maxBatches?: number; dir?: string; spoolBytes?: number; mode?: 'whole' | 'append' }) {
  const drops: Array<{ reason: string; items: number; orders: readonly number[]; err?: string }> = [];
  const replayed: number[] = [];
  const buf = new DeliveryBuffer<Batch>({
    name: 'buffer-test',
    memory: { maxBytes: o.memoryBytes, ...(o.maxBatches !== undefined ? { maxBatches: o.maxBatches } : {}) },
    ...(o.dir ? { spool: { dir: o.dir, maxBytes: o.spoolBytes ?? 1 << 20, mode: o.mode ?? 'whole', segmentBatches: 2 } } : {}),
    codec,
    reasons: { memoryFull: 'queue_full', spoolFull: 'spool_full', spoolError: 'spool_error', spoolCorrupt: 'spool_corrupt' },
    onDrop: (reason, items, orders, err) => drops.push({ reason, items, orders: [...orders], ...(err ? { err: (err as NodeJS.ErrnoException).code ?? String(err) } : {}) }),
    onReplay: (orders) => replayed.push(...orders),
  });
  const dropped = (reason: string): number => drops.filter((d) => d.reason === reason).reduce((n, d) => n + d.items, 0);
  return { buf, drops, dropped, replayed };
}

async function drain(buf: DeliveryBuffer<Batch>): Promise<number[]> {
  const out: number[] = [];
  for (let b = await buf.takeOldest(); b; b = await buf.takeOldest()) {
    out.push(...b.nums);
    await buf.done(b);
  }
  return out;
}

describe('the delivery buffer', () => {
  it('memory alone: past the byte or the batch bound the oldest queued batch is dropped, counted with its order; reserved bytes are never dropped', async () => {
    const { buf, drops, dropped } = make({ memoryBytes: 4000 });
    buf.reserve(1000); // a batch being filled, or one in flight
    const bs = [batch(0), batch(10), batch(20)];
    for (const b of bs) buf.push(b);
    expect(buf.memoryBytes()).toBe(4000);
    expect(dropped('queue_full')).toBe(0);
    buf.push(batch(30));
    expect(dropped('queue_full')).toBe(10);
    expect(drops[0]!.orders).toEqual([bs[0]!.order]);
    expect(buf.memoryBytes()).toBe(4000);
    // Reserving more pushes queued batches out, never the reservation.
    buf.reserve(3000);
    expect(buf.queuedBatches()).toBe(0);
    expect(buf.memoryBytes()).toBe(4000);
    expect(dropped('queue_full')).toBe(40);
    buf.unreserve(4000);
    expect(buf.fill()).toBe(0);

    const byCount = make({ memoryBytes: 1 << 20, maxBatches: 2 });
    for (let i = 0; i < 5; i++) byCount.buf.push(batch(i * 10));
    expect(byCount.buf.memoryBatches()).toBe(2);
    expect(byCount.dropped('queue_full')).toBe(30);
    expect(await drain(byCount.buf)).toEqual([30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
  });

  it('memory then spool: the oldest spill to disk; taking goes spool first, oldest first; the newest can be taken for a live turn', async () => {
    const dir = tmp();
    const { buf, dropped } = make({ memoryBytes: 2000, dir });
    for (let i = 0; i < 6; i++) buf.push(batch(i * 10));
    await buf.settle();
    expect(dropped('queue_full') + dropped('spool_full')).toBe(0);
    expect(buf.memoryBytes()).toBe(2000);
    expect(buf.spooled()).toBe(4);
    expect(readdirSync(dir).filter((f) => f.endsWith('.spool'))).toHaveLength(4);
    expect(buf.oldestSpooledMeta()).toBe(0); // the codec keeps the first item in the name
    const live = buf.takeNewest()!;
    expect(live.nums[0]).toBe(50);
    await buf.done(live);
    expect(await drain(buf)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(readdirSync(dir)).toEqual([]);
    expect([buf.memoryBytes(), buf.spoolBytes(), buf.spooled()]).toEqual([0, 0, 0]);
  });

  it('spool bound: the oldest segments go, counted; the account never passes the bound; the newest arrive', async () => {
    const dir = tmp();
    const { buf, dropped, drops } = make({ memoryBytes: 1000, dir, spoolBytes: 5 * 1050 });
    let maxSpool = 0;
    const orderOf = new Map<number, number>(); // first item → write order
    for (let i = 0; i < 20; i++) {
      const b = batch(i * 10);
      orderOf.set(b.nums[0]!, b.order);
      buf.push(b);
      await buf.settle();
      maxSpool = Math.max(maxSpool, buf.spoolBytes());
    }
    expect(maxSpool).toBeLessThanOrEqual(5 * 1050);
    const got = await drain(buf);
    expect(got.length + dropped('spool_full')).toBe(200);
    expect(got.at(-1)).toBe(199);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    // Oldest first: every dropped batch is older than every delivered one.
    expect(dropped('spool_full')).toBeGreaterThan(0);
    const deliveredOrders = got.filter((x) => x % 10 === 0).map((x) => orderOf.get(x)!);
    expect(Math.max(...drops.flatMap((d) => d.orders))).toBeLessThan(Math.min(...deliveredOrders));
  });

  it('append mode: the same bound holds for frames of an open segment, sealed every segmentBatches', async () => {
    const dir = tmp();
    const { buf, dropped } = make({ memoryBytes: 0, dir, spoolBytes: 4 * 1060, mode: 'append' });
    for (let i = 0; i < 12; i++) buf.push(batch(i * 10));
    await buf.settle();
    expect(buf.spoolBytes()).toBeLessThanOrEqual(4 * 1060);
    const got = await drain(buf);
    expect(got.length + dropped('spool_full')).toBe(120);
    expect(got.at(-1)).toBe(119);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a full disk: the spill is refused (ENOSPC), counted as a spool error with its order, and the buffer goes on', async () => {
    const disk = smallDisk();
    const dir = disk ?? tmp();
    const { buf, drops, dropped } = make({ memoryBytes: 0, dir, spoolBytes: 10 << 20 });
    await buf.ready;
    // 10 small items, then twice 400 of ~110 bytes: the second big one does not fit 64 KiB. Where no
    // tmpfs can be mounted, the temporary names of both big segments are /dev/full.
    if (!disk) for (const [s, first] of [[1, 10], [2, 410]]) symlinkSync('/dev/full', join(dir, `seg-${500_000_000_000_000 + s!}-400-${first!}.spool.tmp`));
    buf.push(batch(0));
    buf.push(batch(10, 400));
    buf.push(batch(410, 400));
    await buf.settle();
    expect(dropped('spool_error')).toBeGreaterThanOrEqual(400);
    expect(drops.find((d) => d.reason === 'spool_error')!.err).toBe('ENOSPC');
    const got = await drain(buf);
    expect(got.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(got.length + dropped('spool_error')).toBe(810);
    expect([buf.memoryBytes(), buf.spoolBytes()]).toEqual([0, 0]);
  });

  it('a truncated and a corrupt segment: the good frames are read, the bad ones counted, the rest of the spool follows', async () => {
    const dir = tmp();
    const first = make({ memoryBytes: 0, dir });
    for (let i = 0; i < 3; i++) first.buf.push(batch(i * 10));
    await first.buf.settle();
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(3);
    // Cut the first segment in the middle of its 6th frame; flip a byte in the second's 3rd frame.
    const a = join(dir, files[0]!);
    truncateSync(a, Math.floor(readFileSync(a).length * 0.55));
    const b = join(dir, files[1]!);
    const text = readFileSync(b, 'utf8').split('\n');
    text[2] = text[2]!.replace('"n":12', '"n":92');
    writeFileSync(b, text.join('\n'));

    const second = make({ memoryBytes: 0, dir });
    await second.buf.ready;
    expect(second.replayed).toEqual(files.map((f) => PREVIOUS_RUN + Number(f.slice(4, 19))));
    const got = await drain(second.buf);
    expect(got).toEqual([0, 1, 2, 3, 4, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(second.dropped('spool_corrupt')).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('shutdown and restart: held batches older than the disk go before it, the memory queue after; requeued and split batches keep their accounts', async () => {
    const dir = tmp();
    const one = make({ memoryBytes: 2000, dir });
    for (let i = 0; i < 5; i++) one.buf.push(batch(i * 10)); // 0–29 on disk, 30–49 in memory
    await one.buf.settle();
    const inFlight = (await one.buf.takeOldest())!; // 0–9, read back from disk
    expect(inFlight.held?.tier).toBe('spool');
    const retry = one.buf.takeNewest()!; // 40–49, a live turn that failed
    one.buf.requeue([retry]);
    expect(one.buf.memoryBytes()).toBe(2000);
    // A batch split in two halves (too big for the store): both are outstanding on its segment.
    const [h1, h2]: [Batch, Batch] = [{ nums: inFlight.nums.slice(0, 5), bytes: 500, order: inFlight.order }, { nums: inFlight.nums.slice(5), bytes: 500, order: inFlight.order }];
    one.buf.split(inFlight, h1, h2);
    await one.buf.done(h1); // delivered
    expect(readdirSync(dir).filter((f) => f.endsWith('.spool'))).toHaveLength(3); // the segment stays for h2
    const lost = await one.buf.persist([h2], 'shutdown');
    expect(lost).toBe(0);

    const two = make({ memoryBytes: 2000, dir });
    expect(await drain(two.buf)).toEqual([5, 6, 7, 8, 9, ...Array.from({ length: 40 }, (_, i) => 10 + i)]);
    expect(readdirSync(dir)).toEqual([]);

    // No spool: what is left at shutdown is dropped, counted.
    const mem = make({ memoryBytes: 1 << 20 });
    mem.buf.push(batch(0));
    const held = (await mem.buf.takeOldest())!;
    mem.buf.push(batch(10));
    expect(await mem.buf.persist([held], 'shutdown')).toBe(20);
    expect(mem.dropped('shutdown')).toBe(20);
    expect(mem.buf.memoryBytes()).toBe(0);
  });
});
