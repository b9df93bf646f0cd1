/**
 * The journald source's cursor: the `__CURSOR` of the last entry whose record the log sink
 * acknowledged, and of every entry before it (acknowledgements are applied in read order: an entry
 * acknowledged before an older one waits for it), persisted in the state store.
 *
 * Entries the source reads but does not emit (no MESSAGE) count as acknowledged at once, so a stretch
 * of them does not hold the cursor back. A restart passes the persisted cursor to `journalctl
 * --after-cursor`: nothing acknowledged is read twice, nothing after it is skipped.
 */
import type { Logger } from '../../logger.ts';
import { sourceEvents } from '../../internal-events/sources.ts';
import type { StateStore } from '../../state/store.ts';

export interface CursorJson {
  v: 1;
  /** journalctl's `__CURSOR` of the last acknowledged entry. */
  cursor: string;
  /** Its `__REALTIME_TIMESTAMP` (µs, decimal), for operators reading the store. */
  realtime?: string;
  /** When it was written (epoch ms). */
  at: number;
}

interface Pending {
  cursor: string;
  realtime: string | undefined;
  acked: boolean;
}

/** Above this many dead slots at the head, the queue is compacted. */
const COMPACT_AT = 4096;

export class JournalCursor {
  private readonly store: StateStore;
  readonly key: string;
  private readonly flushDelayMs: number;
  private readonly log: Logger;
  private q: Pending[] = [];
  private head = 0;
  /** Sequence number of q[head]. */
  private headSeq = 0;
  private nextSeq = 0;
  private ackedCursor: string | null = null;
  private ackedRealtime: string | undefined;
  private readCursor: string | null = null;
  private written: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | null = null;
  private again = false;

  constructor(o: { store: StateStore; key: string; flushDelayMs: number; log: Logger }) {
    this.store = o.store;
    this.key = o.key;
    this.flushDelayMs = o.flushDelayMs;
    this.log = o.log;
  }

  /** Reads the persisted cursor (null: none, or unreadable — then the source starts per `readFrom`). */
  async load(): Promise<string | null> {
    let bytes: Uint8Array | null = null;
    try {
      bytes = await this.store.get(this.key);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, key: this.key }, 'journald: cursor load failed; starting without one');
      return null;
    }
    if (!bytes) return null;
    try {
      const j = JSON.parse(Buffer.from(bytes).toString('utf8')) as CursorJson;
      if (j.v !== 1 || typeof j.cursor !== 'string' || !j.cursor) return null;
      this.ackedCursor = this.readCursor = this.written = j.cursor;
      this.ackedRealtime = j.realtime;
      return j.cursor;
    } catch {
      return null;
    }
  }

  /** The last acknowledged cursor (what a restart of the detector resumes after). */
  get acked(): string | null {
    return this.ackedCursor;
  }

  /** The last cursor read (what a restart of journalctl inside this process resumes after). */
  get lastRead(): string | null {
    return this.readCursor;
  }

  /** Entries read and not acknowledged yet. */
  get pending(): number {
    return this.q.length - this.head;
  }

  /** An entry became a record: its sequence number, which acknowledge() takes. */
  emitted(cursor: string, realtime: string | undefined): number {
    this.q.push({ cursor, realtime, acked: false });
    this.readCursor = cursor;
    return this.nextSeq++;
  }

  /** An entry read and not emitted: acknowledged as soon as everything before it is. */
  skipped(cursor: string, realtime: string | undefined): void {
    this.q.push({ cursor, realtime, acked: true });
    this.readCursor = cursor;
    this.nextSeq++;
    this.advance();
  }

  acknowledge(seq: number): void {
    const i = this.head + (seq - this.headSeq);
    if (i < this.head || i >= this.q.length) return;
    this.q[i]!.acked = true;
    if (i === this.head) this.advance();
  }

  private advance(): void {
    let moved = false;
    while (this.head < this.q.length && this.q[this.head]!.acked) {
      const p = this.q[this.head]!;
      this.ackedCursor = p.cursor;
      this.ackedRealtime = p.realtime;
      this.head++;
      this.headSeq++;
      moved = true;
    }
    if (this.head >= COMPACT_AT && this.head * 2 >= this.q.length) {
      this.q = this.q.slice(this.head);
      this.head = 0;
    }
    if (moved) this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, this.flushDelayMs);
  }

  /** Writes the acknowledged cursor if it moved; one write at a time, the newest wins. */
  private write(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return this.writing;
    }
    const cursor = this.ackedCursor;
    if (!cursor || cursor === this.written) return Promise.resolve();
    const body: CursorJson = { v: 1, cursor, at: Date.now(), ...(this.ackedRealtime ? { realtime: this.ackedRealtime } : {}) };
    this.writing = this.store
      .put(this.key, Buffer.from(JSON.stringify(body)))
      .then(
        () => {
          this.written = cursor;
        },
        (err: unknown) => {
          sourceEvents.journaldCursorWriteFailed({}, 1, { err: (err as Error).message, key: this.key, store: this.store.kind }, this.log);
          this.schedule();
        },
      )
      .finally(() => {
        this.writing = null;
        if (this.again) {
          this.again = false;
          void this.write();
        }
      });
    return this.writing;
  }

  /** Writes what is acknowledged now (stop, flushState). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) await this.writing;
    await this.write();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
