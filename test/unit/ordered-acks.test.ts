import { describe, expect, it } from 'vitest';
import { OrderedAcks } from '../../src/delivery/ordered-acks.ts';

describe('OrderedAcks', () => {
  it('acknowledges in write order whatever order batches finish in, and lets a dropped batch unblock younger ones', () => {
    const out: string[][] = [];
    const acks = new OrderedAcks<string>({ maxHeldBytes: 1e6, deliver: (r) => out.push([...r]) });
    for (const o of [1, 2, 3, 4]) acks.track(o);
    acks.done(3, { records: ['c'], bytes: 1 });
    acks.done(2, { records: ['b'], bytes: 1 });
    expect(out).toEqual([]); // 1 is still out
    acks.done(1); // dropped: nothing to acknowledge, but no longer blocking
    expect(out).toEqual([['b'], ['c']]);
    acks.done(4, { records: ['d'], bytes: 1 });
    expect(out).toEqual([['b'], ['c'], ['d']]);
    expect(acks.counts()).toEqual({ outstanding: 0, held: 0 });
  });

  it('a split batch is outstanding until both halves finish', () => {
    const out: string[] = [];
    const acks = new OrderedAcks<string>({ maxHeldBytes: 1e6, deliver: (r) => out.push(...r) });
    acks.track(1);
    acks.track(1);
    acks.track(2);
    acks.done(2, { records: ['z'], bytes: 1 });
    acks.done(1, { records: ['a'], bytes: 1 });
    expect(out).toEqual(['a']);
    acks.done(1, { records: ['b'], bytes: 1 });
    expect(out).toEqual(['a', 'b', 'z']);
  });

  it('past the held bound the oldest held batches are discarded unacknowledged and counted', () => {
    const out: string[] = [];
    let discarded = 0;
    let held = 0;
    const acks = new OrderedAcks<string>({ maxHeldBytes: 10, deliver: (r) => out.push(...r), onDiscard: (n) => (discarded += n), onHeld: (b) => (held = b) });
    for (const o of [0, 1, 2, 3]) acks.track(o);
    acks.done(1, { records: ['a', 'a'], bytes: 6 });
    acks.done(2, { records: ['b'], bytes: 6 });
    expect(discarded).toBe(2);
    expect(held).toBe(6);
    acks.done(3, { records: ['c'], bytes: 6 });
    expect(discarded).toBe(3);
    acks.done(0);
    expect(out).toEqual(['c']);
    expect(acks.heldBack).toBe(0);
  });
});
