import { keyFromMs } from './timestamp.ts';

/**
 * Where a container's log was read up to. Timestamps alone cannot be a cursor: `sinceTime` has
 * whole-second precision, many lines share a timestamp, and containerd interleaves stdout and stderr
 * slightly out of order. So a cursor is:
 *
 *   - `max`: the newest timestamp key taken,
 *   - `seen`: a multiset of line hashes per timestamp for the last `windowMs` before `max` (bounded),
 *   - `floor`: lines strictly older than this are done (window start, or raised when `seen` overflowed).
 *
 * Resuming asks the API from floor's second and drops exactly the replayed lines that were taken; a line
 * inside the window that was not taken (an out-of-order line that never made it) is still delivered.
 */

export interface CursorJson {
  v: 1;
  max: string;
  floor: string;
  /** timestamp key → hashes of lines taken at that instant (a hash repeats when the line did). */
  seen: Record<string, string[]>;
}

export interface CursorLimits {
  /** How far behind `max` a line may arrive out of order and still be told apart (default 2000 ms). */
  windowMs: number;
  /** Hashes kept at most (default 512): the oldest instants go first and raise the floor. */
  maxSeen: number;
}

export const DEFAULT_CURSOR_LIMITS: CursorLimits = { windowMs: 2000, maxSeen: 512 };

/** Cheap 32-bit FNV-1a over UTF-16 units plus the length: collisions only matter within one instant of one container. */
export function lineHash(line: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < line.length; i++) {
    h ^= line.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36) + '.' + line.length.toString(36);
}

function keyMs(key: string): number {
  return Date.parse(key.slice(0, 23) + 'Z');
}

interface Group {
  ms: number;
  hashes: Map<string, number>;
}

export class Cursor {
  private maxKey: string | null = null;
  private maxMs = 0;
  private evictedFloor: string | null = null;
  /** Ordered by key ascending (insertion keeps order in the common in-order case; out-of-order inserts re-sort). */
  private groups = new Map<string, Group>();
  private count = 0;
  private readonly limits: CursorLimits;
  private windowFor: string | null = null;
  private windowStart = '';

  constructor(limits: CursorLimits = DEFAULT_CURSOR_LIMITS) {
    this.limits = limits;
  }

  get max(): string | null {
    return this.maxKey;
  }

  get size(): number {
    return this.count;
  }

  /** Lines with a key strictly below the floor are done. */
  get floor(): string | null {
    if (this.maxKey === null) return null;
    if (this.windowFor !== this.maxKey) {
      this.windowFor = this.maxKey;
      this.windowStart = keyFromMs(this.maxMs - this.limits.windowMs);
    }
    return this.evictedFloor !== null && this.evictedFloor > this.windowStart ? this.evictedFloor : this.windowStart;
  }

