/**
 * Bundles on disk: `<dir>/<id>.ndjson.gz`, written through gzip while they are built (never held
 * whole in memory) and renamed into place when complete. Bounds: concurrent builds, bundles kept,
 * bytes on disk (expired bundles go first, then the oldest finished ones), bytes per bundle, and a
 * TTL after which a bundle is deleted. The index lives in memory: a restart forgets (and deletes) the
 * bundles of the previous process.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { redact } from '../../parse/redact.ts';
import type { BundleRecord } from './collect.ts';

export type BundleState = 'building' | 'done' | 'failed';

export interface BundleEntry {
  readonly id: string;
  state: BundleState;
  readonly createdAt: number;
  expiresAt: number;
  finishedAt?: number;
  /** Compressed bytes written so far. */
  bytes: number;
  records: number;
  error?: string;
  /** What the bundle covers, for scope checks on status/download. */
  readonly namespaces: readonly string[];
  readonly capabilities: readonly string[];
  abort: AbortController;
}

export interface StoreOptions {
  dir: string;
  ttlMs: number;
  maxBundles: number;
  maxDiskBytes: number;
  maxBundleBytes: number;
  maxConcurrentBuilds: number;
  /** A build still running after this long is aborted and fails (a stalled API stream cannot hold a slot forever). */
  buildTimeoutMs?: number;
}

export class StoreFull extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class BundleTooLarge extends Error {}

/** Every string in a record goes through the evidence redaction (idempotent). */
export function redactRecord(v: unknown): unknown {
  if (typeof v === 'string') return redact(v);
  if (Array.isArray(v)) return v.map(redactRecord);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = redactRecord(x);
    return out;
  }
  return v;
}

/** ≥ 128 random bits, URL-safe. */
export const newBundleId = (): string => `b_${randomBytes(18).toString('base64url')}`;
export const BUNDLE_ID = /^b_[A-Za-z0-9_-]{24}$/;

/** Characters of serialized records gathered before one write to gzip. */
const WRITE_CHUNK_CHARS = 64 * 1024;

export class BundleStore {
  private readonly opts: StoreOptions;
  private readonly entries = new Map<string, BundleEntry>();
  private timer: NodeJS.Timeout | undefined;
  private problem: string | null = 'not started';

  constructor(opts: StoreOptions) {
    this.opts = opts;
  }

  fileOf(id: string): string {
    return join(this.opts.dir, `${id}.ndjson.gz`);
  }

  async start(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    // Bundles of an earlier process are not in this index: delete them rather than keep them unowned.
    for (const f of await readdir(this.opts.dir)) if (/^b_.*\.ndjson\.gz(\.part)?$/.test(f)) await rm(join(this.opts.dir, f), { force: true });
    this.problem = null;
    this.timer = setInterval(() => void this.sweep(), Math.min(60_000, Math.max(1000, this.opts.ttlMs / 4)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const e of this.entries.values()) e.abort.abort();
  }

  unready(): string | null {
    return this.problem;
  }

  get(id: string): BundleEntry | undefined {
    const e = this.entries.get(id);
    if (e && e.expiresAt <= Date.now()) return undefined;
    return e;
  }

  building(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.state === 'building') n++;
    return n;
  }

  diskBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.bytes;
    return n;
  }

  /** Reserves a new bundle, making room by deleting expired then the oldest finished bundles; StoreFull when it cannot. */
  async reserve(namespaces: readonly string[], capabilities: readonly string[]): Promise<BundleEntry> {
    if (this.building() >= this.opts.maxConcurrentBuilds) throw new StoreFull('too many bundles are being built; retry later', 5);
    await this.sweep();
    const finishedOldest = () => [...this.entries.values()].filter((e) => e.state !== 'building').sort((a, b) => a.createdAt - b.createdAt);
    // A bundle being built may still grow to maxBundleBytes: room is reserved for that much.
    const committed = () => {
      let n = 0;
      for (const e of this.entries.values()) n += e.state === 'building' ? this.opts.maxBundleBytes : e.bytes;
      return n + this.opts.maxBundleBytes;
    };
    while (this.entries.size >= this.opts.maxBundles || committed() > this.opts.maxDiskBytes) {
      const victim = finishedOldest()[0];
      if (!victim) break;
      await this.delete(victim.id);
    }
    if (this.entries.size >= this.opts.maxBundles) throw new StoreFull('bundle store full; retry later', 10);
    if (committed() > this.opts.maxDiskBytes) throw new StoreFull('bundle disk budget in use by bundles being built; retry later', 10);
    const now = Date.now();
    const e: BundleEntry = { id: newBundleId(), state: 'building', createdAt: now, expiresAt: now + this.opts.ttlMs, bytes: 0, records: 0, namespaces, capabilities, abort: new AbortController() };
    this.entries.set(e.id, e);
    return e;
  }

  /** Runs `produce` with a writer that redacts, serializes and gzips each record to the bundle's file. */
  async build(e: BundleEntry, produce: (write: (r: BundleRecord) => Promise<void>) => Promise<void>): Promise<void> {
    const part = `${this.fileOf(e.id)}.part`;
    const gzip = createGzip({ level: 6 });
    const out = createWriteStream(part, { mode: 0o600 });
    gzip.pipe(out);
    out.on('error', () => {});
    gzip.on('data', (c: Buffer) => {
      e.bytes += c.length;
    });
    // Records are gathered into chunks of ~64 KiB before they reach zlib: one gzip.write per
    // record costs a thread-pool round trip each (40,000 of them for a 20-pod bundle).
    let chunk = '';
    const push = async (): Promise<void> => {
      const c = chunk;
      chunk = '';
      if (c && !gzip.write(c)) await Promise.race([once(gzip, 'drain'), once(out, 'error').then(([err]) => Promise.reject(err as Error))]);
    };
    const write = async (r: BundleRecord): Promise<void> => {
      e.abort.signal.throwIfAborted();
      if (e.bytes > this.opts.maxBundleBytes) throw new BundleTooLarge(`bundle exceeds ${this.opts.maxBundleBytes} bytes compressed; ask for fewer pods, lines or a shorter window`);
      chunk += `${JSON.stringify(redactRecord(r))}\n`;
      e.records++;
      if (chunk.length >= WRITE_CHUNK_CHARS) await push();
    };
    let timedOut = false;
    const deadline = this.opts.buildTimeoutMs
      ? setTimeout(() => {
          timedOut = true;
          e.abort.abort();
        }, this.opts.buildTimeoutMs)
      : undefined;
    try {
      await produce(write);
      await push();
      gzip.end();
      await finished(out);
      await rename(part, this.fileOf(e.id));
      e.bytes = (await stat(this.fileOf(e.id))).size;
      e.state = 'done';
    } catch (err) {
      gzip.destroy();
      out.destroy();
      await rm(part, { force: true }).catch(() => {});
      e.state = 'failed';
      e.bytes = 0;
      e.error = err instanceof BundleTooLarge ? err.message : timedOut ? `build timed out after ${this.opts.buildTimeoutMs} ms; ask for fewer pods or lines` : e.abort.signal.aborted ? 'aborted' : `build failed: ${(err as Error).message.slice(0, 300)}`;
    } finally {
      clearTimeout(deadline);
      e.finishedAt = Date.now();
    }
  }

  async delete(id: string): Promise<void> {
    const e = this.entries.get(id);
    if (!e) return;
    e.abort.abort();
    this.entries.delete(id);
    await rm(this.fileOf(id), { force: true }).catch(() => {});
    await rm(`${this.fileOf(id)}.part`, { force: true }).catch(() => {});
  }

  /** Deletes expired bundles (a build still running past its TTL is aborted). */
  async sweep(): Promise<number> {
    const now = Date.now();
    let n = 0;
    for (const e of [...this.entries.values()]) {
      if (e.expiresAt <= now) {
        await this.delete(e.id);
        n++;
      }
    }
    return n;
  }

  size(): number {
    return this.entries.size;
  }
}
