/**
 * A small FIFO disk spool of findings ready to publish: NDJSON segment files, bounded in bytes.
 * Segments are appended in order, read back oldest first, and deleted once every item in them
 * is acknowledged. A crash replays at most the unacknowledged tail (the stream dedupes it).
 */
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
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

  constructor(dir: string, opts: { maxBytes: number; segmentItems: number }) {
    this.dir = dir;
    this.maxBytes = opts.maxBytes;
    this.segmentItems = opts.segmentItems;
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
      this.writeChain = this.writeChain.then(() => {
        if (this.pending === batch) this.pending = null;
        return appendFile(batch.file, batch.lines.join(''));
      });
    }
    return true;
  }

  private rotate(): void {
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
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const v = JSON.parse(line) as { s?: unknown; m?: unknown; p?: unknown };
        if (typeof v.s === 'string' && typeof v.m === 'string' && typeof v.p === 'string') {
          items.push({ subject: v.s, msgId: v.m, payload: v.p });
        }
      } catch {
        // A torn last line from a crash mid-append: the item was never acknowledged to anyone.
      }
    }
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
    await writeFile(file, text);
    const bytes = Buffer.byteLength(text);
    this.segments.unshift({ seq, file, bytes, count: items.length });
    this.totalBytes += bytes;
  }

  async settle(): Promise<void> {
    await this.writeChain;
  }
}