  /** Marks one line as taken. `ms` (the key's epoch ms) saves a parse when the caller has it. */
  add(key: string, hash: string, ms: number = keyMs(key)): void {
    // Numeric window checks on the hot path: formatting a floor key per line is what costs.
    if (this.maxKey !== null && ms < this.maxMs - this.limits.windowMs) return;
    if (this.evictedFloor !== null && key < this.evictedFloor) return;
    let group = this.groups.get(key);
    if (!group) {
      group = { ms, hashes: new Map() };
      const outOfOrder = this.maxKey !== null && key < this.maxKey;
      this.groups.set(key, group);
      if (outOfOrder) this.groups = new Map([...this.groups].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    }
    group.hashes.set(hash, (group.hashes.get(hash) ?? 0) + 1);
    this.count++;
    if (this.maxKey === null || key > this.maxKey) {
      this.maxKey = key;
      this.maxMs = ms;
      this.prune();
    }
    while (this.count > this.limits.maxSeen) this.evictOldest();
  }

  /** How many times this exact line was taken at this instant. */
  taken(key: string, hash: string): number {
    return this.groups.get(key)?.hashes.get(hash) ?? 0;
  }

  private prune(): void {
    const limit = this.maxMs - this.limits.windowMs;
    for (const [k, g] of this.groups) {
      if (g.ms >= limit) break;
      this.groups.delete(k);
      for (const n of g.hashes.values()) this.count -= n;
    }
  }

  private evictOldest(): void {
    const first = this.groups.entries().next();
    if (first.done) return;
    const [k, g] = first.value;
    this.groups.delete(k);
    for (const n of g.hashes.values()) this.count -= n;
    // Everything up to and including k is now "done"; the floor is the next instant we still remember.
    const next = this.groups.keys().next();
    this.evictedFloor = next.done ? this.maxKey : next.value;
    if (next.done && this.maxKey !== null && this.maxKey === k) {
      // The newest instant itself overflowed: keep the floor past it so it is never re-sent.
      this.evictedFloor = k + '~';
    }
  }

  static from(json: CursorJson, limits: CursorLimits = DEFAULT_CURSOR_LIMITS): Cursor {
    const c = new Cursor(limits);
    c.maxKey = json.max;
    c.maxMs = keyMs(json.max);
    const keys = Object.keys(json.seen).sort();
    for (const k of keys) {
      const g = new Map<string, number>();
      for (const h of json.seen[k] ?? []) g.set(h, (g.get(h) ?? 0) + 1);
      c.groups.set(k, { ms: keyMs(k), hashes: g });
      c.count += json.seen[k]?.length ?? 0;
    }
    const windowStart = keyFromMs(c.maxMs - limits.windowMs);
    if (json.floor > windowStart) c.evictedFloor = json.floor;
    c.prune();
    while (c.count > limits.maxSeen) c.evictOldest();
    return c;
  }

  toJSON(): CursorJson | null {
    if (this.maxKey === null) return null;
    const seen: Record<string, string[]> = {};
    for (const [k, g] of this.groups) {
      const hs: string[] = [];
      for (const [h, n] of g.hashes) for (let i = 0; i < n; i++) hs.push(h);
      seen[k] = hs;
    }
    return { v: 1, max: this.maxKey, floor: this.floor ?? this.maxKey, seen };
  }

  clone(): Cursor {
    const j = this.toJSON();
    return j ? Cursor.from(j, this.limits) : new Cursor(this.limits);
  }

  static parse(bytes: Uint8Array | null, limits: CursorLimits = DEFAULT_CURSOR_LIMITS): Cursor | null {
    if (!bytes) return null;
    try {
      const j = JSON.parse(Buffer.from(bytes).toString('utf8')) as CursorJson;
      if (j?.v !== 1 || typeof j.max !== 'string' || typeof j.floor !== 'string' || typeof j.seen !== 'object') return null;
      return Cursor.from(j, limits);
    } catch {
      return null;
    }
  }

  serialize(): Uint8Array | null {
    const j = this.toJSON();
    return j ? Buffer.from(JSON.stringify(j)) : null;
  }
}

/**
 * Applies a resume cursor to the lines replayed after a reconnect: drops exactly the lines that were taken,
 * keeps the rest. Once the stream is clearly past the cursor (a line newer than max + window) the filter
 * switches off, so a live line is never dropped for being older than the one before it.
 */
export class ResumeFilter {
  private remaining: Map<string, Map<string, number>>;
  private readonly floor: string;
  private readonly max: string;
  private readonly offKey: string;
  private on = true;
  /** Replayed lines dropped as already taken. */
  dropped = 0;
  /** The replay reached back to lines already taken: the file holding the cursor was still there. */
  matchedCursor = false;

  constructor(cursor: Cursor, windowMs: number) {
    const j = cursor.toJSON();
    if (!j) throw new Error('ResumeFilter needs a cursor with a position');
    this.floor = j.floor;
    this.max = j.max;
    this.offKey = keyFromMs(keyMs(j.max) + windowMs);
    this.remaining = new Map();
    for (const [k, hs] of Object.entries(j.seen)) {
      const g = new Map<string, number>();
      for (const h of hs) g.set(h, (g.get(h) ?? 0) + 1);
      this.remaining.set(k, g);
    }
  }

  get active(): boolean {
    return this.on;
  }

  /** True: deliver the line. */
  admit(key: string, hash: () => string): boolean {
    if (!this.on) return true;
    if (key > this.offKey) {
      this.on = false;
      return true;
    }
    if (key < this.floor) {
      this.dropped++;
      this.matchedCursor = true;
      return false;
    }
    if (key > this.max) return true;
    const g = this.remaining.get(key);
    if (g) {
      const h = hash();
      const n = g.get(h) ?? 0;
      if (n > 0) {
        if (n === 1) g.delete(h);
        else g.set(h, n - 1);
        this.dropped++;
        this.matchedCursor = true;
        return false;
      }
    }
    return true;
  }
}
