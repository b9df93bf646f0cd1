/**
 * Acknowledgements as data. A source puts its handle (`SourceAcks`) on every record whose delivery
 * moves its cursor (`record.ack`); a sink, once its store accepted records, hands them to
 * `acknowledge()`, which gives each handle its own records and nothing else. No listener, no
 * broadcast: a source never sees another source's records. Order is the caller's: a sink that sends
 * out of order releases records through OrderedAcks (./ordered-acks.ts) first.
 */
import { log } from '../logger.ts';
import type { AckHandle, LogRecord } from '../model/log-record.ts';

/** The handle of one source: one object (and one callback) per source, shared by all its records. */
export class SourceAcks implements AckHandle {
  readonly id: string;
  private readonly onAck: (records: readonly LogRecord[]) => void;

  constructor(id: string, onAck: (records: readonly LogRecord[]) => void) {
    this.id = id;
    this.onAck = onAck;
  }

  acknowledge(records: readonly LogRecord[]): void {
    this.onAck(records);
  }

  toJSON(): string {
    return this.id;
  }
}

/**
 * Tells each record's handle that the record is stored: consecutive records of the same handle go
 * in one call (the batch itself when it is all one source's: no copy), records without a handle are
 * skipped. A handle that throws is logged; the others still get theirs.
 */
export function acknowledge(records: readonly LogRecord[]): void {
  const n = records.length;
  let i = 0;
  while (i < n) {
    const h = records[i]!.ack;
    let j = i + 1;
    while (j < n && records[j]!.ack === h) j++;
    if (h) {
      try {
        h.acknowledge(i === 0 && j === n ? records : records.slice(i, j));
      } catch (err) {
        log.error({ component: 'acks', source: h.id, err }, 'acknowledging records threw');
      }
    }
    i = j;
  }
}

/** Stands for a handle named by id in a spool file: forwards to the handle registered under that id. */
class SpooledAck implements AckHandle {
  readonly id: string;
  target: AckHandle | undefined;

  constructor(id: string) {
    this.id = id;
  }

  acknowledge(records: readonly LogRecord[]): void {
    this.target?.acknowledge(records);
  }

  toJSON(): string {
    return this.id;
  }
}

/**
 * For a sink with a disk tier: a record written to disk keeps only its handle's id (AckHandle.toJSON),
 * so records read back are given the handle again by id. Resolved when acknowledged, not when read:
 * a handle registered after the segment was read (the sources are built after the sink) still gets
 * its records. An id nobody registered (a source no longer configured) acknowledges nothing.
 */
export class AckDirectory {
  private readonly byId = new Map<string, SpooledAck>();

  /** The pipeline's sources' handles (ids must be unique: a second handle under an id replaces the first). */
  register(handles: readonly AckHandle[]): void {
    for (const h of handles) {
      const s = this.spooled(h.id);
      if (s.target && s.target !== h) log.warn({ component: 'acks', source: h.id }, 'two sources under one acknowledgement id: spooled records go to the last one registered');
      s.target = h;
    }
  }

  /** The handle for what a record read back from disk has in `ack` (an id, or nothing). */
  resolve(id: unknown): AckHandle | undefined {
    return typeof id === 'string' ? this.spooled(id) : undefined;
  }

  private spooled(id: string): SpooledAck {
    let h = this.byId.get(id);
    if (!h) {
      h = new SpooledAck(id);
      this.byId.set(id, h);
    }
    return h;
  }
}
