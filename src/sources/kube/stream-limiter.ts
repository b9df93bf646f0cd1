/**
 * Caps concurrent log streams per node, so one kubelet is never flooded by this detector, and spaces out
 * new connections (a token bucket shared by all nodes) so a restart of the API server does not turn into a
 * reconnect storm. Waiters are served first come, first served.
 */
export type Release = () => void;

interface Waiter {
  resolve: (r: Release | null) => void;
}

export class StreamLimiter {
  private readonly maxPerNode: number;
  private readonly active = new Map<string, number>();
  private readonly queues = new Map<string, Waiter[]>();
  private readonly connectsPerSecond: number;
  private tokens: number;
  private lastRefill = Date.now();

  constructor(maxPerNode: number, connectsPerSecond = 50) {
    this.maxPerNode = maxPerNode;
    this.connectsPerSecond = connectsPerSecond;
    this.tokens = connectsPerSecond;
  }

  /** Waits for a slot on the node; null when the signal aborted first. */
  async acquire(node: string, signal: AbortSignal): Promise<Release | null> {
    if (signal.aborted) return null;
    const slot = await this.slot(node, signal);
    if (!slot) return null;
    await this.token(signal);
    if (signal.aborted) {
      slot();
      return null;
    }
    return slot;
  }

  private slot(node: string, signal: AbortSignal): Promise<Release | null> {
    const n = this.active.get(node) ?? 0;
    if (n < this.maxPerNode && !(this.queues.get(node)?.length)) return Promise.resolve(this.grant(node));
    return new Promise((resolve) => {
      const q = this.queues.get(node) ?? [];
      this.queues.set(node, q);
      const w: Waiter = { resolve };
      q.push(w);
      signal.addEventListener(
        'abort',
        () => {
          const i = q.indexOf(w);
          if (i >= 0) q.splice(i, 1);
          resolve(null);
        },
        { once: true },
      );
    });
  }

  private grant(node: string): Release {
    this.active.set(node, (this.active.get(node) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.active.get(node) ?? 1) - 1;
      if (left <= 0) this.active.delete(node);
      else this.active.set(node, left);
      const q = this.queues.get(node);
      const next = q?.shift();
      if (q && q.length === 0) this.queues.delete(node);
      if (next) next.resolve(this.grant(node));
    };
  }

  private async token(signal: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.connectsPerSecond, this.tokens + ((now - this.lastRefill) / 1000) * this.connectsPerSecond);
      this.lastRefill = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.connectsPerSecond) * 1000)));
    }
  }

  /** Streams waiting for a node slot. */
  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  activeOn(node: string): number {
    return this.active.get(node) ?? 0;
  }
}
