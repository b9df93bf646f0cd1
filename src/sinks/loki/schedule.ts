/**
 * Which queue the next push comes from. With no backlog, the oldest sealed batch. Once there is a
 * backlog (anything spooled, or the oldest batch in memory older than `liveWindowMs`), sending
 * alternates newest / oldest so the present is not starved behind catch-up, unless the backlog is
 * older than Loki's out-of-order window: then lines of the same streams newer than it would make
 * Loki refuse it (too_far_behind), so catch-up goes strictly oldest first. (Retries go before all of this: the
 * sink takes them first.)
 *
 * Pure: the sink passes what its queues hold and keeps `liveTurn` between calls.
 */
export interface QueueView {
  now: number;
  sealed: number;
  /** createdAt of the oldest sealed batch. */
  oldestSealedCreatedAt: number | undefined;
  /** Oldest entry time of the oldest sealed batch. */
  oldestSealedMinTs: number | undefined;
  spooled: number;
  /** Oldest entry time of the oldest spool segment (NaN when its name does not say). */
  oldestSpooledMinTs: number | undefined;
  liveWindowMs: number;
  outOfOrderWindowMs: number;
  /** Whether the previous interleaved pick was the live (newest) one. */
  liveTurn: boolean;
}

export type Take = 'oldest' | 'newest' | 'spool' | 'none';

export function nextTake(q: QueueView): { take: Take; liveTurn: boolean } {
  const backlog = q.spooled > 0 || (q.oldestSealedCreatedAt !== undefined && q.now - q.oldestSealedCreatedAt > q.liveWindowMs);
  const fromMemory = (): Take => (q.sealed > 0 ? 'oldest' : 'none');
  if (!backlog) return { take: fromMemory(), liveTurn: q.liveTurn };
  const oldestTs = q.spooled > 0 ? (q.oldestSpooledMinTs ?? Number.NaN) : (q.oldestSealedMinTs ?? Infinity);
  if (Number.isNaN(oldestTs) || q.now - oldestTs > q.outOfOrderWindowMs) {
    return { take: q.spooled > 0 ? 'spool' : fromMemory(), liveTurn: q.liveTurn };
  }
  const liveTurn = !q.liveTurn;
  if (liveTurn && q.sealed > 0) return { take: 'newest', liveTurn };
  return { take: q.spooled > 0 ? 'spool' : fromMemory(), liveTurn };
}
