/**
 * The one bounded buffer of the project's sinks: memory first, then the disk spool (src/delivery/spool.ts),
 * used by the Loki sink (a batch = one push request, spilled as one whole segment) and the JetStream sink
 * (a batch = one finding, appended to the open segment). The owner sends; the buffer holds what waits.
 *
 * Tiers, oldest data first: spool segments (disk) → memory queue (the newest). When memory is over its
 * bound, its oldest batch moves to the spool, or is dropped when there is none (or when spills already
 * hold too much memory waiting for the disk); when the spool would go over its bound, its oldest
 * segments are dropped first. Every drop is reported with its reason, item count and write orders, so
 * the owner counts it and settles the acknowledgements of those batches.
 *
 * Bytes the owner holds outside the queue (a batch being filled, batches in flight or waiting for a
 * retry) are `reserve`d: they count against the memory bound but are never the buffer's to drop, as
 * an in-flight request can no longer be taken back. A batch taken from memory stays on the memory
 * account until `done`; one read back from the spool stays on the spool account until every batch of
 * its segment is `done` (then the file is deleted), so a crash in between replays it.
 */
import { SegmentSpool, type Segment } from './spool.ts';
import { metrics } from '../metrics.ts';

/** Write orders of batches found on disk from a previous run: before everything this run writes. */
export const PREVIOUS_RUN = -(2 ** 50);

/** The part of a batch the buffer reads and keeps; owners extend it. */
export interface Buffered {
  /** Bytes counted against the bound of the tier holding it. */
  bytes: number;
  /** Position in write order (the owner's acknowledgement order). */
  readonly order: number;
  /** Where the buffer counts it once taken: memory, or a share of a spool segment. Set by the buffer. */
  held?: Held;
}

/** A taken batch's account: memory bytes, or one of the outstanding parts of a spool segment. */
export type Held = { tier: 'memory' } | { tier: 'spool'; share: SpoolShare };

/** The outstanding parts of a segment read back; the file goes when the last one is done. */
export interface SpoolShare {
  remaining: number;
}

/** The buffer's side of a share: the segment to delete (unset once deleted). */
interface ShareOnDisk extends SpoolShare {
  d?: OnDisk;
}

export interface BatchCodec<B extends Buffered> {
  /** Items in a batch (lines, findings), for drop accounting. */
  items(b: B): number;
  /** One JSON text per item. */
  encode(b: B): string[];
  /** A number kept in the segment's name (the Loki sink: the oldest entry time); NaN for none. */
  meta?(b: B): number;
  /** The batches of a segment read back (`orders`: the write orders of the batches spilled into it), and the payloads that held none. */
  decode(payloads: string[], seg: { orders: readonly number[]; meta: number }): { batches: B[]; corrupt: number };
}

export interface DropReasons {
  /** Memory over its bound with no room for a spill. */
  memoryFull: string;
  /** The spool over its bound: its oldest segments go. */
  spoolFull: string;
  /** The disk refused a write (and, unless `spoolReadError` says otherwise, a segment could not be read). */
  spoolError: string;
  spoolReadError?: string;
  /** Frames of a segment read back that were damaged. */
  spoolCorrupt: string;
}

export interface DeliveryBufferOptions<B extends Buffered> {
  /** Gauges `rsd_sink_queue_bytes{sink,tier}`. */
  name: string;
  memory: { maxBytes: number; maxBatches?: number };
  spool?: {
    dir: string;
    maxBytes: number;
    /** `whole`: a segment per batch (written aside, fsynced, renamed); `append`: batches are frames of the open segment, sealed every `segmentBatches`. */
    mode: 'whole' | 'append';
    segmentBatches?: number;
  };
  codec: BatchCodec<B>;
  reasons: DropReasons;
  /** Items that will not be delivered, and the write orders of their batches (none for a previous run's segment dropped unread is an empty list only when unknown). */
  onDrop(reason: string, items: number, orders: readonly number[], err?: unknown): void;
  /** The previous run's segments found on disk (their write orders, oldest first, and bytes), before this run's. */
  onReplay?(orders: readonly number[], bytes: number): void;
  /** After a spill landed or failed (an owner waiting for the queue to drain may look again). */
  onSettled?(): void;
}

