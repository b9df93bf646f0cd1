/**
 * StateStore on a JetStream KV bucket: shared by every replica, so the one that takes over a
 * workload resumes from the cursors the previous owner wrote.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
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
}

export class JetStreamKvStore implements StateStore {
  readonly kind = 'jetstream-kv' as const;
  readonly bucket: string;
  private readonly kv: KV;
  private readonly nc: NatsConnection | null;

  private constructor(kv: KV, bucket: string, nc: NatsConnection | null) {
    this.kv = kv;
    this.bucket = bucket;
    this.nc = nc;
  }

  static async open(nc: NatsConnection, opts: JetStreamKvStoreOptions = {}): Promise<JetStreamKvStore> {
    const bucket = opts.bucket ?? STATE_BUCKET;
    const kvm = new Kvm(nc);
    const kv = opts.create === false ? await kvm.open(bucket) : await kvm.create(bucket, { history: 1 });
    if (opts.create === false) await kv.status(); // open() binds lazily: fail now if the bucket is missing
    return new JetStreamKvStore(kv, bucket, opts.closeConnection ? nc : null);
  }

  async get(key: string): Promise<Uint8Array | null> {
    const e = await this.kv.get(key);
    // A deleted or purged key reads back as a marker entry, not as null.
    if (!e || e.operation !== 'PUT') return null;
    return e.value;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.kv.put(key, value);
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  async close(): Promise<void> {
    if (this.nc && !this.nc.isClosed()) await this.nc.drain();
  }
}
