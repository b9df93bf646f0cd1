/**
 * The one backoff of the project: exponential with full jitter, a delay drawn uniformly in
 * [floor, min(max, base·2^attempt)], so many streams failing together (an API server restart, a Loki
 * outage) do not come back in lockstep, and the floor keeps an unlucky draw from becoming a hot loop.
 * `jitteredDelay` is the stateless form (a Loki chunk carries its own attempt count); `Backoff` counts
 * the attempts of one retry loop.
 */
export function jitteredDelay(attempt: number, o: { baseMs: number; maxMs: number; floorMs: number; random?: () => number }): number {
  const cap = Math.max(o.floorMs, Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt, 30)));
  return Math.round(o.floorMs + (o.random ?? Math.random)() * (cap - o.floorMs));
}

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
    return jitteredDelay(this.attempt++, { baseMs: this.baseMs, maxMs: this.maxMs, floorMs: this.floorMs, random: this.random });
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
