/**
 * StateStore on a JetStream KV bucket: shared by every replica, so the one that takes over a
 * workload resumes from the cursors the previous owner wrote.
 *
 * NATS caps a message at max_payload (1 MiB by default) and the bucket at max_value_size, but a
 * miner snapshot can be bigger. Values therefore carry a one-byte format tag: 0 = inline bytes,
 * 1 = a manifest naming chunks stored under `_chunks.<generation>.<i>`. Chunks are written before
 * the manifest that points at them, so a reader never sees a half-written value; chunks of the
 * previous generation are deleted afterwards (and, if that is missed, expire with the bucket TTL).
 */
import { Kvm, type KV } from '@nats-io/kv';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import { LRUCache } from 'lru-cache';
import { STATE_BUCKET } from '../nats/streams.ts';
import type { StateStore } from './store.ts';

export interface JetStreamKvStoreOptions {
  bucket?: string;
  /**
   * Create the bucket when missing (with the client's defaults; `streams apply` gives it the
   * layout's limits). False: the bucket must exist.
   */
  create?: boolean;
  /** Close the connection on close() (when the store owns it). */
  closeConnection?: boolean;
  /** Values above this are split into chunks (default 256 KiB). */
  chunkBytes?: number;
}

const INLINE = 0;
const CHUNKED = 1;

interface Manifest {
  g: string;
  n: number;
  size: number;
}

export class JetStreamKvStore implements StateStore {
  readonly kind = 'jetstream-kv' as const;
  readonly bucket: string;
  private readonly kv: KV;
  private readonly nc: NatsConnection | null;
  private readonly chunkBytes: number;
  /** Keys this process last wrote chunked, so replacing them cleans up without an extra read. */
  private readonly chunked = new LRUCache<string, Manifest>({ max: 10_000 });

  private constructor(kv: KV, bucket: string, nc: NatsConnection | null, chunkBytes: number) {
    this.kv = kv;
    this.bucket = bucket;
    this.nc = nc;
    this.chunkBytes = chunkBytes;
  }

  static async open(nc: NatsConnection, opts: JetStreamKvStoreOptions = {}): Promise<JetStreamKvStore> {
    const bucket = opts.bucket ?? STATE_BUCKET;
    const kvm = new Kvm(nc);
    const kv = opts.create === false ? await kvm.open(bucket) : await kvm.create(bucket, { history: 1 });
    if (opts.create === false) await kv.status(); // open() binds lazily: fail now if the bucket is missing
    return new JetStreamKvStore(kv, bucket, opts.closeConnection ? nc : null, opts.chunkBytes ?? 256 * 1024);
  }

  private async raw(key: string): Promise<Uint8Array | null> {
    const e = await this.kv.get(key);
    // A deleted or purged key reads back as a marker entry, not as null.
    if (!e || e.operation !== 'PUT') return null;
    return e.value;
  }

  private static manifest(v: Uint8Array): Manifest {
    return JSON.parse(Buffer.from(v.subarray(1)).toString('utf8')) as Manifest;
  }

  async get(key: string): Promise<Uint8Array | null> {
    const v = await this.raw(key);
    if (!v || v.length === 0) return v;
    if (v[0] === INLINE) return v.subarray(1);
    if (v[0] !== CHUNKED) throw new Error(`state ${key}: unknown value format ${v[0]}`);
    const m = JetStreamKvStore.manifest(v);
    const out = new Uint8Array(m.size);
    let at = 0;
    for (let i = 0; i < m.n; i++) {
      const c = await this.raw(`_chunks.${m.g}.${i}`);
      if (!c) throw new Error(`state ${key}: chunk ${i}/${m.n} of generation ${m.g} is missing`);
      out.set(c, at);
      at += c.length;
    }
    if (at !== m.size) throw new Error(`state ${key}: chunks hold ${at} bytes, manifest says ${m.size}`);
    return out;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const previous = this.chunked.get(key);
    if (value.length + 1 <= this.chunkBytes) {
      const v = new Uint8Array(value.length + 1);
      v[0] = INLINE;
      v.set(value, 1);
      await this.kv.put(key, v);
      this.chunked.delete(key);
    } else {
      const old = previous ?? (await this.currentManifest(key));
      const m: Manifest = { g: nuid.next(), n: Math.ceil(value.length / this.chunkBytes), size: value.length };
      for (let i = 0; i < m.n; i++) {
        await this.kv.put(`_chunks.${m.g}.${i}`, value.subarray(i * this.chunkBytes, (i + 1) * this.chunkBytes));
      }
      await this.kv.put(key, Buffer.concat([Buffer.from([CHUNKED]), Buffer.from(JSON.stringify(m))]));
      this.chunked.set(key, m);
      if (old) await this.dropChunks(old);
      return;
    }
    if (previous) await this.dropChunks(previous);
  }

  async delete(key: string): Promise<void> {
    const m = this.chunked.get(key) ?? (await this.currentManifest(key));
    await this.kv.delete(key);
    this.chunked.delete(key);
    if (m) await this.dropChunks(m);
  }

  async close(): Promise<void> {
    if (this.nc && !this.nc.isClosed()) await this.nc.drain();
  }

  private async currentManifest(key: string): Promise<Manifest | null> {
    const v = await this.raw(key);
    return v && v[0] === CHUNKED ? JetStreamKvStore.manifest(v) : null;
  }

  private async dropChunks(m: Manifest): Promise<void> {
    // Purge rather than delete: the data goes at once, whatever the bucket's history setting.
    for (let i = 0; i < m.n; i++) await this.kv.purge(`_chunks.${m.g}.${i}`);
  }
}
