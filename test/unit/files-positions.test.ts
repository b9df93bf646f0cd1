import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { ANCHOR_DRIFT_MS, ANCHOR_RESERVE, Content, fingerprintOf, formatTs, matchFingerprint, PositionStore, type FileRecordJson } from '../../src/sources/files/positions.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import type { StateStore } from '../../src/state/store.ts';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

describe('fingerprints', () => {
  it('match while a file grows, and grow with it up to the size', () => {
    const a = fingerprintOf(Buffer.from('hello'), 16);
    expect(a.len).toBe(5);
    const m = matchFingerprint(Buffer.from('hello world, more'), a, 16);
    expect(m.match).toBe(true);
    expect(m.fp.len).toBe(16);
    expect(matchFingerprint(Buffer.from('hello world, more than that'), m.fp, 16).match).toBe(true);
  });

  it('do not match other bytes, nor a file shorter than what was hashed (truncated)', () => {
    const fp = fingerprintOf(Buffer.from('first line\n'), 1024);
    expect(matchFingerprint(Buffer.from('other line\n'), fp, 1024).match).toBe(false);
    expect(matchFingerprint(Buffer.from('first'), fp, 1024).match).toBe(false);
    // An empty fingerprint (an empty file when first seen) matches whatever it grows into.
    expect(matchFingerprint(Buffer.from('x'), fingerprintOf(Buffer.alloc(0), 1024), 1024).match).toBe(true);
  });
});

describe('timestamp anchors', () => {
  it('date lines by their offset: the same offsets give the same timestamps after a reload', () => {
    const c = new Content('k1', { hash: '', len: 0 }, 0);
    const a = c.plan([0, 10, 25], 40, T0);
    expect(a).toMatchObject({ off: 0, ms: T0, end: ANCHOR_RESERVE });
    c.addAnchor(a!);
    const first = [0, 10, 25].map((o) => c.ts(o).ts);
    expect(new Set(first).size).toBe(3);
    expect([...first].sort()).toEqual(first);
    // Within the reservation and the drift allowance, no new anchor (no store write).
    expect(c.plan([40, 60], 80, T0 + ANCHOR_DRIFT_MS - 1)).toBeNull();
    const again = Content.from(JSON.parse(JSON.stringify(c.toJSON())))!;
    expect([0, 10, 25, 40, 60].map((o) => again.ts(o).ts)).toEqual([0, 10, 25, 40, 60].map((o) => c.ts(o).ts));
  });

  it('re-anchor when dates drift behind the clock, never going back in time', () => {
    const c = new Content('k2', { hash: '', len: 0 }, 0);
    c.addAnchor(c.plan([0], 100, T0)!);
    const later = c.plan([100], 200, T0 + 5000);
    expect(later).toMatchObject({ off: 100, ms: T0 + 5000 });
    c.addAnchor(later!);
    expect(c.ts(100).ms).toBe(T0 + 5000);
    expect(c.ts(150).ts > c.ts(100).ts).toBe(true);
    // A clock that went backwards still gives growing timestamps along the file.
    const back = c.plan([ANCHOR_RESERVE + 200], ANCHOR_RESERVE + 300, T0);
    expect(back!.ms).toBeGreaterThanOrEqual(T0 + 5000);
  });

  it('after a reload, offsets below the stored reservation keep their stored anchors whatever the clock says', () => {
    const c = new Content('k3', { hash: '', len: 0 }, 0);
    c.addAnchor(c.plan([0], 500, T0)!);
    const stored = Content.from(c.toJSON())!;
    // An hour later a restarted detector re-reads offset 300 (emitted before the crash, not acknowledged).
    expect(stored.plan([300], 500, T0 + 3_600_000)).toBeNull();
    expect(stored.ts(300)).toEqual(c.ts(300));
    // Past the reservation it anchors anew.
    expect(stored.plan([ANCHOR_RESERVE + 1], ANCHOR_RESERVE + 10, T0 + 3_600_000)).toMatchObject({ off: ANCHOR_RESERVE + 1, ms: T0 + 3_600_000 });
  });

  it('acknowledgements advance the position and drop anchors that only date acknowledged lines', () => {
    const c = new Content('k4', { hash: 'h', len: 3 }, 0);
    c.addAnchor({ off: 0, ms: T0, sub: 0, end: 100 });
    c.addAnchor({ off: 100, ms: T0 + 2000, sub: 0, end: 200 });
    c.addAnchor({ off: 200, ms: T0 + 4000, sub: 0, end: 300 });
    expect(c.ack(50, false)).toBe(true);
    expect(c.ack(40, false)).toBe(false);
    expect(c.anchors.map((a) => a.off)).toEqual([0, 100, 200]);
    c.ack(150, false);
    expect(c.anchors.map((a) => a.off)).toEqual([100, 200]);
    c.ack(300, true);
    expect(c.anchors.map((a) => a.off)).toEqual([200]);
    expect(c.toJSON()).toMatchObject({ acked: 300, skip: true, fp: ['h', 3] });
  });

  it('formats RFC3339 with nanoseconds', () => {
    expect(formatTs(T0 + 123, 456789)).toBe('2026-03-01T10:00:00.123456789Z');
  });
});

