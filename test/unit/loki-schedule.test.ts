/** The Loki sink's choice of the next batch (src/sinks/loki/schedule.ts), on its own. */
import { describe, expect, it } from 'vitest';
import { nextTake, type QueueView } from '../../src/sinks/loki/schedule.ts';

const now = 1_800_000_000_000;
const view = (o: Partial<QueueView>): QueueView => ({
  now,
  sealed: 0,
  oldestSealedCreatedAt: undefined,
  oldestSealedMinTs: undefined,
  spooled: 0,
  oldestSpooledMinTs: undefined,
  liveWindowMs: 30_000,
  outOfOrderWindowMs: 3_000_000,
  liveTurn: false,
  ...o,
});

describe('nextTake', () => {
  it('no backlog: the oldest sealed batch, or nothing', () => {
    expect(nextTake(view({})).take).toBe('none');
    expect(nextTake(view({ sealed: 3, oldestSealedCreatedAt: now - 1000, oldestSealedMinTs: now - 1000 })).take).toBe('oldest');
  });

  it('a backlog inside the out-of-order window: newest and oldest take turns', () => {
    let q = view({ sealed: 5, oldestSealedCreatedAt: now - 60_000, oldestSealedMinTs: now - 60_000, spooled: 2, oldestSpooledMinTs: now - 120_000 });
    const takes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = nextTake(q);
      takes.push(c.take);
      q = { ...q, liveTurn: c.liveTurn };
    }
    expect(takes).toEqual(['newest', 'spool', 'newest', 'spool']);
    // Old memory batches alone (nothing spooled) are a backlog too.
    expect(nextTake(view({ sealed: 2, oldestSealedCreatedAt: now - 60_000, oldestSealedMinTs: now - 60_000 })).take).toBe('newest');
    expect(nextTake(view({ sealed: 2, oldestSealedCreatedAt: now - 60_000, oldestSealedMinTs: now - 60_000, liveTurn: true })).take).toBe('oldest');
  });

  it('a backlog older than the window, or of unknown age: strictly oldest first', () => {
    const old = view({ sealed: 5, oldestSealedCreatedAt: now - 60_000, oldestSealedMinTs: now - 60_000, spooled: 2, oldestSpooledMinTs: now - 4_000_000 });
    expect([nextTake(old).take, nextTake({ ...old, liveTurn: true }).take]).toEqual(['spool', 'spool']);
    expect(nextTake({ ...old, oldestSpooledMinTs: Number.NaN }).take).toBe('spool');
    expect(nextTake(view({ sealed: 2, oldestSealedCreatedAt: now - 60_000, oldestSealedMinTs: now - 4_000_000 })).take).toBe('oldest');
  });
});