interface OnDisk {
  seg: Segment;
  /** Orders of the batches in it, oldest first. */
  orders: number[];
}

export class DeliveryBuffer<B extends Buffered> {
  /**
   * Resolves once the spool's directory is scanned (the previous run's segments went to `onReplay`
   * first), with the error, if any, that keeps the spool closed (the buffer then runs on memory alone
   * and counts every spill as a spool error). Never rejects.
   */
  readonly ready: Promise<{ error?: unknown }>;
  /** How full it is (src/delivery/pressure.ts), kept current on every change, and what full means in bytes. */
  readonly pressure: { fill: number; readonly capacityBytes: number };
  private readonly o: DeliveryBufferOptions<B>;
  private readonly store: SegmentSpool | undefined;
  private readonly queue: B[] = [];
  private queuedBytes = 0;
  private reservedBytes = 0;
  private reservedBatches = 0;
  /** Segments not taken yet, oldest first. */
  private readonly disk: OnDisk[] = [];
  /** Batches decoded from a segment and not taken yet (an appended segment holds many). */
  private readonly loaded: B[] = [];
  private spoolAccount = 0;
  private spilling = 0;
  private spillingBytes = 0;
  private chain: Promise<void>;
  private spoolBroken = false;
  private readonly removals = new Set<Promise<void>>();
  /** Segments off the account (dropped, delivered), whose late write errors must not count twice. */
  private readonly gone = new WeakSet<Segment>();

  constructor(o: DeliveryBufferOptions<B>) {
    this.o = o;
    this.pressure = { fill: 0, capacityBytes: o.memory.maxBytes + (o.spool?.maxBytes ?? 0) };
    this.store = o.spool
      ? new SegmentSpool(o.spool.dir, {
          // Appends report the frames a refused write lost (whole writes reject instead).
          onLoss: (reason, n, err, cut) => {
            if (reason !== 'write_error') return;
            // Frames the disk refused leave the account, unless their segment already left it whole.
            if (cut && !this.gone.has(cut.seg)) {
              this.spoolAccount -= cut.bytes;
              this.gauges();
            }
            if (n > 0) this.o.onDrop(o.reasons.spoolError, n, [], err);
          },
        })
      : undefined;
    this.ready = this.open();
    // Spills wait for the scan (it removes stale temporary files and sets the next sequence number).
    this.chain = this.ready.then(() => undefined);
  }

  private async open(): Promise<{ error?: unknown }> {
    if (!this.store) return {};
    let segs: Segment[];
    try {
      segs = await this.store.opened;
    } catch (error) {
      this.spoolBroken = true;
      return { error };
    }
    const orders: number[] = [];
    // Ahead of anything this run spilled while the scan ran.
    const previous: OnDisk[] = [];
    for (const seg of segs) {
      if (seg.count < 0) seg.count = await this.store.count(seg);
      orders.push(PREVIOUS_RUN + seg.seq);
      previous.push({ seg, orders: [PREVIOUS_RUN + seg.seq] });
      this.spoolAccount += seg.bytes;
    }
    this.disk.unshift(...previous);
    // The owner tracks their orders before any of them can be dropped for the bound.
    if (orders.length) this.o.onReplay?.(orders, this.spoolAccount);
    this.makeRoom(0);
    this.gauges();
    return {};
  }

  // ---- what is held ------------------------------------------------------------------------

  /** Memory bytes: the queue and what the owner reserved. */
  memoryBytes(): number {
    return this.queuedBytes + this.reservedBytes;
  }

  /** Spool bytes: segments on disk, taken or not, and spills on their way. */
  spoolBytes(): number {
    return this.spoolAccount;
  }

  /** Batches in memory (queued and reserved). */
  memoryBatches(): number {
    return this.queue.length + this.reservedBatches;
  }

  /** Batches of the memory queue (not reserved). */
  queuedBatches(): number {
    return this.queue.length;
  }

  /** Segments (and batches read from them) not taken yet. */
  spooled(): number {
    return this.disk.length + this.loaded.length;
  }

  oldestQueued(): B | undefined {
    return this.queue[0];
  }

