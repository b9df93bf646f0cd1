/**
 * Acknowledgements in write order. A sink sends batches out of order (retries, a spool tier, halves
 * of a split batch), but a source's cursor may only move past lines once every older line is
 * delivered too, or a crash after a young batch's ack would skip an old one. Each batch carries its
 * write order; `track` says one is outstanding, `done` says it finished (delivered or dropped), and
 * delivered batches wait here until nothing older is outstanding, then go to `deliver` in order.
 *
 * Bounded: when the delivered batches held back exceed `maxHeldBytes`, the oldest held ones are
 * discarded unacknowledged (their lines are re-read after a restart and dropped as duplicates by
 * the store, never lost) and counted through `onDiscard`.
 */
export interface OrderedAcksOptions<R> {
  maxHeldBytes: number;
  /** Called with the records of each batch that may now be acknowledged, oldest first. */
  deliver: (records: readonly R[]) => void;
  onDiscard?: (records: number) => void;
  /** The bytes held back after every change (a gauge). */
  onHeld?: (bytes: number) => void;
}

interface Held<R> {
  order: number;
  bytes: number;
  records: readonly R[];
}

export class OrderedAcks<R> {
  private readonly o: OrderedAcksOptions<R>;
  /** Orders of batches not yet done, as a multiset (a split batch is outstanding twice). */
  private readonly pending = new Map<number, number>();
  /** Delivered batches waiting for older ones, in write order. */
  private readonly held: Held<R>[] = [];
  private heldBytes = 0;

  constructor(o: OrderedAcksOptions<R>) {
    this.o = o;
  }

  /** A batch of this write order is outstanding (call once per part when a batch is split). */
  track(order: number): void {
    this.pending.set(order, (this.pending.get(order) ?? 0) + 1);
  }

  /** The batch finished: `delivered` when the store accepted it, absent when it was dropped. */
  done(order: number, delivered?: { records: readonly R[]; bytes: number }): void {
    const n = this.pending.get(order) ?? 0;
    if (n <= 1) this.pending.delete(order);
    else this.pending.set(order, n - 1);
    if (delivered && delivered.records.length) this.hold({ order, ...delivered });
    this.release();
    this.bound();
    this.o.onHeld?.(this.heldBytes);
  }

  /** Bytes of delivered batches waiting for older ones. */
  get heldBack(): number {
    return this.heldBytes;
  }

  /** Write orders still outstanding, and delivered batches held back (what a test checks drains to 0). */
  counts(): { outstanding: number; held: number } {
    return { outstanding: this.pending.size, held: this.held.length };
  }

  private hold(h: Held<R>): void {
    let i = this.held.length;
    while (i > 0 && this.held[i - 1]!.order > h.order) i--;
    this.held.splice(i, 0, h);
    this.heldBytes += h.bytes;
  }

  private oldestPending(): number {
    let min = Infinity;
    for (const o of this.pending.keys()) if (o < min) min = o;
    return min;
  }

  private release(): void {
    if (this.held.length === 0) return;
    const oldest = this.oldestPending();
    while (this.held.length > 0 && this.held[0]!.order <= oldest) {
      const h = this.held.shift()!;
      this.heldBytes -= h.bytes;
      this.o.deliver(h.records);
    }
  }

  private bound(): void {
    while (this.heldBytes > this.o.maxHeldBytes && this.held.length > 1) {
      const gone = this.held.shift()!;
      this.heldBytes -= gone.bytes;
      this.o.onDiscard?.(gone.records.length);
    }
  }
}