describe('position store', () => {
  it('coalesces writes of one key and never runs two at once', async () => {
    let running = 0;
    let maxRunning = 0;
    const puts: string[] = [];
    const inner = new MemoryStore();
    const slow: StateStore = {
      kind: 'memory',
      get: (k) => inner.get(k),
      delete: (k) => inner.delete(k),
      close: async () => {},
      put: async (k, v) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 20));
        puts.push(Buffer.from(v).toString());
        running--;
        return inner.put(k, v);
      },
    };
    let acked = 0;
    const rec = (): FileRecordJson => ({ v: 1, path: '/x', key: 'k', fp: ['h', 1], acked, anchors: [] });
    const ps = new PositionStore({ store: slow, scope: 'host-a', log: createLogger('silent'), flushDelayMs: 5, recordOf: rec, indexOf: () => ({ v: 1, seen: 0, ids: [], orphans: [] }) });
    const waits: Array<Promise<void>> = [];
    for (let i = 1; i <= 5; i++) {
      acked = i;
      waits.push(ps.save('1-2'));
    }
    await Promise.all(waits);
    expect(maxRunning).toBe(1);
    expect(puts.length).toBe(2); // the first, then one for everything requested meanwhile
    expect(JSON.parse(puts.at(-1)!).acked).toBe(5);
    expect(ps.key('1-2')).toBe('files.host-a.1-2');
    expect((await ps.loadRecord('1-2'))?.acked).toBe(5);
    acked = 9;
    ps.schedule('1-2');
    await ps.flushAll();
    expect((await ps.loadRecord('1-2'))?.acked).toBe(9);
  });

  it('a failing store does not stop the caller; the write is retried', async () => {
    let fail = true;
    const inner = new MemoryStore();
    const flaky: StateStore = { kind: 'memory', get: (k) => inner.get(k), delete: (k) => inner.delete(k), close: async () => {}, put: async (k, v) => (fail ? Promise.reject(new Error('disk full')) : inner.put(k, v)) };
    const ps = new PositionStore({ store: flaky, scope: 's', log: createLogger('silent'), flushDelayMs: 10, recordOf: () => ({ v: 1, path: '/x', key: 'k', fp: ['h', 1], acked: 7, anchors: [] }), indexOf: () => ({ v: 1, seen: 0, ids: [], orphans: [] }) });
    await ps.save('a');
    expect(await ps.loadRecord('a')).toBeNull();
    fail = false;
    await new Promise((r) => setTimeout(r, 50));
    await ps.flushAll();
    expect((await ps.loadRecord('a'))?.acked).toBe(7);
  });
});