  /** The meta of the oldest segment not taken yet (NaN when its name has none). */
  oldestSpooledMeta(): number | undefined {
    if (this.loaded.length) return this.loaded[0] && this.o.codec.meta ? this.o.codec.meta(this.loaded[0]) : Number.NaN;
    return this.disk[0]?.seg.meta;
  }

  /** Spills still waiting for the disk. */
  busy(): boolean {
    return this.spilling > 0;
  }

  /** Nothing queued, spooled or on its way to disk (reserved bytes are the owner's). */
  empty(): boolean {
    return this.queue.length === 0 && this.disk.length === 0 && this.loaded.length === 0 && this.spilling === 0;
  }

  /** 0 … 1: everything held over everything allowed. */
  fill(): number {
    const cap = this.o.memory.maxBytes + (this.o.spool?.maxBytes ?? 0);
    return Math.min(1, Math.max(0, this.memoryBytes() + this.spoolAccount) / cap);
  }

  // ---- the owner's side ----------------------------------------------------------------------

  /** Bytes the owner holds outside the queue (a batch being filled): counted against the memory bound. */
  reserve(bytes: number): void {
    this.reservedBytes += bytes;
    this.makeRoomInMemory();
    this.gauges();
  }

  unreserve(bytes: number): void {
    this.reservedBytes -= bytes;
    this.gauges();
  }

  /** A new batch, the newest; `reserved`: its bytes were reserved while it filled (they move to the queue). */
  push(b: B, opts: { reserved?: boolean } = {}): void {
    if (opts.reserved) this.unreserve(b.bytes);
    b.held = undefined;
    this.queue.push(b);
    this.queuedBytes += b.bytes;
    this.makeRoomInMemory();
    this.gauges();
  }

  /** The oldest batch: the spool's first, else memory's. It stays on its tier's account until `done`. */
  async takeOldest(): Promise<B | undefined> {
    await this.ready; // a previous run's segments are older than anything in memory
    if (this.loaded.length || this.disk.length) {
      const b = await this.takeSpooled();
      if (b) return b;
    }
    const b = this.queue.shift();
    if (b) this.toReserved(b);
    return b;
  }

  /** The newest batch in memory (live-first sending). */
  takeNewest(): B | undefined {
    const b = this.queue.pop();
    if (b) this.toReserved(b);
    return b;
  }

  /** Taken batches that could not be sent, back at the head of their tier, oldest first (they may be dropped again). */
  requeue(bs: readonly B[]): void {
    const toMemory: B[] = [];
    const toSpool: B[] = [];
    for (const b of bs) (b.held?.tier === 'spool' ? toSpool : toMemory).push(b);
    for (const b of toMemory) {
      this.fromReserved(b);
      this.queuedBytes += b.bytes;
    }
    this.queue.unshift(...toMemory);
    this.loaded.unshift(...toSpool);
    this.makeRoomInMemory();
    this.gauges();
  }

  /** The batch left the owner (delivered, refused or dropped by it): off its tier's account. Resolves when a segment it released is deleted. */
  done(b: B): Promise<void> {
    const held = b.held;
    b.held = undefined;
    let removed: Promise<void> | undefined;
    if (held?.tier === 'memory') {
      this.reservedBytes -= b.bytes;
      this.reservedBatches--;
    } else if (held && --held.share.remaining === 0) {
      removed = this.releaseSegmentOf(held.share);
    }
    this.gauges();
    return removed ?? Promise.resolve();
  }

  /** A taken batch split in two: both parts are outstanding on its account (the owner sends them apart). */
  split(parent: B, a: B, b: B): void {
    const held = parent.held;
    if (held?.tier === 'spool') held.share.remaining++;
    a.held = held;
    b.held = held;
    // Memory bytes move with the parts (a.bytes + b.bytes = parent.bytes).
    if (held?.tier === 'memory') this.reservedBatches++;
  }

