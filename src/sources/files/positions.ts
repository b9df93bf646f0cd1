import { createHash } from 'node:crypto';
import type { Logger } from '../../logger.ts';
import { sourceEvents } from '../../internal-events/sources.ts';
import { stateKey, type StateStore } from '../../state/store.ts';

/**
 * Positions of the file source: what was read of which file, persisted in the state store.
 *
 * A file is identified by device + inode and a fingerprint of its first bytes (a hash of the first
 * `fingerprintBytes`, or of the whole file while it is shorter, grown as the file grows), so an inode
 * the filesystem reuses for a new file is seen as a new file, and a copy of a file (copytruncate) is
 * recognised as holding the same content.
 *
 * What one content has is a `Content`: the acknowledged offset (advanced only when the sink
 * acknowledged the records, as the Kubernetes cursors are), the emitted offset (in memory), and its
 * timestamp anchors. A line's timestamp is the time it was read, but derived from its byte offset:
 * `anchor time + (offset − anchor offset)` nanoseconds. Anchors are persisted *before* the lines they
 * date are emitted, so lines re-read after a crash get exactly the timestamps they had the first time —
 * and Loki drops the re-sent copies as exact duplicates instead of storing them twice.
 */

export interface Fingerprint {
  hash: string;
  /** Bytes hashed (≤ fingerprintBytes; fewer while the file is shorter). */
  len: number;
}

/** Prefixes shorter than this are not used to recognise a copy (too many files share a short header). */
export const MIN_MATCH_BYTES = 64;

export function hashPrefix(buf: Buffer, len: number): string {
  return createHash('sha256').update(buf.subarray(0, len)).digest('base64url').slice(0, 22);
}

export function fingerprintOf(prefix: Buffer, max: number): Fingerprint {
  const len = Math.min(prefix.length, max);
  return { hash: hashPrefix(prefix, len), len };
}

/**
 * Does `prefix` (a file's first bytes, up to `max`) start like `fp`? When it does and is longer, the
 * grown fingerprint is returned with it.
 */
export function matchFingerprint(prefix: Buffer, fp: Fingerprint, max: number): { match: boolean; fp: Fingerprint } {
  if (prefix.length < fp.len) return { match: false, fp };
  if (fp.len > 0 && hashPrefix(prefix, fp.len) !== fp.hash) return { match: false, fp };
  const len = Math.min(prefix.length, max);
  return { match: true, fp: len > fp.len ? { hash: hashPrefix(prefix, len), len } : fp };
}

/** A timestamp anchor: lines starting at offset ≥ off are dated ms/sub + (offset − off) ns, up to `end` (reserved). */
export interface Anchor {
  off: number;
  ms: number;
  /** Nanoseconds within the millisecond, 0 … 999 999. */
  sub: number;
  /** Offsets up to here are dated by this anchor whatever the clock says (so a re-read agrees). */
  end: number;
}

/** An anchor is re-made once its dates fall this far behind the clock. */
export const ANCHOR_DRIFT_MS = 1000;
/** Bytes an anchor reserves at least. */
export const ANCHOR_RESERVE = 1 << 20;
/** Unacknowledged anchors per file at most: past it reading that file waits for acknowledgements. */
export const MAX_ANCHORS = 512;

const pad6 = (n: number) => String(n).padStart(6, '0');

