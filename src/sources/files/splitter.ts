import { isUtf8 } from 'node:buffer';

/**
 * Cuts a file's bytes into lines and says where each line lies in the file, because a file position
 * is what the cursor (acknowledged offset) stores. The Kubernetes source's LineSplitter cuts the same
 * way but knows nothing of offsets, so this one exists beside it:
 *
 *   - bytes are buffered up to `\n` and only complete lines are decoded (a read may end inside a line
 *     or a UTF-8 character); a trailing `\r` is dropped;
 *   - a line longer than maxLineBytes keeps its head (cut on a character boundary, `truncated`), the rest
 *     up to the newline is skipped without being held, and the line is emitted when its newline arrives,
 *     so its `end` is the offset after the newline and a restart never resumes inside it;
 *   - invalid UTF-8 is replaced by U+FFFD (`invalidUtf8`, counted by the parse stage).
 */
export interface FileLine {
  text: string;
  /** Offset of the line's first byte. */
  start: number;
  /** Offset after the line (after its `\n`; the read position for a line flushed without one). */
  end: number;
  truncated: boolean;
  invalidUtf8: boolean;
  /** Flushed inside an oversized line: the bytes after `end` up to the next newline belong to it. */
  skipRest: boolean;
}

const NL = 0x0a;
const CR = 0x0d;

export class FileLineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** Offset of the first byte of the line being assembled. */
  private lineStart: number;
  /** The line is over the cap: its head is kept, bytes are skipped until the newline. */
  private over = false;
  /** Bytes up to the next newline belong to a line already emitted (flushed as partial while over). */
  private skipping: boolean;
  private readonly maxLineBytes: number;

  constructor(maxLineBytes: number, startOffset = 0, skipToNewline = false) {
    this.maxLineBytes = maxLineBytes;
    this.lineStart = startOffset;
    this.skipping = skipToNewline;
  }

  /** Bytes held for the unfinished line (its head when oversized). */
  get pending(): number {
    return this.size;
  }

  /** An unfinished line is buffered (or being skipped past the cap). */
  get hasPartial(): boolean {
    return this.size > 0 || this.over;
  }

  /** Where the unfinished line starts, if there is one. */
  get partialStart(): number | undefined {
    return this.hasPartial ? this.lineStart : undefined;
  }

  /** `chunk` holds the file's bytes from offset `at` on (contiguous with the previous push). */
  push(chunk: Buffer, at: number, out: FileLine[]): void {
    let i = 0;
    while (i < chunk.length) {
      const nl = chunk.indexOf(NL, i);
      const stop = nl < 0 ? chunk.length : nl;
      if (this.skipping) {
        if (nl < 0) return;
        this.skipping = false;
        i = nl + 1;
        this.lineStart = at + i;
        continue;
      }
      if (nl >= 0 && this.size === 0 && !this.over && stop - i <= this.maxLineBytes) {
        // Fast path: the whole line is in this chunk; decode without copying.
        this.decode(chunk.subarray(i, stop), this.lineStart, at + nl + 1, false, false, out);
        i = nl + 1;
        this.lineStart = at + i;
        continue;
      }
      if (!this.over) this.append(chunk.subarray(i, stop));
      if (nl < 0) return;
      this.emit(at + nl + 1, false, out);
      i = nl + 1;
      this.lineStart = at + i;
    }
  }

  /**
   * Emits the unfinished line as it is (the writer has gone quiet mid-line, or the file ends without a
   * newline). `at` is the read position. Inside an oversized line the rest is still skipped later.
   */
  flushPartial(at: number, out: FileLine[]): void {
    if (!this.hasPartial) return;
    const wasOver = this.over;
    this.emit(at, wasOver, out);
    this.lineStart = at;
    this.skipping = wasOver;
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    const room = this.maxLineBytes - this.size;
    if (piece.length <= room) {
      // Copy: the read buffer is reused for the next read.
      this.parts.push(Buffer.from(piece));
      this.size += piece.length;
      return;
    }
    if (room > 0) {
      this.parts.push(Buffer.from(piece.subarray(0, room)));
      this.size += room;
    }
    this.over = true;
  }

  private emit(end: number, skipRest: boolean, out: FileLine[]): void {
    const buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    const truncated = this.over;
    this.parts = [];
    this.size = 0;
    this.over = false;
    this.decode(truncated ? trimPartialUtf8(buf) : buf, this.lineStart, end, truncated, skipRest, out);
  }

  private decode(buf: Buffer, start: number, end: number, truncated: boolean, skipRest: boolean, out: FileLine[]): void {
    const body = buf.length > 0 && buf[buf.length - 1] === CR ? buf.subarray(0, buf.length - 1) : buf;
    const text = body.toString('utf8');
    out.push({ text, start, end, truncated, invalidUtf8: text.includes('\uFFFD') && !isUtf8(body), skipRest });
  }
}

/** Drops an incomplete multi-byte sequence at the end of a cut buffer, so the cut does not read as bad UTF-8. */
export function trimPartialUtf8(buf: Buffer): Buffer {
  let i = buf.length - 1;
  let back = 0;
  while (i >= 0 && back < 4 && (buf[i]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return buf;
  const lead = buf[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > back + 1 ? buf.subarray(0, i) : buf;
}
