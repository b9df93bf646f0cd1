import { isUtf8 } from 'node:buffer';

/**
 * Cuts a byte stream into lines. HTTP chunk boundaries do not align with log lines (nor with UTF-8
 * characters), so bytes are buffered up to `\n` and only complete lines are decoded. A line longer than
 * maxLineBytes is cut there: the head is emitted once with `truncated`, the rest up to the newline dropped —
 * a runaway line must not grow memory without bound.
 */
export interface SplitLine {
  text: string;
  truncated: boolean;
  invalidUtf8: boolean;
}

const NL = 0x0a;

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;
  private readonly maxLineBytes: number;

  constructor(maxLineBytes = 256 * 1024) {
    this.maxLineBytes = maxLineBytes;
  }

  push(chunk: Buffer, out: SplitLine[]): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl < 0 ? chunk.length : nl;
      if (nl >= 0 && this.size === 0 && !this.discarding && end - start <= this.maxLineBytes) {
        // Fast path: the whole line is inside this chunk, decode it without copying.
        this.decode(chunk.subarray(start, end), false, out);
        start = nl + 1;
        continue;
      }
      if (!this.discarding) this.append(chunk.subarray(start, end), out);
      if (nl < 0) return;
      if (this.discarding) this.discarding = false;
      else this.emit(false, out);
      start = nl + 1;
    }
  }

  /** Bytes buffered for an unfinished line. */
  get pending(): number {
    return this.size;
  }

  /** End of stream: a last line without `\n` is still a line. */
  flush(out: SplitLine[]): void {
    if (this.size > 0 && !this.discarding) this.emit(false, out);
    this.reset();
  }

  reset(): void {
    this.parts = [];
    this.size = 0;
    this.discarding = false;
  }

  private append(piece: Buffer, out: SplitLine[]): void {
    if (piece.length === 0) return;
    const room = this.maxLineBytes - this.size;
    if (piece.length <= room) {
      // Copy: the chunk's memory belongs to the HTTP layer and may be reused.
      this.parts.push(Buffer.from(piece));
      this.size += piece.length;
      return;
    }
    if (room > 0) {
      this.parts.push(Buffer.from(piece.subarray(0, room)));
      this.size += room;
    }
    this.emit(true, out);
    this.discarding = true;
  }

  private emit(truncated: boolean, out: SplitLine[]): void {
    const buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.decode(truncated ? trimPartialUtf8(buf) : buf, truncated, out);
  }

  private decode(buf: Buffer, truncated: boolean, out: SplitLine[]): void {
    const text = buf.toString('utf8');
    out.push({ text, truncated, invalidUtf8: text.includes('\uFFFD') && !isUtf8(buf) });
  }
}

/** Drops an incomplete multi-byte sequence at the end of a cut buffer so the cut does not look like bad UTF-8. */
function trimPartialUtf8(buf: Buffer): Buffer {
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
