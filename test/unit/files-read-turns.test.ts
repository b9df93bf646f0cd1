import { describe, expect, it } from 'vitest';
import { ReadTurns } from '../../src/sources/files/read-turns.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ReadTurns: reads of all files take turns', () => {
  it('grants at most `concurrency` turns at once, first come first served', async () => {
    const turns = new ReadTurns({ concurrency: 2 });
    const order: number[] = [];
    const a = await turns.acquire();
    const b = await turns.acquire();
    const waits = [3, 4, 5].map((i) => turns.acquire().then((t) => (order.push(i), t)));
    await sleep(5);
    expect(order).toEqual([]);
    expect(turns.held).toBe(2);
    expect(turns.waiting).toBe(3);
    a.release();
    a.release(); // a second release of one turn frees nothing more
    await sleep(1);
    expect(order).toEqual([3]);
    expect(turns.held).toBe(2);
    b.release();
    const t3 = await waits[0]!;
    t3.release();
    await Promise.all(waits);
    expect(order).toEqual([3, 4, 5]);
  });

  it('grants nothing above 0.9 fill until the fill is under 0.7; a turn waited through a pause says so', async () => {
    const pressure = { fill: 0.95 };
    const pauses: boolean[] = [];
    const turns = new ReadTurns({ concurrency: 4, pressure, onPause: (p) => pauses.push(p) });
    let got: { paused: boolean } | undefined;
    void turns.acquire().then((t) => (got = t));
    await sleep(120);
    expect(got).toBeUndefined();
    expect(turns.paused).toBe(true);
    pressure.fill = 0.8; // between the thresholds: still paused
    await sleep(120);
    expect(got).toBeUndefined();
    pressure.fill = 0.5;
    await sleep(120);
    expect(got?.paused).toBe(true);
    expect(pauses).toEqual([true, false]);
    // No pause since: an ordinary turn.
    const t = await turns.acquire();
    expect(t.paused).toBe(false);
  });

  it('close() lets every waiter through at once (stop)', async () => {
    const turns = new ReadTurns({ concurrency: 1, pressure: { fill: 1 } });
    const w = Promise.all([turns.acquire(), turns.acquire()]);
    turns.close();
    const got = await w;
    expect(got).toHaveLength(2);
    expect(turns.waiting).toBe(0);
    expect((await turns.acquire()).paused).toBe(false);
  });

  it('rejects a concurrency below 1', () => {
    expect(() => new ReadTurns({ concurrency: 0 })).toThrow(/at least 1/);
  });

  it('a queue too small for the reads in flight pauses earlier, leaving room for them; a large one keeps 0.9 / 0.7', async () => {
    // 4 reads of 256 KiB, twice that as sink entries: 2 MiB in flight. A 4 MiB queue pauses above 0.5.
    const small = { fill: 0.6, capacityBytes: 4 << 20 };
    const t1 = new ReadTurns({ concurrency: 4, pressure: small, readBytes: 256 * 1024 });
    let got: unknown;
    void t1.acquire().then((t) => (got = t));
    await sleep(10);
    expect(t1.paused).toBe(true);
    expect(got).toBeUndefined();
    small.fill = 0.3;
    await sleep(120);
    expect(got).toBeDefined();
    t1.close();
    // A 64 MiB queue: the overshoot fits above 0.9, the usual thresholds apply.
    const big = { fill: 0.85, capacityBytes: 64 << 20 };
    const t2 = new ReadTurns({ concurrency: 4, pressure: big, readBytes: 256 * 1024 });
    (await t2.acquire()).release();
    expect(t2.paused).toBe(false);
    big.fill = 0.95;
    void t2.acquire();
    await sleep(10);
    expect(t2.paused).toBe(true);
    t2.close();
  });
});
