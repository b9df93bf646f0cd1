import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StateStore } from './store.ts';

/** One file per key under a directory; writes are atomic (write + rename). */
export class FileStore implements StateStore {
  readonly kind = 'file' as const;
  private ready: Promise<unknown>;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.ready = mkdir(dir, { recursive: true });
  }
  private path(key: string): string {
    return join(this.dir, encodeURIComponent(key));
  }
  async get(key: string): Promise<Uint8Array | null> {
    await this.ready;
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }
  async put(key: string, value: Uint8Array): Promise<void> {
    await this.ready;
    const tmp = `${this.path(key)}.tmp-${process.pid}`;
    await writeFile(tmp, value);
    await rename(tmp, this.path(key));
  }
  async delete(key: string): Promise<void> {
    await this.ready;
    await rm(this.path(key), { force: true });
  }
  async close(): Promise<void> {}
}
