/**
 * The one disk spool format of the project, used by the Loki sink (log records) and the JetStream
 * sink (findings): a directory of segment files, oldest = lowest sequence number, each line one
 * frame `<crc32 as 8 hex digits> <payload>\n`. The payload is one JSON text (JSON never holds a raw
 * newline), so a reader finds the next frame after any damage: a torn tail from a crash mid-write,
 * flipped bits or invalid UTF-8 fail their checksum and are counted, and the rest is read.
 *
 * Segments are written two ways, both in write order on one chain:
 *   - whole (`write`): to a temporary name, fsynced, renamed, so a crash never leaves a half segment
 *     under a real name (the Loki sink spills a whole batch at a time);
 *   - appended (`append`): frames of the open segment, one append per tick, cut back to the last good
 *     size when the disk refuses a write, fsynced when the segment is sealed (the JetStream sink spools
 *     findings one by one).
 * Sequence numbers start in the middle of their range so a segment written `before` everything on
 * disk (unsent items saved at shutdown) can take a lower number and still be read first.
 *
 * The directory is scanned asynchronously by `open()`; writes queue behind the scan. Files of the
 * earlier formats (`*.ndjson`, a bare JSON object per line) are still read, so an upgrade replays
 * what the previous version spooled. The byte bound is the caller's: it knows what is in flight.
 */
import { mkdir, open as openFile, readdir, readFile, rename, rm, stat, truncate, appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export interface Segment {
  /** Order on disk; assigned when the segment is first written (after the directory scan). */
  seq: number;
  file: string;
  /** Bytes of the file (for an open segment: including frames still queued for the disk). */
  bytes: number;
  /** Frames in it; -1 when unknown (an appended segment found by the scan). */
  count: number;
  /** A number the writer keeps in the name (the Loki sink: oldest entry time); NaN when none. */
  meta: number;
  /** Written in an earlier format (bare JSON lines, no checksum). */
  readonly legacy: boolean;
}

export type SpoolLoss = 'write_error' | 'corrupt';

export interface SegmentSpoolOptions {
  /** Frames lost to a failed write (with the error and the bytes taken off the segment's account) or a damaged frame read back: count them, log. */
  onLoss?: (reason: SpoolLoss, frames: number, err?: Error, cut?: { seg: Segment; bytes: number }) => void;
}

const BASE = 500_000_000_000_000;
const NAME = /^seg-(\d{15})(?:-(\d+)(?:-(-?\d+))?)?\.spool$/;
const LEGACY_LOKI = /^seg-(\d{12})-(\d+)(?:-(-?\d+))?\.ndjson$/;
const LEGACY_FINDINGS = /^seg-(\d{15})\.ndjson$/;
const FRAME = /^([0-9a-f]{8}) /;

/** One frame: the checksum covers the payload's UTF-8 bytes. */
export function frame(payload: string): string {
  if (payload.includes('\n')) throw new Error('spool payload must be one line (JSON text)');
  return `${(crc32(payload) >>> 0).toString(16).padStart(8, '0')} ${payload}\n`;
}

/** The payloads of a segment's text; damaged frames (bad checksum, torn, not a frame) are counted. */
export function unframe(text: string, legacy = false): { payloads: string[]; corrupt: number } {
  const payloads: string[] = [];
  let corrupt = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = FRAME.exec(line);
    if (m) {
      const payload = line.slice(9);
      if ((crc32(payload) >>> 0).toString(16).padStart(8, '0') === m[1]) payloads.push(payload);
      else corrupt++;
    } else if (legacy && line.startsWith('{')) {
      payloads.push(line); // the caller's decoder rejects a torn legacy line
    } else {
      corrupt++;
    }
  }
  return { payloads, corrupt };
}

export class SegmentSpool {
  readonly dir: string;
  /** Resolves when the directory is scanned (rejects when it cannot be created or read). */
  readonly opened: Promise<Segment[]>;
  private readonly onLoss: NonNullable<SegmentSpoolOptions['onLoss']>;
  private chainTail: Promise<unknown>;
  private minSeq = BASE;
  private maxSeq = BASE - 1;
  /** The segment `append` writes to, until sealed. */
  private openSeg: Segment | null = null;
  /** Frames waiting for the next chained append of the open segment. */
  private pending: { seg: Segment; frames: string[] } | null = null;

  constructor(dir: string, opts: SegmentSpoolOptions = {}) {
    this.dir = dir;
    this.onLoss = opts.onLoss ?? (() => {});
    this.opened = this.scan();
    // Handled here (writes queue behind it either way); callers that await it see the error.
    this.chainTail = this.opened.catch(() => undefined);
  }

  /** Segments left by a previous run, oldest first (temporary files of interrupted writes removed). */
  private async scan(): Promise<Segment[]> {
    await mkdir(this.dir, { recursive: true });
    const segs: Segment[] = [];
    for (const name of await readdir(this.dir)) {
      const file = join(this.dir, name);
      if (name.endsWith('.tmp')) {
        await rm(file, { force: true });
        continue;
      }
      const m = NAME.exec(name);
      const lk = m ? null : LEGACY_LOKI.exec(name);
      const lf = m || lk ? null : LEGACY_FINDINGS.exec(name);
      if (!m && !lk && !lf) continue;
      const bytes = await stat(file).then((s) => s.size, () => -1);
      if (bytes < 0) continue;
      if (m) {
        const seq = Number(m[1]);
        segs.push({ seq, file, bytes, count: m[2] === undefined ? -1 : Number(m[2]), meta: m[3] === undefined ? Number.NaN : Number(m[3]), legacy: false });
      } else if (lk) {
        // The old Loki spool counted from 1: below every new number, so read first.
        segs.push({ seq: Number(lk[1]), file, bytes, count: Number(lk[2]), meta: lk[3] === undefined ? Number.NaN : Number(lk[3]), legacy: true });
      } else if (lf) {
        segs.push({ seq: Number(lf[1]), file, bytes, count: -1, meta: Number.NaN, legacy: true });
      }
    }
    segs.sort((a, b) => a.seq - b.seq);
    for (const s of segs) {
      if (s.seq >= BASE / 2) {
        this.minSeq = Math.min(this.minSeq, s.seq);
        this.maxSeq = Math.max(this.maxSeq, s.seq);
      }
    }
    return segs;
  }

