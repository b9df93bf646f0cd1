import type { StateStore } from './store.ts';

/** In-process store: tests and replay, where nothing must survive the process. */
export class MemoryStore implements StateStore {
  readonly kind = 'memory' as const;
  private readonly data = new Map<string, Uint8Array>();
  async get(key: string): Promise<Uint8Array | null> {
    return this.data.get(key) ?? null;
  }
  async put(key: string, value: Uint8Array): Promise<void> {
    this.data.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
  async close(): Promise<void> {}
}
