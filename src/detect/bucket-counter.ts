/**
 * Event-time sliding-window counter made of a fixed ring of buckets: O(1) add, O(buckets)
 * count, bounded memory, and tolerant of out-of-order records within the window.
 */
export class BucketCounter {
  private readonly counts: Float64Array;
  private readonly index: Float64Array;
  private readonly width: number;
  readonly windowMs: number;

  constructor(windowMs: number, buckets = 12) {
    this.windowMs = windowMs;
    this.width = Math.max(1, Math.ceil(windowMs / buckets));
    this.counts = new Float64Array(buckets + 1);
    this.index = new Float64Array(buckets + 1).fill(-1);
  }

  /** Add n at event time t. Returns false when t is older than the ring covers (too late). */
  add(t: number, n = 1, now = t): boolean {
    const b = Math.floor(t / this.width);
    const newest = Math.floor(now / this.width);
    if (b <= newest - this.counts.length) return false;
    const slot = b % this.counts.length;
    if (this.index[slot] !== b) {
      this.index[slot] = b;
      this.counts[slot] = 0;
    }
    this.counts[slot]! += n;
    return true;
  }

  /** Occurrences in (now − window, now]. */
  count(now: number): number {
    const newest = Math.floor(now / this.width);
    const oldest = Math.floor((now - this.windowMs) / this.width) + 1;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const b = this.index[i]!;
      if (b >= oldest && b <= newest) sum += this.counts[i]!;
    }
    return sum;
  }
}