  /**
   * At shutdown: everything not delivered goes to the spool (when there is one) in write order: what
   * the owner still holds (`held`: in flight, waiting for a retry) and what was read back from disk
   * ahead of the segments still there (one segment, written `before` them), the rest after them, the
   * memory queue last. Read-back segments are deleted once their batches are rewritten, so a partly
   * delivered segment does not replay its delivered part. With no spool, everything is dropped as
   * `reason`; returns the items so lost.
   */
  async persist(held: readonly B[], reason: string): Promise<number> {
    await this.ready;
    const all = [...held, ...this.loaded.splice(0), ...this.queue.splice(0)];
    this.queuedBytes = 0;
    const shares = new Set<SpoolShare>();
    let lost = 0;
    const older: B[] = [];
    const newer: B[] = [];
    const firstOnDisk = this.disk[0]?.orders[0] ?? Infinity;
    for (const b of all) {
      if (b.held?.tier === 'spool') shares.add(b.held.share);
      else if (b.held?.tier === 'memory') this.fromReserved(b);
      b.held = undefined;
      if (!this.store || this.spoolBroken) {
        const n = this.o.codec.items(b);
        lost += n;
        this.o.onDrop(reason, n, [b.order]);
      } else (b.order < firstOnDisk ? older : newer).push(b);
    }
    older.sort((x, y) => x.order - y.order);
    newer.sort((x, y) => x.order - y.order);
    const written: Promise<boolean>[] = [];
    if (older.length) written.push(this.spill(older, { before: true }));
    for (const b of newer) written.push(this.spill([b]));
    const ok = (await Promise.all(written)).every(Boolean);
    await this.settle();
    // A rewrite the disk refused was counted as dropped; its original segment then stays (replayed, not lost).
    if (ok) for (const share of shares) this.releaseSegmentOf(share);
    await Promise.all(this.removals);
    this.gauges();
    return lost;
  }

  /** Waits for every spill so far and seals the open segment (fsynced). */
  async settle(): Promise<void> {
    await this.chain;
    if (this.store) {
      this.store.seal();
      await this.store.settle();
    }
    await Promise.all(this.removals);
  }

  // ---- inside ---------------------------------------------------------------------------------

  /** A batch taken from the queue: its bytes stay on the memory account as the owner's. */
  private toReserved(b: B): void {
    this.queuedBytes -= b.bytes;
    this.reservedBytes += b.bytes;
    this.reservedBatches++;
    b.held = { tier: 'memory' };
  }

  /** A taken memory batch leaves the owner's reservation (back to the queue, or to disk at shutdown). */
  private fromReserved(b: B): void {
    this.reservedBytes -= b.bytes;
    this.reservedBatches--;
    b.held = undefined;
  }

  private async takeSpooled(): Promise<B | undefined> {
    while (!this.loaded.length && this.disk.length) {
      const d = this.disk.shift()!;
      const store = this.store!;
      if (store.isOpen(d.seg)) store.seal();
      let payloads: string[];
      let damaged: number;
      try {
        ({ payloads, corrupt: damaged } = await store.read(d.seg));
      } catch (err) {
        this.spoolAccount -= d.seg.bytes;
        this.o.onDrop(this.o.reasons.spoolReadError ?? this.o.reasons.spoolError, Math.max(0, d.seg.count), d.orders, err);
        this.remove(d.seg);
        this.gauges();
        continue;
      }
      const { batches, corrupt } = this.o.codec.decode(payloads, { orders: d.orders, meta: d.seg.meta });
      if (damaged + corrupt) this.o.onDrop(this.o.reasons.spoolCorrupt, damaged + corrupt, []);
      const share: ShareOnDisk = { remaining: batches.length, d };
      if (!batches.length) {
        this.releaseSegmentOf(share);
        continue;
      }
      for (const b of batches) b.held = { tier: 'spool', share };
      this.loaded.push(...batches);
    }
    return this.loaded.shift();
  }

  private releaseSegmentOf(share: ShareOnDisk): Promise<void> | undefined {
    const d = share.d;
    if (!d) return undefined;
    share.d = undefined;
    this.spoolAccount -= d.seg.bytes;
    this.gauges();
    return this.remove(d.seg);
  }

  /** Deletes a segment's file; `settle` waits for it. */
  private remove(seg: Segment): Promise<void> | undefined {
    if (!this.store) return undefined;
    this.gone.add(seg);
    const p: Promise<void> = this.store.remove(seg).catch(() => undefined).finally(() => this.removals.delete(p));
    this.removals.add(p);
    return p;
  }

