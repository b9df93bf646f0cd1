import { log } from '../../logger.ts';
import { stateKey, type StateStore } from '../../state/store.ts';
import { Cursor, type CursorLimits } from './cursor.ts';

/**
 * Acknowledged cursors, one per container ID, persisted through the StateStore under
 * `stateKey('cursor', containerId)` so a restarted detector — or the replica that takes a workload over
 * after re-sharding — resumes where the last owner stopped. Writes are batched per `flushMs`: a crash
 * re-reads at most that much (Loki drops the exact duplicates), it never skips.
 */
export class CursorStore {
  private readonly store: StateStore;
  private readonly limits: CursorLimits;
  private readonly flushMs: number;
  private readonly cursors = new Map<string, Cursor>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(store: StateStore, limits: CursorLimits, flushMs: number) {
    this.store = store;
    this.limits = limits;
    this.flushMs = flushMs;
  }

  static key(containerId: string): string {
    return stateKey('cursor', containerId);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref?.();
  }

  /** Starts tracking a container: returns its acknowledged cursor (memory first, then the store). */
  async track(containerId: string): Promise<Cursor | null> {
    const known = this.cursors.get(containerId);
    if (known) return known.max === null ? null : known;
    let loaded: Cursor | null = null;
    try {
      loaded = Cursor.parse(await this.store.get(CursorStore.key(containerId)), this.limits);
    } catch (err) {
      log.warn({ err, containerId, store: this.store.kind }, 'cursor load failed: starting from the lookback window');
    }
    if (!this.cursors.has(containerId)) this.cursors.set(containerId, loaded ?? new Cursor(this.limits));
    const c = this.cursors.get(containerId)!;
    return c.max === null ? null : c;
  }

  tracked(containerId: string): boolean {
    return this.cursors.has(containerId);
  }

  get size(): number {
    return this.cursors.size;
  }

  /** A sink acknowledged this line. Unknown containers (released pods) are ignored. */
  ack(containerId: string, key: string, hash: string, ms?: number): void {
    const c = this.cursors.get(containerId);
    if (!c) return;
    c.add(key, hash, ms);
    this.dirty.add(containerId);
  }

  /**
   * Stops tracking. forget=true (pod deleted: nobody will read these logs again) deletes the stored cursor;
   * forget=false (ownership moved) persists it for the next owner.
   */
  async release(containerId: string, forget: boolean): Promise<void> {
    const c = this.cursors.get(containerId);
    this.cursors.delete(containerId);
    const wasDirty = this.dirty.delete(containerId);
    try {
      if (forget) await this.store.delete(CursorStore.key(containerId));
      else if (c && wasDirty) await this.persist(containerId, c);
    } catch (err) {
      log.warn({ err, containerId }, 'cursor release failed');
    }
  }

  private async persist(containerId: string, c: Cursor): Promise<void> {
    const bytes = c.serialize();
    if (bytes) await this.store.put(CursorStore.key(containerId), bytes);
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const ids = [...this.dirty];
      this.dirty.clear();
      for (const id of ids) {
        const c = this.cursors.get(id);
        if (!c) continue;
        try {
          await this.persist(id, c);
        } catch (err) {
          this.dirty.add(id);
          log.warn({ err, containerId: id, store: this.store.kind }, 'cursor persist failed: will retry');
        }
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
