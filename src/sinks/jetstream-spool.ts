/**
 * How the JetStream sink's findings live in the shared delivery buffer (src/delivery/buffer.ts): a
 * batch is one finding, appended as one frame to the open segment (sealed and fsynced every
 * `segmentBatches`), so a crash replays at most the unacknowledged tail and the stream's duplicate
 * window swallows what was already stored (Nats-Msg-Id = finding_id).
 */
import type { BatchCodec, Buffered } from '../delivery/buffer.ts';

export interface SpoolItem {
  subject: string;
  msgId: string;
  payload: string;
}

/** A finding waiting for its PubAck. */
export interface QueuedFinding extends SpoolItem, Buffered {
  /** When it was queued (this run), for the publish-latency histogram. */
  enqueuedAt: number;
}

const encode = (i: SpoolItem): string => JSON.stringify({ s: i.subject, m: i.msgId, p: i.payload });

function decode(payload: string): SpoolItem | undefined {
  try {
    const v = JSON.parse(payload) as { s?: unknown; m?: unknown; p?: unknown };
    if (typeof v.s === 'string' && typeof v.m === 'string' && typeof v.p === 'string') return { subject: v.s, msgId: v.m, payload: v.p };
  } catch {
    // a torn line of the earlier format: counted by the caller
  }
  return undefined;
}

export const findingSpoolCodec: BatchCodec<QueuedFinding> = {
  items: () => 1,
  encode: (f) => [encode(f)],
  decode(payloads, seg) {
    const now = Date.now();
    const batches: QueuedFinding[] = [];
    let corrupt = 0;
    payloads.forEach((p, i) => {
      const it = decode(p);
      if (it) batches.push({ ...it, bytes: Buffer.byteLength(it.payload), order: seg.orders[i] ?? seg.orders[0] ?? 0, enqueuedAt: now });
      else corrupt++;
    });
    return { batches, corrupt };
  },
};
