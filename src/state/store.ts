/**
 * StateStore: a small key → bytes store for cursors and miner snapshots.
 * Implementations: memory (tests, replay), file (single replica), JetStream KV (shared
 * across replicas so a replica that takes over a workload resumes where the last one stopped).
 */
export interface StateStore {
  readonly kind: 'memory' | 'file' | 'jetstream-kv';
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Keys are restricted to what JetStream KV accepts, so every store agrees on them. */
export function stateKey(...parts: string[]): string {
  return parts.map((p) => p.replace(/[^A-Za-z0-9_=-]/g, '_')).join('.');
}
