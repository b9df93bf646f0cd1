import type { LogRecord } from '../../model/log-record.ts';
import type { Entry } from './entry.ts';
import type { Held } from '../../delivery/buffer.ts';

/** A batch: what one push request carries. */
export interface Chunk {
  entries: Entry[];
  records: LogRecord[];
  bytes: number;
  createdAt: number;
  /** Oldest entry time (epoch ms): decides whether live-first interleaving is safe. */
  minTsMs: number;
  /** The buffer's account of it once taken (src/delivery/buffer.ts). */
  held?: Held;
  attempt: number;
  consecutive429: number;
  /** Position in write order (halves of a split chunk share it): acknowledgements follow this order. */
  order: number;
}

export function newChunk(now: number, order: number): Chunk {
  return { entries: [], records: [], bytes: 0, createdAt: now, minTsMs: Infinity, attempt: 0, consecutive429: 0, order };
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

/** Halves a chunk (the caller tells the buffer, so its account follows both halves). */
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
      order: c.order,
    };
  };
  return [mk(0, mid), mk(mid, c.entries.length)];
}
