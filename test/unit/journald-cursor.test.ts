import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { JournalCursor } from '../../src/sources/journald/cursor.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import type { StateStore } from '../../src/state/store.ts';

const log = createLogger('silent');
const stored = async (s: StateStore, key: string) => {
  const b = await s.get(key);
  return b ? (JSON.parse(Buffer.from(b).toString()) as { cursor: string; realtime?: string }) : null;
};

describe('journald: cursor', () => {
  it('advances only through acknowledged entries, in read order', async () => {
    const store = new MemoryStore();
    const c = new JournalCursor({ store, key: 'k', flushDelayMs: 0, log });
    expect(await c.load()).toBeNull();
    const s = ['c0', 'c1', 'c2', 'c3'].map((x, i) => c.emitted(x, String(i)));
    expect(c.pending).toBe(4);
    c.acknowledge(s[1]!);
    expect(c.acked).toBeNull(); // c0 not acknowledged yet
    c.acknowledge(s[0]!);
    expect(c.acked).toBe('c1');
    c.skipped('c4', '4'); // read, not sent: waits for c2, c3
    expect(c.acked).toBe('c1');
    c.acknowledge(s[3]!);
    c.acknowledge(s[2]!);
    expect(c.acked).toBe('c4');
    expect(c.pending).toBe(0);
    expect(c.lastRead).toBe('c4');
    c.acknowledge(s[2]!); // again: ignored
    c.acknowledge(99);
    await c.flush();
    expect(await stored(store, 'k')).toMatchObject({ cursor: 'c4', realtime: '4' });
  });

  it('a skipped entry with nothing pending moves the cursor at once', async () => {
    const store = new MemoryStore();
    const c = new JournalCursor({ store, key: 'k', flushDelayMs: 10_000, log });
    c.skipped('s1', undefined);
    expect(c.acked).toBe('s1');
    await c.flush();
    expect((await stored(store, 'k'))!.cursor).toBe('s1');
  });

  it('writes coalesced after flushDelay, and loads what was written', async () => {
    const store = new MemoryStore();
    const c = new JournalCursor({ store, key: 'k', flushDelayMs: 30, log });
    for (let i = 0; i < 10_000; i++) c.acknowledge(c.emitted(`c${i}`, undefined));
    expect(await stored(store, 'k')).toBeNull();
    await new Promise((r) => setTimeout(r, 80));
    expect((await stored(store, 'k'))!.cursor).toBe('c9999');
    const again = new JournalCursor({ store, key: 'k', flushDelayMs: 30, log });
    expect(await again.load()).toBe('c9999');
    expect(again.acked).toBe('c9999');
    expect(again.lastRead).toBe('c9999');
  });

  it('ignores a damaged stored cursor and retries a failed write', async () => {
    const store = new MemoryStore();
    await store.put('k', Buffer.from('{not json'));
    const c = new JournalCursor({ store, key: 'k', flushDelayMs: 5, log });
    expect(await c.load()).toBeNull();
    let fail = 1;
    const flaky: StateStore = {
      kind: 'memory',
      get: (k) => store.get(k),
      put: async (k, v) => {
        if (fail-- > 0) throw new Error('disk full');
        await store.put(k, v);
      },
      delete: (k) => store.delete(k),
      close: async () => {},
    };
    const d = new JournalCursor({ store: flaky, key: 'k', flushDelayMs: 5, log });
    d.acknowledge(d.emitted('x', undefined));
    await new Promise((r) => setTimeout(r, 60));
    expect((await stored(store, 'k'))!.cursor).toBe('x');
  });
});
