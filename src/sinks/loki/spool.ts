import type { LogRecord } from '../../model/log-record.ts';
import { SegmentSpool, type Segment } from '../../delivery/spool.ts';

/** One spooled batch, in the project's one spool format: a frame per LogRecord, so acks (the handle's id) still work after a restart. */
export interface SpoolSegment {
  readonly segment: Segment;
  readonly seq: number;
  readonly bytes: number;
  readonly lines: number;
  /** Oldest entry time (epoch ms) in the segment, from its name; NaN when unknown. */
  readonly minTsMs: number;
}

const view = (segment: Segment): SpoolSegment => ({ segment, seq: segment.seq, bytes: segment.bytes, lines: Math.max(0, segment.count), minTsMs: segment.meta });

/**
 * The Loki sink's spool: each spilled batch is one whole segment (written to a temporary name,
 * fsynced, renamed). The size bound is enforced by the sink (it knows which segment is in flight).
 */
export class Spool {
  readonly dir: string;
  private readonly store: SegmentSpool;

  constructor(dir: string) {
    this.dir = dir;
    this.store = new SegmentSpool(dir);
  }

  /** Creates the directory, removes leftovers of interrupted writes, and lists segments oldest first. */
  async open(): Promise<SpoolSegment[]> {
    const segs = await this.store.opened;
    // A segment of an unknown count (not written by this sink) is counted now, for drop accounting.
    for (const s of segs) if (s.count < 0) s.count = await this.store.count(s);
    return segs.map(view);
  }

  async append(records: readonly LogRecord[], minTsMs: number): Promise<SpoolSegment> {
    const seg = await this.store.write(records.map((r) => JSON.stringify(r)), { meta: Number.isFinite(minTsMs) ? Math.floor(minTsMs) : Number.NaN });
    return view(seg);
  }

  /** Records of a segment; frames that are damaged or do not hold a record are skipped and counted. */
  async read(seg: SpoolSegment): Promise<{ records: LogRecord[]; corrupt: number }> {
    const { payloads, corrupt: damaged } = await this.store.read(seg.segment);
    const records: LogRecord[] = [];
    let corrupt = damaged;
    for (const p of payloads) {
      try {
        const r = JSON.parse(p) as LogRecord;
        if (typeof r.line === 'string' && typeof r.ts === 'string' && r.target) records.push(r);
        else corrupt++;
      } catch {
        corrupt++;
      }
    }
    return { records, corrupt };
  }

  async remove(seg: SpoolSegment): Promise<void> {
    await this.store.remove(seg.segment);
  }
}