  /** Runs `step` after every earlier write (and the scan); the chain never rejects. */
  private chain<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chainTail.then(step);
    this.chainTail = run.catch(() => undefined);
    return run;
  }

  /** A whole segment's name carries its frame count and meta; an appended one's grows, so it has neither. */
  private name(seg: Segment, whole: boolean): string {
    const tail = whole ? `-${seg.count}${Number.isFinite(seg.meta) ? `-${Math.floor(seg.meta)}` : ''}` : '';
    return join(this.dir, `seg-${String(seg.seq).padStart(15, '0')}${tail}.spool`);
  }

  /**
   * A whole segment of `payloads`, after everything written so far, or `before` everything on disk.
   * Rejects (nothing on disk under a real name) when the disk refuses it.
   */
  write(payloads: readonly string[], opts: { meta?: number; before?: boolean } = {}): Promise<Segment> {
    const text = payloads.map(frame).join('');
    return this.chain(async () => {
      const seg: Segment = { seq: opts.before ? --this.minSeq : ++this.maxSeq, file: '', bytes: Buffer.byteLength(text), count: payloads.length, meta: opts.meta ?? Number.NaN, legacy: false };
      seg.file = this.name(seg, true);
      const tmp = `${seg.file}.tmp`;
      try {
        await writeFile(tmp, text);
        await fsyncFile(tmp);
        await rename(tmp, seg.file);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
      return seg;
    });
  }

  /**
   * Appends one payload to the open segment (a new one when there is none) and returns that segment,
   * whose byte and frame account already includes it. The write happens on the chain; a write the
   * disk refuses is reported through onLoss and taken off the segment's account.
   */
  append(payload: string): Segment {
    const f = frame(payload);
    const size = Buffer.byteLength(f);
    let seg = this.openSeg;
    if (!seg) {
      seg = { seq: Number.NaN, file: '', bytes: 0, count: 0, meta: Number.NaN, legacy: false };
      this.openSeg = seg;
    }
    seg.bytes += size;
    seg.count++;
    if (this.pending && this.pending.seg === seg) {
      this.pending.frames.push(f);
      return seg;
    }
    // One append per tick; writes stay in order through the chain.
    const batch = { seg, frames: [f] };
    this.pending = batch;
    const target = seg;
    void this.chain(async () => {
      if (this.pending === batch) this.pending = null;
      if (Number.isNaN(target.seq)) {
        target.seq = ++this.maxSeq;
        target.file = this.name(target, false);
      }
      const text = batch.frames.join('');
      const before = await stat(target.file).then((st) => st.size, () => 0);
      try {
        await appendFile(target.file, text);
      } catch (err) {
        // A write the disk cut short leaves part of it: cut the file back, so disk and account agree.
        await truncate(target.file, before).catch(() => undefined);
        const bytes = Buffer.byteLength(text);
        target.bytes -= bytes;
        target.count -= batch.frames.length;
        this.onLoss('write_error', batch.frames.length, err as Error, { seg: target, bytes });
      }
    }).catch((err: unknown) => this.onLoss('write_error', 0, err as Error));
    return seg;
  }

  /** Frames in the open segment (0 when none): the caller rotates at its own size. */
  openCount(): number {
    return this.openSeg?.count ?? 0;
  }

  /** Closes the open segment: fsynced in write order, so what was appended survives a power loss. */
  seal(): Segment | null {
    const seg = this.openSeg;
    if (!seg) return null;
    this.openSeg = null;
    if (this.pending?.seg === seg) this.pending = null;
    void this.chain(async () => {
      if (seg.file) await fsyncFile(seg.file);
    }).catch((err: unknown) => this.onLoss('write_error', 0, err as Error));
    return seg;
  }

  /** Whether `seg` is the segment `append` writes to. */
  isOpen(seg: Segment): boolean {
    return seg === this.openSeg;
  }

  /** Waits for every write so far (sealing nothing). */
  settle(): Promise<void> {
    return this.chain(async () => undefined);
  }

  /** The payloads of a segment (after pending writes to it); damaged frames are counted, not thrown. */
  async read(seg: Segment): Promise<{ payloads: string[]; corrupt: number }> {
    await this.settle();
    if (!seg.file) return { payloads: [], corrupt: 0 };
    const text = await readFile(seg.file, 'utf8');
    const out = unframe(text, seg.legacy);
    if (seg.count < 0) seg.count = out.payloads.length + out.corrupt;
    if (out.corrupt) this.onLoss('corrupt', out.corrupt);
    return out;
  }

  /** Frames in a segment, reading it when the count is unknown. */
  async count(seg: Segment): Promise<number> {
    if (seg.count >= 0) return seg.count;
    await this.settle();
    const text = await readFile(seg.file, 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).length;
  }

  async remove(seg: Segment): Promise<void> {
    if (seg === this.openSeg) this.openSeg = null;
    await this.settle();
    if (seg.file) await rm(seg.file, { force: true });
  }
}

async function fsyncFile(file: string): Promise<void> {
  let fh;
  try {
    fh = await openFile(file, 'r+');
    await fh.datasync();
  } catch (err) {
    // A segment already deleted (acknowledged and released) needs no sync.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    await fh?.close();
  }
}
