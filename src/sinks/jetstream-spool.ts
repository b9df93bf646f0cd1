/**
 * A small FIFO disk spool of findings ready to publish: NDJSON segment files, bounded in bytes.
 * Segments are appended in order, read back oldest first, and deleted once every item in them
 * is acknowledged. A crash replays at most the unacknowledged tail (the stream dedupes it).
 *
 * Failures are conditions, not crashes: an append that fails (a full disk, a read-only volume)
 * loses the findings of that write, which are reported through `onLoss` and taken off the byte
 * account, and the spool goes on with the next write; a segment is fsynced when it is closed, so a
 * power loss costs at most the open one; a torn or corrupt line read back is skipped and reported,
 * the rest of the segment is read.
 */
import { appendFile, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface SpoolItem {
  subject: string;
  msgId: string;
  payload: string;
}

interface Segment {
  seq: number;
  file: string;
  bytes: number;
  count: number;
}

const NAME = /^seg-(\d{15})\.ndjson$/;
// Sequences start in the middle so items saved at shutdown (older than everything on disk)
// can take a lower number and still be read first.
const BASE = 500_000_000_000_000;

export type SpoolLoss = 'write_error' | 'corrupt';

export interface FindingSpoolOptions {
  maxBytes: number;
  segmentItems: number;
  /** Findings lost to a failed write or a corrupt line read back (count them, log the error). */
  onLoss?: (reason: SpoolLoss, items: number, err?: Error) => void;
}

export class FindingSpool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentItems: number;
  private readonly segments: Segment[] = [];
  /** The segment being appended to (last of `segments` while open). */
  private open: Segment | null = null;
  /** Lines waiting for the next chained append (not yet started). */
  private pending: { file: string; lines: string[] } | null = null;
  private writeChain: Promise<void> = Promise.resolve();
  private totalBytes = 0;
  /** Lowest and highest sequence ever used: file names are never reused while a file may exist. */
  private minSeq = BASE;
  private maxSeq = BASE - 1;
  private readonly onLoss: NonNullable<FindingSpoolOptions['onLoss']>;

  constructor(dir: string, opts: FindingSpoolOptions) {
    this.dir = dir;
    this.maxBytes = opts.maxBytes;
    this.segmentItems = opts.segmentItems;
    this.onLoss = opts.onLoss ?? (() => {});
    mkdirSync(dir, { recursive: true });
    // Startup scan: segments left by a previous run are older than anything new.
    for (const name of readdirSync(dir).sort()) {
      const m = NAME.exec(name);
      if (!m) continue;
      const file = join(dir, name);
      const bytes = statSync(file).size;
      const seq = Number(m[1]);
      this.segments.push({ seq, file, bytes, count: -1 });
      this.totalBytes += bytes;
      this.minSeq = Math.min(this.minSeq, seq);
      this.maxSeq = Math.max(this.maxSeq, seq);
    }
  }

  /** Bytes on disk or queued for disk. */
  bytes(): number {
    return this.totalBytes;
  }

  isEmpty(): boolean {
    return this.segments.length === 0;
  }

  /** Append; false when the spool is full (the caller decides what to drop). */
  append(item: SpoolItem): boolean {
    const line = `${JSON.stringify({ s: item.subject, m: item.msgId, p: item.payload })}\n`;
    const size = Buffer.byteLength(line);
    if (this.totalBytes + size > this.maxBytes) return false;
    if (!this.open || this.open.count >= this.segmentItems) this.rotate();
    const seg = this.open as Segment;
    seg.bytes += size;
    seg.count++;
    this.totalBytes += size;
    if (this.pending && this.pending.file === seg.file) {
      this.pending.lines.push(line);
    } else {
      // Batch lines into one append per tick; writes stay in order through the chain.
      const batch = { file: seg.file, lines: [line] };
      this.pending = batch;
      this.chain(async () => {
        if (this.pending === batch) this.pending = null;
        const text = batch.lines.join('');
        const before = await stat(batch.file).then((st) => st.size, () => 0);
        try {
          await appendFile(batch.file, text);
        } catch (err) {
          // A write the disk cut short leaves part of it: cut the file back, so disk and account agree.
          await truncate(batch.file, before).catch(() => undefined);
          // Those findings are not on disk: take them off the account and say so; later writes go on.
          const bytes = Buffer.byteLength(text);
          seg.bytes -= bytes;
          seg.count -= batch.lines.length;
          this.totalBytes -= bytes;
          this.onLoss('write_error', batch.lines.length, err as Error);
        }
      });
    }
    return true;
  }

  /** Runs `step` after every earlier write; a step never rejects the chain. */
  private chain(step: () => Promise<void>): void {
    this.writeChain = this.writeChain.then(step).catch((err: unknown) => this.onLoss('write_error', 0, err as Error));
  }

  private rotate(): void {
    // The segment being closed is fsynced (in write order): what was spooled survives a power loss.
    const closing = this.open;
    if (closing) this.chain(() => fsyncFile(closing.file));
    const seq = ++this.maxSeq;
    const seg: Segment = { seq, file: join(this.dir, `seg-${String(seq).padStart(15, '0')}.ndjson`), bytes: 0, count: 0 };
    this.segments.push(seg);
    this.open = seg;
  }

  /**
   * Take the oldest segment off the spool and return its items plus a release function that
   * deletes the file (call it when all items are acknowledged).
   */
  async shift(): Promise<{ items: SpoolItem[]; release: () => Promise<void>; bytes: number } | null> {
    const seg = this.segments[0];
    if (!seg) return null;
    if (seg === this.open) this.open = null;
    await this.writeChain;
    this.segments.shift();
    let text = '';
    try {
      text = await readFile(seg.file, 'utf8');
    } catch {
      text = '';
    }
    const items: SpoolItem[] = [];
    let corrupt = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const v = JSON.parse(line) as { s?: unknown; m?: unknown; p?: unknown };
        if (typeof v.s === 'string' && typeof v.m === 'string' && typeof v.p === 'string') {
          items.push({ subject: v.s, msgId: v.m, payload: v.p });
        } else corrupt++;
      } catch {
        // A torn last line from a crash mid-append, or damage: skipped, counted; the rest is read.
        corrupt++;
      }
    }
    if (corrupt) this.onLoss('corrupt', corrupt);
    let released = false;
    return {
      items,
      bytes: seg.bytes,
      release: async () => {
        if (released) return;
        released = true;
        this.totalBytes -= seg.bytes;
        await rm(seg.file, { force: true });
      },
    };
  }

  /** Drop the oldest segment without reading it into the queue; returns how many items it held. */
  async dropOldest(): Promise<number> {
    const seg = this.segments[0];
    if (!seg || seg === this.open) return 0;
    this.segments.shift();
    await this.writeChain;
    let count = seg.count;
    if (count < 0) {
      count = (await readFile(seg.file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    }
    this.totalBytes -= seg.bytes;
    await rm(seg.file, { force: true });
    return count;
  }

  /** Persist items that are older than everything on disk (used at shutdown). */
  async prepend(items: SpoolItem[]): Promise<void> {
    if (!items.length) return;
    await this.writeChain;
    const seq = --this.minSeq;
    const file = join(this.dir, `seg-${String(seq).padStart(15, '0')}.ndjson`);
    const text = items.map((i) => `${JSON.stringify({ s: i.subject, m: i.msgId, p: i.payload })}\n`).join('');
    try {
      await writeFile(file, text);
      await fsyncFile(file);
    } catch (err) {
      await rm(file, { force: true }).catch(() => undefined);
      this.onLoss('write_error', items.length, err as Error);
      return;
    }
    const bytes = Buffer.byteLength(text);
    this.segments.unshift({ seq, file, bytes, count: items.length });
    this.totalBytes += bytes;
  }

  /** Waits for every write so far, and fsyncs the open segment (shutdown). */
  async settle(): Promise<void> {
    const open = this.open;
    if (open) this.chain(() => fsyncFile(open.file));
    await this.writeChain;
  }
}

async function fsyncFile(file: string): Promise<void> {
  let fh;
  try {
    fh = await open(file, 'r+');
    await fh.datasync();
  } catch (err) {
    // A segment already deleted (acknowledged and released) needs no sync.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    await fh?.close();
  }
}