export function formatTs(ms: number, sub: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}${pad6(sub)}Z`;
}

function at(a: Anchor, off: number): { ms: number; sub: number } {
  const total = a.sub + (off - a.off);
  const carry = Math.floor(total / 1_000_000);
  return { ms: a.ms + carry, sub: total - carry * 1_000_000 };
}

let keySeq = 0;

export class Content {
  /** The position key records carry (unique per content, stable across restarts). */
  readonly key: string;
  fp: Fingerprint;
  acked: number;
  ackedSkip: boolean;
  /** Offset after the last emitted record (memory only; acked after a restart). */
  emitted: number;
  anchors: Anchor[];
  /** Below this offset only stored anchors date lines (a previous run may have emitted them). */
  frozenUntil: number;
  /**
   * A copy that continues this content may be shorter than the position: the lines after its end were
   * read from the original before the truncation. A file this long or longer is not "truncated".
   */
  shortAt: number | undefined;
  /** Sub-millisecond salt, so two files read in the same millisecond do not share timestamps. */
  private readonly salt: number;

  constructor(key: string, fp: Fingerprint, acked: number, ackedSkip = false, anchors: Anchor[] = []) {
    this.key = key;
    this.fp = fp;
    this.acked = acked;
    this.ackedSkip = ackedSkip;
    this.emitted = acked;
    this.anchors = anchors;
    this.frozenUntil = anchors.reduce((m, a) => Math.max(m, a.end), 0);
    this.shortAt = undefined;
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    this.salt = (h >>> 0) % 1000;
  }

  static newKey(id: string): string {
    return `${id}.${Date.now().toString(36)}${(keySeq++ % 1296).toString(36).padStart(2, '0')}`;
  }

  private anchorFor(off: number): Anchor | undefined {
    const a = this.anchors;
    for (let i = a.length - 1; i >= 0; i--) if (a[i]!.off <= off) return a[i];
    return a[0];
  }

  /** The timestamp of a record whose first line starts at `off`. */
  ts(off: number): { ts: string; ms: number } {
    const a = this.anchorFor(off);
    if (!a) {
      const ms = Date.now();
      return { ts: formatTs(ms, 0), ms };
    }
    const t = off >= a.off ? at(a, off) : { ms: a.ms, sub: a.sub };
    return { ts: formatTs(t.ms, t.sub), ms: t.ms };
  }

  /**
   * The anchor that lines starting at `starts` (ascending, one read's worth ending at `chunkEnd`) need,
   * or null when the stored ones date them. At most one per read: it reserves the rest of the read.
   */
  plan(starts: readonly number[], chunkEnd: number, nowMs: number): Anchor | null {
    for (const s of starts) {
      if (s < this.frozenUntil) continue;
      const a = this.anchorFor(s);
      if (a && a.off <= s && s < a.end && nowMs - at(a, s).ms <= ANCHOR_DRIFT_MS) continue;
      let ms = nowMs;
      let sub = this.salt * 1000;
      if (a && a.off <= s) {
        // Never earlier than the previous anchor's dates: timestamps grow along the file.
        const prev = at(a, s);
        if (prev.ms > ms || (prev.ms === ms && prev.sub > sub)) ({ ms, sub } = prev);
      }
      return { off: s, ms, sub, end: Math.max(s + ANCHOR_RESERVE, chunkEnd) };
    }
    return null;
  }

  addAnchor(a: Anchor): void {
    this.anchors.push(a);
  }

  /** A sink acknowledged records up to `end`. Returns true when the position moved. */
  ack(end: number, skip: boolean): boolean {
    if (end <= this.acked) return false;
    this.acked = end;
    this.ackedSkip = skip;
    this.prune();
    return true;
  }

  /** Anchors that only date acknowledged offsets are dropped (the one covering `acked` stays). */
  prune(): void {
    const a = this.anchors;
    let drop = 0;
    while (drop + 1 < a.length && a[drop + 1]!.off <= this.acked) drop++;
    if (drop > 0) this.anchors = a.slice(drop);
  }

  get unackedAnchors(): number {
    return this.anchors.length;
  }

  /** A file of `size` bytes holding this content read up to `offset` was truncated (not merely a short copy). */
  truncatedAt(size: number, offset: number): boolean {
    return size < offset && !(this.shortAt !== undefined && size >= this.shortAt);
  }

  toJSON(): ContentJson {
    const j: ContentJson = { key: this.key, fp: [this.fp.hash, this.fp.len], acked: this.acked, anchors: this.anchors.map((a) => [a.off, a.ms, a.sub, a.end]) };
    if (this.ackedSkip) j.skip = true;
    if (this.shortAt !== undefined) j.short = this.shortAt;
    return j;
  }

  static from(j: ContentJson): Content | null {
    if (typeof j?.key !== 'string' || !Array.isArray(j.fp) || typeof j.acked !== 'number' || !Array.isArray(j.anchors)) return null;
    const anchors: Anchor[] = [];
    for (const x of j.anchors) {
      if (!Array.isArray(x) || x.length !== 4 || !x.every((n) => typeof n === 'number')) return null;
      anchors.push({ off: x[0]!, ms: x[1]!, sub: x[2]!, end: x[3]! });
    }
    const c = new Content(j.key, { hash: String(j.fp[0]), len: Number(j.fp[1]) || 0 }, j.acked, j.skip === true, anchors);
    if (typeof j.short === 'number') c.shortAt = j.short;
    return c;
  }
}

export interface ContentJson {
  key: string;
  fp: [string, number];
  acked: number;
  skip?: true;
  /** See Content.shortAt. */
  short?: number;
  anchors: Array<[number, number, number, number]>;
}

/** One file's stored record: its path (for humans) and its content's position. */
export interface FileRecordJson extends ContentJson {
  v: 1;
  path: string;
}

/** Content whose file was truncated or deleted: kept a while so a copy of it (copytruncate) resumes it. */
export interface OrphanJson extends ContentJson {
  /** When it was orphaned (epoch ms). */
  at: number;
  /** Read up to here before it was orphaned (emitted), for a copy found in the same run. */
  read: number;
}

export interface IndexJson {
  v: 1;
  /** Last time the source was running (epoch ms, refreshed every minute). */
  seen: number;
  ids: string[];
  orphans: OrphanJson[];
}

/**
 * Writes of one key never overlap and coalesce: a request while a write runs is served by one write
 * after it, which reads the state as it is then.
 */
class KeyedWriter {
  private readonly running = new Map<string, Promise<void>>();
  private readonly queued = new Map<string, Promise<void>>();
  private readonly write: (key: string) => Promise<void>;

  constructor(write: (key: string) => Promise<void>) {
    this.write = write;
  }

  request(key: string): Promise<void> {
    const run = this.running.get(key);
    if (!run) return this.start(key);
    let q = this.queued.get(key);
    if (!q) {
      q = run.then(() => {
        this.queued.delete(key);
        return this.start(key);
      });
      this.queued.set(key, q);
    }
    return q;
  }

  private start(key: string): Promise<void> {
    const p = this.write(key).finally(() => {
      if (this.running.get(key) === p) this.running.delete(key);
    });
    this.running.set(key, p);
    return p;
  }

  async idle(): Promise<void> {
    while (this.running.size > 0 || this.queued.size > 0) await Promise.allSettled([...this.running.values(), ...this.queued.values()]);
  }
}

export interface PositionStoreOptions {
  store: StateStore;
  /** Key scope (the host name by default): replicas sharing a JetStream KV bucket keep apart. */
  scope: string;
  log: Logger;
  /** Acknowledged positions are written this long after the acknowledgement, coalesced. */
  flushDelayMs: number;
  /** The current record of a file id, or null to delete it. */
  recordOf(id: string): FileRecordJson | null;
  indexOf(): IndexJson;
}

const INDEX = '_index';

export class PositionStore {
  private readonly o: PositionStoreOptions;
  private readonly writer: KeyedWriter;
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(o: PositionStoreOptions) {
    this.o = o;
    this.writer = new KeyedWriter((id) => this.writeNow(id));
  }

  key(id: string): string {
    return stateKey('files', this.o.scope, id);
  }

  private decode<T>(bytes: Uint8Array | null): T | null {
    if (!bytes) return null;
    try {
      return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
    } catch {
      return null;
    }
  }

  async loadIndex(): Promise<IndexJson | null> {
    const j = this.decode<IndexJson>(await this.o.store.get(this.key(INDEX)));
    if (!j || j.v !== 1 || !Array.isArray(j.ids)) return null;
    return { v: 1, seen: Number(j.seen) || 0, ids: j.ids.filter((x) => typeof x === 'string'), orphans: Array.isArray(j.orphans) ? j.orphans : [] };
  }

  async loadRecord(id: string): Promise<FileRecordJson | null> {
    try {
      const j = this.decode<FileRecordJson>(await this.o.store.get(this.key(id)));
      return j && j.v === 1 ? j : null;
    } catch (err) {
      sourceEvents.filePositionLoadFailed({}, 1, { err: (err as Error).message, id, store: this.o.store.kind }, this.o.log);
      return null;
    }
  }

  /** Persists `id` now; resolves when a write that started after this call is done (never rejects). */
  save(id: string): Promise<void> {
    this.dirty.delete(id);
    return this.writer.request(id);
  }

  saveIndex(): Promise<void> {
    return this.save(INDEX);
  }

  /** Persists `id` within flushDelayMs. */
  schedule(id: string): void {
    this.dirty.add(id);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushDirty();
    }, this.o.flushDelayMs);
  }

  scheduleIndex(): void {
    this.schedule(INDEX);
  }

  private flushDirty(): void {
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) void this.writer.request(id);
  }

  async flushAll(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushDirty();
    await this.writer.idle();
  }

  private async writeNow(id: string): Promise<void> {
    try {
      if (id === INDEX) {
        await this.o.store.put(this.key(INDEX), Buffer.from(JSON.stringify(this.o.indexOf())));
        return;
      }
      const rec = this.o.recordOf(id);
      if (rec) await this.o.store.put(this.key(id), Buffer.from(JSON.stringify(rec)));
      else await this.o.store.delete(this.key(id));
    } catch (err) {
      sourceEvents.filePositionWriteFailed({}, 1, { err: (err as Error).message, id, store: this.o.store.kind }, this.o.log);
      this.schedule(id);
    }
  }

}
