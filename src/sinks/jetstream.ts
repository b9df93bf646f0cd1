/**
 * FindingSink for JetStream. publish() encodes and queues (never blocks, never throws); a single
 * pump publishes in order with Nats-Msg-Id = finding_id, so a retry after a lost PubAck, or the
 * same finding from another replica, is swallowed by the stream's duplicate window.
 *
 * While NATS is down findings wait in the shared delivery buffer (src/delivery/buffer.ts): a bounded
 * memory queue holding the newest, its oldest spilled to an optional disk spool; past both bounds the
 * oldest are dropped, counted and logged.
 */
import { jetstream, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { Backoff } from '../delivery/backoff.ts';
import { log as defaultLog, type Logger } from '../logger.ts';
import { metrics } from '../metrics.ts';
import { jetstreamEvents } from '../internal-events/jetstream.ts';
import type { Finding } from '../model/finding.ts';
import { CONTENT_TYPE, encodeFinding, FindingTooLargeError } from '../nats/envelope.ts';
import { DeliveryBuffer } from '../delivery/buffer.ts';
import { findingSpoolCodec, type QueuedFinding } from './jetstream-spool.ts';
import type { FindingSink } from './types.ts';

export interface JetStreamSinkOptions {
  /** A connection, or the promise of one (the sink accepts findings before NATS is reachable). */
  connection: NatsConnection | Promise<NatsConnection>;
  /** CloudEvents `source`; default `robot-sre-detector/<cluster>`. */
  source?: string;
  /** Findings held in memory (default 10 000) … */
  maxQueue?: number;
  /** … and their bytes (default 32 MiB; envelopes are ≤16 KiB, typically ~1.5 KiB). */
  maxQueueBytes?: number;
  /** Optional disk spool behind the memory queue; it also keeps unsent findings across restarts. */
  spoolDir?: string;
  spoolMaxBytes?: number;
  publishTimeoutMs?: number;
  /** Publishes awaiting a PubAck at once (default 64). */
  maxInFlight?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
}

type Item = QueuedFinding;

/** Errors that will not go away by retrying the same message. */
const PERMANENT_API_CODES = new Set([10054 /* message size exceeds maximum allowed */]);

export class JetStreamFindingSink implements FindingSink {
  readonly name = 'jetstream';
  private readonly opts: Required<Omit<JetStreamSinkOptions, 'spoolDir' | 'source' | 'connection'>> & { source?: string };
  private readonly log: Logger;
  private readonly buffer: DeliveryBuffer<Item>;
  /** Write order of the next finding. */
  private nextOrder = 0;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private connected = false;
  private closing = false;
  private wakeUp: (() => void) | null = null;
  private readonly pump: Promise<void>;
  private failureStreak = 0;
  /** Between failed publish rounds: from retryBase to 2× it, doubling to retryMax (src/delivery/backoff.ts). */
  private readonly retry: Backoff;

  constructor(o: JetStreamSinkOptions) {
    this.opts = {
      maxQueue: o.maxQueue ?? 10_000,
      maxQueueBytes: o.maxQueueBytes ?? 32 * 1024 * 1024,
      spoolMaxBytes: o.spoolMaxBytes ?? 64 * 1024 * 1024,
      publishTimeoutMs: o.publishTimeoutMs ?? 5_000,
      maxInFlight: o.maxInFlight ?? 64,
      retryBaseMs: o.retryBaseMs ?? 200,
      retryMaxMs: o.retryMaxMs ?? 5_000,
      logger: o.logger ?? defaultLog,
      ...(o.source ? { source: o.source } : {}),
    };
    this.log = this.opts.logger.child({ component: 'jetstream' }); // the label of its metrics, as its internal events log it
    this.retry = new Backoff({ baseMs: this.opts.retryBaseMs * 2, maxMs: this.opts.retryMaxMs, floorMs: this.opts.retryBaseMs });
    this.buffer = new DeliveryBuffer<Item>({
      name: 'jetstream',
      memory: { maxBytes: this.opts.maxQueueBytes, maxBatches: this.opts.maxQueue },
      ...(o.spoolDir
        ? { spool: { dir: o.spoolDir, maxBytes: this.opts.spoolMaxBytes, mode: 'append' as const, segmentBatches: Math.max(1, Math.min(1_000, Math.floor(this.opts.maxQueue / 2))) } }
        : {}),
      codec: findingSpoolCodec,
      // Memory-only overflow and the spool's bound drop the oldest findings alike: fresher signals matter more.
      reasons: { memoryFull: 'overflow', spoolFull: 'overflow', spoolError: 'spool_write_error', spoolReadError: 'spool_read_error', spoolCorrupt: 'spool_corrupt' },
      onDrop: (reason, n, _orders, err) => {
        if (n > 0) this.drop(n, reason);
        if (err) jetstreamEvents.spoolWriteFailed({}, 1, { reason, findings: n, err: (err as Error).message }, this.log);
      },
    });
    this.pump = this.run(o.connection).catch((err: unknown) => {
      this.log.error({ err: (err as Error).message }, 'findings pump stopped');
    });
  }

  publish(finding: Finding): void {
    if (this.closing) {
      this.drop(1, 'closed');
      return;
    }
    let enc;
    try {
      enc = encodeFinding(finding, this.opts.source ? { source: this.opts.source } : {});
    } catch (err) {
      const reason = err instanceof FindingTooLargeError ? 'too_large' : 'invalid';
      this.drop(1, reason);
      jetstreamEvents.findingRefused({ reason }, 1, { finding_id: finding.finding_id, err: (err as Error).message }, this.log);
      return;
    }
    this.buffer.push({ subject: enc.subject, msgId: enc.msgId, payload: enc.payload, bytes: enc.bytes, order: this.nextOrder++, enqueuedAt: Date.now() });
    this.wake();
  }

  /** Findings not yet acknowledged by JetStream (memory + spool). */
  pending(): { memory: number; spoolBytes: number } {
    return { memory: this.buffer.memoryBatches(), spoolBytes: this.buffer.spoolBytes() };
  }

  /** Wait until everything queued is acknowledged, or the deadline (a duration in ms; above 10^12 an epoch-ms time, as the Loki sink reads it). */
  async flush(deadlineMs: number): Promise<void> {
    const until = deadlineMs > 1e12 ? deadlineMs : Date.now() + deadlineMs;
    // A previous run's spool counts as queued: wait for its listing (milliseconds) before deciding.
    await this.buffer.ready;
    this.wake();
    while (Date.now() < until && (this.buffer.memoryBatches() > 0 || !this.buffer.empty())) {
      await sleep(Math.min(20, Math.max(1, until - Date.now())));
    }
  }

  /** Flush within the deadline, then stop; unsent findings go to the spool when there is one. */
  async close(deadlineMs: number): Promise<void> {
    await this.flush(deadlineMs > 1e12 ? deadlineMs : Date.now() + deadlineMs);
    this.closing = true;
    this.wake();
    await this.pump;
    const unsent = this.buffer.memoryBatches();
    const lost = await this.buffer.persist([], 'shutdown');
    if (lost) this.log.warn({ findings: lost }, 'unsent findings lost at shutdown (no spool configured)');
    else if (unsent) this.log.info({ findings: unsent }, 'unsent findings saved to the spool');
  }

  private drop(n: number, reason: string): void {
    jetstreamEvents.dropped({ reason }, n, {}, this.log);
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private idle(ms?: number): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise((resolve) => {
      const t = ms === undefined ? null : setTimeout(resolve, ms);
      this.wakeUp = () => {
        if (t) clearTimeout(t);
        resolve();
      };
    });
  }

  private async attach(connection: NatsConnection | Promise<NatsConnection>): Promise<void> {
    const nc = await connection;
    this.nc = nc;
    this.js = jetstream(nc, { timeout: this.opts.publishTimeoutMs });
    this.connected = !nc.isClosed();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.connected = false;
        if (s.type === 'reconnect') {
          this.connected = true;
          this.wake();
        }
        if (s.type === 'close') {
          this.connected = false;
          this.wake();
        }
      }
    })().catch(() => undefined);
    this.wake();
  }

  private async run(connection: NatsConnection | Promise<NatsConnection>): Promise<void> {
    void this.attach(connection).catch((err: unknown) =>
      this.log.error({ err: (err as Error).message }, 'NATS connection failed; findings stay queued'),
    );
    while (!this.closing) {
      if (!this.js || !this.connected || this.nc?.isClosed() || this.buffer.empty()) {
        await this.idle(this.buffer.empty() ? undefined : 1_000);
        continue;
      }
      const ok = await this.publishBatch();
      if (ok) {
        this.failureStreak = 0;
        this.retry.reset();
      } else {
        this.failureStreak++;
        await this.idle(this.retry.next());
      }
    }
  }

  /** Publish the head of the queue; true when every message got a PubAck (or was permanently refused). */
  private async publishBatch(): Promise<boolean> {
    const js = this.js as JetStreamClient;
    // The oldest first: the spool's, then memory's. Taken items are in flight: never dropped for the bound.
    const batch: Item[] = [];
    while (batch.length < this.opts.maxInFlight) {
      const it = await this.buffer.takeOldest();
      if (!it) break;
      batch.push(it);
    }
    if (!batch.length) return true;
    // Sent back to back on one connection, so JetStream stores them in queue order.
    const results = await Promise.allSettled(
      batch.map((it) => {
        const h = natsHeaders();
        h.set('Content-Type', CONTENT_TYPE);
        return js.publish(it.subject, it.payload, { msgID: it.msgId, headers: h, timeout: this.opts.publishTimeoutMs, retries: 0 });
      }),
    );
    const done = new Set<Item>();
    let firstError: Error | null = null;
    results.forEach((r, i) => {
      const it = batch[i] as Item;
      if (r.status === 'fulfilled') {
        metrics.natsPublish.inc({ outcome: r.value.duplicate ? 'duplicate' : 'stored' });
        metrics.findingPublishSeconds.observe((Date.now() - it.enqueuedAt) / 1000);
        done.add(it);
      } else {
        metrics.natsPublish.inc({ outcome: 'error' });
        const err = r.reason as Error;
        if (err instanceof JetStreamApiError && PERMANENT_API_CODES.has(err.code)) {
          this.drop(1, 'rejected');
          jetstreamEvents.messageRejected({}, 1, { msgId: it.msgId, err: err.message }, this.log);
          done.add(it);
        } else {
          firstError ??= err;
        }
      }
    });
    for (const it of done) await this.buffer.done(it);
    // Not acknowledged: back at the head, in order (and droppable again while NATS stays away).
    this.buffer.requeue(batch.filter((it) => !done.has(it)));
    if (firstError) {
      const e: Error = firstError;
      jetstreamEvents.publishFailed({}, 1, { err: e.message, pending: this.buffer.memoryBatches() }, this.log);
      return false;
    }
    return true;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
