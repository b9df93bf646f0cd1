/**
 * A small FIFO disk spool of findings ready to publish, bounded in bytes, in the project's one spool
 * format (src/delivery/spool.ts): findings are appended to the open segment, read back oldest first,
 * and a segment is deleted once every item in it is acknowledged. A crash replays at most the
 * unacknowledged tail (the stream dedupes it by message id).
 *
 * Failures are conditions, not crashes: an append that fails (a full disk, a read-only volume)
 * loses the findings of that write, which are reported through `onLoss` and taken off the byte
 * account, and the spool goes on with the next write; a segment is fsynced when it is sealed, so a
 * power loss costs at most the open one; a torn or corrupt frame read back is skipped and reported,
 * the rest of the segment is read.
 */
import { SegmentSpool, type Segment, type SpoolLoss } from '../delivery/spool.ts';

export type { SpoolLoss } from '../delivery/spool.ts';

export interface SpoolItem {
  subject: string;
  msgId: string;
  payload: string;
}

export interface FindingSpoolOptions {
  maxBytes: number;
  segmentItems: number;
  /** Findings lost to a failed write or a corrupt frame read back (count them, log the error). */
  onLoss?: (reason: SpoolLoss, items: number, err?: Error) => void;
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

export class FindingSpool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentItems: number;
  /** Resolves when the segments of a previous run are listed (they are read before this run's). */
  readonly opened: Promise<void>;
  private readonly store: SegmentSpool;
  /** Segments not yet taken by `shift`, oldest first. */
  private readonly segments: Segment[] = [];
  /** Segments taken by `shift` and not yet released: still on disk, still on the byte account. */
  private readonly taken = new Set<Segment>();
  private readonly onLoss: NonNullable<FindingSpoolOptions['onLoss']>;

  constructor(dir: string, opts: FindingSpoolOptions) {
    this.dir = dir;
    this.maxBytes = opts.maxBytes;
    this.segmentItems = opts.segmentItems;
    this.onLoss = opts.onLoss ?? (() => {});
    this.store = new SegmentSpool(dir, { onLoss: (reason, n, err) => this.onLoss(reason, n, err) });
    this.opened = this.store.opened.then(
      (previous) => {
        this.segments.unshift(...previous);
      },
      (err: unknown) => {
        // No directory: every append will fail and be counted; the sink runs on memory.
        this.onLoss('write_error', 0, err as Error);
      },
    );
  }

  /** Bytes on disk or queued for disk. */
  bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    for (const s of this.taken) n += s.bytes;
    return n;
  }

  /**
   * True when nothing of this run waits on disk and the previous run's segments (once listed) are gone.
   * While the directory is still being listed (the first milliseconds), only this run's segments count:
   * new findings go to memory first, as on an empty spool, and the previous run's are read in after them.
   * Callers that must see those wait for `opened` first (the sink's flush and refill do).
   */
  isEmpty(): boolean {
    return this.segments.length === 0;
  }

  /** Append; false when the spool is full (the caller decides what to drop). */
  append(item: SpoolItem): boolean {
    const payload = encode(item);
    // frame = 8 hex digits, a space, the payload, a newline
    if (this.bytes() + Buffer.byteLength(payload) + 10 > this.maxBytes) return false;
    if (this.store.openCount() >= this.segmentItems) this.store.seal();
    const seg = this.store.append(payload);
    if (this.segments.at(-1) !== seg) this.segments.push(seg);
    return true;
  }

  /**
   * Take the oldest segment off the spool and return its items plus a release function that
   * deletes the file (call it when all items are acknowledged).
   */
  async shift(): Promise<{ items: SpoolItem[]; release: () => Promise<void>; bytes: number } | null> {
    await this.opened;
    const seg = this.segments.shift();
    if (!seg) return null;
    if (this.store.isOpen(seg)) this.store.seal();
    this.taken.add(seg);
    let payloads: string[] = [];
    try {
      ({ payloads } = await this.store.read(seg));
    } catch {
      payloads = []; // gone or unreadable: nothing to replay
    }
    const items: SpoolItem[] = [];
    let bad = 0;
    for (const p of payloads) {
      const it = decode(p);
      if (it) items.push(it);
      else bad++;
    }
    if (bad) this.onLoss('corrupt', bad);
    let released = false;
    return {
      items,
      bytes: seg.bytes,
      release: async () => {
        if (released) return;
        released = true;
        this.taken.delete(seg);
        await this.store.remove(seg);
      },
    };
  }

  /** Drop the oldest segment without reading it into the queue; returns how many items it held. */
  async dropOldest(): Promise<number> {
    await this.opened;
    const seg = this.segments[0];
    if (!seg || this.store.isOpen(seg)) return 0;
    this.segments.shift();
    const count = await this.store.count(seg);
    await this.store.remove(seg);
    return count;
  }

  /** Persist items that are older than everything on disk (used at shutdown). */
  async prepend(items: SpoolItem[]): Promise<void> {
    if (!items.length) return;
    await this.opened;
    try {
      const seg = await this.store.write(items.map(encode), { before: true });
      this.segments.unshift(seg);
    } catch (err) {
      this.onLoss('write_error', items.length, err as Error);
    }
  }

  /** Seals the open segment (fsynced) and waits for every write so far (shutdown). */
  async settle(): Promise<void> {
    this.store.seal();
    await this.store.settle();
  }
}