  /** Memory over its bound: the oldest queued batches go to the spool, or are dropped. */
  private makeRoomInMemory(): void {
    const maxBatches = this.o.memory.maxBatches ?? Infinity;
    while (this.queue.length && (this.memoryBytes() > this.o.memory.maxBytes || this.memoryBatches() > maxBatches)) {
      const victim = this.queue.shift()!;
      this.queuedBytes -= victim.bytes;
      // Spills waiting for the disk still hold their batches in memory: bound them as well
      // (at least 16 MiB, so a burst in one tick is not dropped while the disk has room).
      if (this.store && this.spoolBroken) this.o.onDrop(this.o.reasons.spoolError, this.o.codec.items(victim), [victim.order]);
      else if (this.store && this.spillingBytes <= Math.max(this.o.memory.maxBytes, 16 << 20)) void this.spill([victim]);
      else this.o.onDrop(this.o.reasons.memoryFull, this.o.codec.items(victim), [victim.order]);
    }
  }

  /** Drops the oldest segments not taken until `incoming` more bytes fit the spool bound. */
  private makeRoom(incoming: number): void {
    const max = this.o.spool?.maxBytes ?? Infinity;
    while (this.spoolAccount + incoming > max && this.disk.length) {
      const d = this.disk.shift()!;
      if (this.store?.isOpen(d.seg)) this.store.seal();
      this.spoolAccount -= d.seg.bytes;
      this.o.onDrop(this.o.reasons.spoolFull, Math.max(0, d.seg.count), d.orders);
      this.remove(d.seg);
    }
  }

  /** Spills batches as one segment (appended ones as frames of the open segment); resolves false when the disk refused it. */
  private spill(bs: readonly B[], opts: { before?: boolean } = {}): Promise<boolean> {
    const spool = this.o.spool!;
    const store = this.store!;
    const payloads = bs.flatMap((b) => this.o.codec.encode(b));
    const orders = bs.map((b) => b.order);
    const count = bs.reduce((n, b) => n + this.o.codec.items(b), 0);
    // frame = 8 hex digits, a space, the payload, a newline
    const size = payloads.reduce((n, p) => n + Buffer.byteLength(p) + 10, 0);
    if (spool.mode === 'append' && !opts.before) {
      this.makeRoom(size);
      if (this.spoolAccount + size > spool.maxBytes) {
        this.o.onDrop(this.o.reasons.spoolFull, count, orders);
        return Promise.resolve(false);
      }
      if (store.openCount() >= (spool.segmentBatches ?? 1_000)) store.seal();
      let seg: Segment | undefined;
      for (const p of payloads) seg = store.append(p);
      if (seg) {
        const last = this.disk.at(-1);
        if (last?.seg === seg) last.orders.push(...orders);
        else this.disk.push({ seg, orders });
        this.spoolAccount += size;
        this.gauges();
      }
      return Promise.resolve(true);
    }
    const bytes = bs.reduce((n, b) => n + b.bytes, 0);
    this.spilling++;
    this.spillingBytes += bytes;
    // The segment's meta is the smallest of its batches' (the Loki sink: the oldest entry time).
    const metas = this.o.codec.meta ? bs.map((b) => this.o.codec.meta!(b)).filter((m) => Number.isFinite(m)) : [];
    const meta = metas.length ? Math.min(...metas) : Number.NaN;
    const done = this.chain.then(async () => {
      try {
        const seg = await store.write(payloads, { meta, before: opts.before === true });
        const d = { seg, orders };
        if (opts.before) this.disk.unshift(d);
        else this.disk.push(d);
        this.spoolAccount += seg.bytes;
        // Over the bound: the oldest segments go (the new one too, when it alone is too big).
        this.makeRoom(0);
        return true;
      } catch (err) {
        this.o.onDrop(this.o.reasons.spoolError, count, orders, err);
        return false;
      } finally {
        this.spilling--;
        this.spillingBytes -= bytes;
        this.gauges();
        this.o.onSettled?.();
      }
    });
    this.chain = done.then(() => undefined);
    return done;
  }

  private gauges(): void {
    this.pressure.fill = this.fill();
    metrics.sinkQueueBytes.set({ sink: this.o.name, tier: 'memory' }, Math.max(0, this.memoryBytes()));
    metrics.sinkQueueBytes.set({ sink: this.o.name, tier: 'spool' }, Math.max(0, this.spoolAccount));
  }
}
