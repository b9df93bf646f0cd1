/** Lets one thing per key through per interval: "log once per reason per minute". Keys are a small closed set. */
export class OncePerInterval {
  private readonly last = new Map<string, number>();
  private readonly intervalMs: number;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  allow(key: string, now = Date.now()): boolean {
    const prev = this.last.get(key);
    if (prev !== undefined && now - prev < this.intervalMs) return false;
    if (this.last.size > 1000) this.last.clear(); // bound, in case a caller ever passes open-ended keys
    this.last.set(key, now);
    return true;
  }
}
