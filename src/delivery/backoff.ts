/**
 * Exponential backoff with full jitter (delay drawn uniformly in [0, min(max, base·2^n)]), so many streams
 * failing together — an API server restart — do not come back in lockstep. A floor keeps even an unlucky
 * draw from turning into a hot reconnect loop.
 */
export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly floorMs: number;
  private readonly random: () => number;

  constructor(opts: { baseMs?: number; maxMs?: number; floorMs?: number; random?: () => number } = {}) {
    this.baseMs = opts.baseMs ?? 500;
    this.maxMs = opts.maxMs ?? 60_000;
    this.floorMs = opts.floorMs ?? 100;
    this.random = opts.random ?? Math.random;
  }

  next(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(this.floorMs, Math.round(this.random() * cap));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Resolves after ms, or early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
