import type { LogRecord } from '../../model/log-record.ts';
import type { AckDirectory } from '../../delivery/acks.ts';
import type { BatchCodec } from '../../delivery/buffer.ts';
import { addEntry, newChunk, type Chunk } from './chunk.ts';
import { toEntry } from './entry.ts';
import type { LabelBuilder } from './labels.ts';

/**
 * How the Loki sink's batches live in the shared spool (src/delivery/buffer.ts): a batch is one whole
 * segment, a frame per LogRecord (so acks, by the handle's id, still work after a restart), named with
 * the batch's oldest entry time (the scheduler reads it to decide whether catch-up may interleave).
 */
export function lokiSpoolCodec(o: { labels: LabelBuilder; maxLineBytes: number; handles: AckDirectory }): BatchCodec<Chunk> {
  return {
    items: (c) => c.records.length,
    encode: (c) => c.records.map((r) => JSON.stringify(r)),
    meta: (c) => (Number.isFinite(c.minTsMs) ? Math.floor(c.minTsMs) : Number.NaN),
    decode(payloads, seg) {
      // Always one chunk, empty when nothing survived: its write order is settled when it finishes.
      const c = newChunk(Date.now(), seg.orders[0] ?? 0);
      let corrupt = 0;
      for (const p of payloads) {
        let r: LogRecord;
        try {
          r = JSON.parse(p) as LogRecord;
          if (typeof r.line !== 'string' || typeof r.ts !== 'string' || !r.target) {
            corrupt++;
            continue;
          }
          // The spool file has the handle's id (AckHandle.toJSON): the handle again, by id.
          r.ack = o.handles.resolve(r.ack as unknown);
          addEntry(c, toEntry(r, o.labels, o.maxLineBytes), r);
        } catch {
          corrupt++;
        }
      }
      return { batches: [c], corrupt };
    },
  };
}
