import { describe, expect, it } from 'vitest';
import { Cursor, lineHash, ResumeFilter } from '../../src/sources/kube/cursor.ts';

const T = (s: string): string => `2026-01-01T00:00:${s}Z`;

describe('Cursor', () => {
  it('tracks max, keeps lines of the reorder window and sets the floor at its start', () => {
    const c = new Cursor({ windowMs: 1000, maxSeen: 100 });
    c.add(T('01.000000000'), 'a');
    c.add(T('01.500000000'), 'b');
    c.add(T('03.000000000'), 'c');
    expect(c.max).toBe(T('03.000000000'));
    expect(c.floor).toBe(T('02.000000000'));
    expect(c.size).toBe(1); // a and b fell out of the window
    expect(c.taken(T('03.000000000'), 'c')).toBe(1);
  });

  it('counts repeated identical lines at one instant', () => {
    const c = new Cursor();
    c.add(T('01.000000000'), 'x');
    c.add(T('01.000000000'), 'x');
    expect(c.taken(T('01.000000000'), 'x')).toBe(2);
  });

  it('accepts an out-of-order line inside the window', () => {
    const c = new Cursor({ windowMs: 2000, maxSeen: 100 });
    c.add(T('05.000000000'), 'late-stdout');
    c.add(T('04.900000000'), 'early-stderr');
    expect(c.max).toBe(T('05.000000000'));
    expect(c.taken(T('04.900000000'), 'early-stderr')).toBe(1);
  });

  it('is bounded: the oldest instants go first and raise the floor', () => {
    const c = new Cursor({ windowMs: 10_000, maxSeen: 3 });
    for (let i = 0; i < 5; i++) c.add(T(`01.${String(i).padStart(9, '0')}`), `l${i}`);
    expect(c.size).toBe(3);
    expect(c.floor).toBe(T('01.000000002'));
  });

  it('survives serialization', () => {
    const c = new Cursor();
    c.add(T('01.000000000'), 'a');
    c.add(T('01.000000000'), 'a');
    c.add(T('01.100000000'), 'b');
    const back = Cursor.parse(c.serialize())!;
    expect(back.toJSON()).toEqual(c.toJSON());
    expect(Cursor.parse(Buffer.from('garbage'))).toBeNull();
    expect(Cursor.parse(null)).toBeNull();
  });
});

describe('ResumeFilter', () => {
  it('drops exactly the replayed lines already taken, keeps the rest, then turns off', () => {
    const c = new Cursor({ windowMs: 500, maxSeen: 100 });
    c.add(T('01.000000000'), lineHash('same'));
    c.add(T('01.000000000'), lineHash('other'));
    const f = new ResumeFilter(c, 1000);
    const admit = (ts: string, line: string): boolean => f.admit(ts, () => lineHash(line));
    expect(admit(T('00.100000000'), 'before the floor')).toBe(false);
    expect(admit(T('00.700000000'), 'inside the reorder window, never taken')).toBe(true);
    expect(admit(T('01.000000000'), 'same')).toBe(false);
    expect(admit(T('01.000000000'), 'not taken at the same instant')).toBe(true);
    expect(admit(T('01.000000000'), 'other')).toBe(false);
    expect(admit(T('01.000000000'), 'same')).toBe(true); // taken once, replayed twice: the second is new
    expect(admit(T('01.500000000'), 'new')).toBe(true);
    expect(f.active).toBe(true);
    expect(admit(T('02.500000000'), 'clearly live')).toBe(true);
    expect(f.active).toBe(false);
    expect(admit(T('00.000000000'), 'old-looking live line')).toBe(true);
    expect(f.dropped).toBe(3);
  });
});
