/**
 * A token bucket that may go into debt: a batch larger than the burst is still sent (otherwise it
 * could never go), and the debt delays whatever comes next. Over time the average stays at `rate`.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;

  constructor(ratePerSec: number, burst: number, now = Date.now()) {
    this.rate = ratePerSec;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
  }

  /** Milliseconds until a take() would not go into debt beyond what is already owed (0 = now). */
  delayMs(now = Date.now()): number {
    this.refill(now);
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  take(n: number, now = Date.now()): void {
    this.refill(now);
    this.tokens -= n;
  }
}
