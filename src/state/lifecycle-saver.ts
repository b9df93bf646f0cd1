/**
 * Keeps the findings lifecycle (open episodes, suppression) in the state store, so a restart, a
 * SIGKILL or a rolling update neither re-opens incidents that are open nor forgets to recover them.
 * Written when it changed, at most every `debounceMs`, and once more on shutdown; read once at start,
 * before the first record. The key carries the shard, so a shard's new owner takes over its episodes.
 */
import type { Detection } from '../pipeline.ts';
import type { LifecycleState } from '../findings/lifecycle.ts';
import type { Logger } from '../logger.ts';
import { metrics } from '../metrics.ts';
import type { StateStore } from './store.ts';

export interface LifecycleSaverOptions {
  engine: Detection;
  store: StateStore;
  key: string;
  log: Logger;
  /** Default 2 s: at most this much lifecycle change is lost to a SIGKILL. */
  debounceMs?: number;
}

export class LifecycleSaver {
  private readonly o: Required<LifecycleSaverOptions>;
  private saved = -1;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | null = null;

  constructor(o: LifecycleSaverOptions) {
    this.o = { debounceMs: 2000, ...o };
  }

  /** Restores the saved episodes into the engine; returns how many were re-opened. */
  async restore(): Promise<number> {
    const raw = await this.o.store.get(this.o.key);
    if (!raw) return 0;
    try {
      const n = this.o.engine.restoreLifecycle(JSON.parse(new TextDecoder().decode(raw)) as LifecycleState);
      this.saved = this.o.engine.lifecycleChanges;
      return n;
    } catch (err) {
      metrics.stateSaves.inc({ what: 'lifecycle', outcome: 'restore_failed' });
      this.o.log.warn({ err: (err as Error).message }, 'saved findings lifecycle unreadable: starting with no open episodes');
      return 0;
    }
  }

  start(): void {
    this.timer = setInterval(() => void this.saveIfChanged(), this.o.debounceMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what changed since the last save. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.saveIfChanged();
  }

  async saveIfChanged(): Promise<void> {
    if (this.writing) return this.writing;
    const changes = this.o.engine.lifecycleChanges;
    if (changes === this.saved) return;
    this.writing = (async () => {
      try {
        const bytes = new TextEncoder().encode(JSON.stringify(this.o.engine.lifecycleSnapshot()));
        await this.o.store.put(this.o.key, bytes);
        this.saved = changes;
        metrics.lifecycleStateBytes.set(bytes.byteLength);
        metrics.stateSaves.inc({ what: 'lifecycle', outcome: 'saved' });
      } catch (err) {
        // Retried on the next tick; the in-memory lifecycle is unaffected.
        metrics.stateSaves.inc({ what: 'lifecycle', outcome: 'failed' });
        this.o.log.warn({ err: (err as Error).message }, 'saving the findings lifecycle failed; retrying');
      } finally {
        this.writing = null;
      }
    })();
    return this.writing;
  }
}
