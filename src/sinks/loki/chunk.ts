import type { LogRecord } from '../../model/log-record.ts';
import type { Entry } from './entry.ts';
import type { SpoolSegment } from './spool.ts';

/** A batch: what one push request carries. */
export interface Chunk {
  entries: Entry[];
  records: LogRecord[];
  bytes: number;
  createdAt: number;
  /** Oldest entry time (epoch ms): decides whether live-first interleaving is safe. */
  minTsMs: number;
  /** Set when the chunk was read back from the spool: deleted once the chunk is done. */
  seg?: SpoolSegment;
  /** Whether `bytes` is counted in the memory tier (false for chunks read back from the spool). */
  mem: boolean;
  attempt: number;
  consecutive429: number;
  /** Position in write order (halves of a split chunk share it): acknowledgements follow this order. */
  order: number;
}

export function newChunk(now: number, order: number): Chunk {
  return { entries: [], records: [], bytes: 0, createdAt: now, minTsMs: Infinity, attempt: 0, consecutive429: 0, mem: true, order };
}

/** Adds one converted record; returns the entry's bytes. */
export function addEntry(c: Chunk, e: Entry, r: LogRecord): number {
  c.entries.push(e);
  c.records.push(r);
  const tms = e.time.sec * 1000 + Math.floor(e.time.nanos / 1e6);
  if (tms < c.minTsMs) c.minTsMs = tms;
  c.bytes += e.bytes;
  return e.bytes;
}

/** Halves a chunk; a spool segment stays with the second half so the file is deleted only when both went. */
export function splitChunk(c: Chunk): [Chunk, Chunk] {
  const mid = Math.ceil(c.entries.length / 2);
  const mk = (from: number, to: number): Chunk => {
    const entries = c.entries.slice(from, to);
    return {
      entries,
      records: c.records.slice(from, to),
      bytes: entries.reduce((n, e) => n + e.bytes, 0),
      createdAt: c.createdAt,
      minTsMs: c.minTsMs,
      attempt: c.attempt,
      consecutive429: 0,
      mem: c.mem,
      order: c.order,
    };
  };
  const a = mk(0, mid);
  const b = mk(mid, c.entries.length);
  if (c.seg) b.seg = c.seg;
  return [a, b];
}
