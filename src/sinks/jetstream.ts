/**
 * FindingSink for JetStream. publish() encodes and queues (never blocks, never throws); a single
 * pump publishes in order with Nats-Msg-Id = finding_id, so a retry after a lost PubAck, or the
 * same finding from another replica, is swallowed by the stream's duplicate window.
 *
 * While NATS is down findings wait in a bounded memory queue, then in an optional disk spool;
 * past both bounds the oldest are dropped, counted and logged.
 */
import { jetstream, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { Backoff } from '../delivery/backoff.ts';
import { log as defaultLog, type Logger } from '../logger.ts';
import { metrics } from '../metrics.ts';
import { jetstreamEvents } from '../internal-events/jetstream.ts';
import type { Finding } from '../model/finding.ts';
import { CONTENT_TYPE, encodeFinding, FindingTooLargeError } from '../nats/envelope.ts';
import { FindingSpool, type SpoolItem } from './jetstream-spool.ts';
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

interface Item extends SpoolItem {
  bytes: number;
  /** Set when the item came from a spool segment: released once the whole segment is acked. */
  seg?: { remaining: number; release: () => Promise<void> };
  enqueuedAt: number;
}

/** Errors that will not go away by retrying the same message. */
const PERMANENT_API_CODES = new Set([10054 /* message size exceeds maximum allowed */]);

export class JetStreamFindingSink implements FindingSink {
  readonly name = 'jetstream';
  private readonly opts: Required<Omit<JetStreamSinkOptions, 'spoolDir' | 'source' | 'connection'>> & { source?: string };
  private readonly log: Logger;
  private readonly spool: FindingSpool | null;
  private readonly queue: Item[] = [];
  private inFlight = 0;
  private queueBytes = 0;
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
    this.spool = o.spoolDir
      ? new FindingSpool(o.spoolDir, {
          maxBytes: this.opts.spoolMaxBytes,
          segmentItems: Math.max(1, Math.min(1_000, Math.floor(this.opts.maxQueue / 2))),
          onLoss: (reason, n, err) => {
            if (n > 0) this.drop(n, `spool_${reason}`);
            if (err) jetstreamEvents.spoolWriteFailed({}, 1, { reason, findings: n, err: err.message }, this.log);
          },
        })
      : null;
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
    const item: Item = { subject: enc.subject, msgId: enc.msgId, payload: enc.payload, bytes: enc.bytes, enqueuedAt: Date.now() };
    const full = this.queue.length >= this.opts.maxQueue || this.queueBytes + item.bytes > this.opts.maxQueueBytes;
    // Once anything is on disk, new findings queue behind it so order is kept.
    if (this.spool && (!this.spool.isEmpty() || full)) {
      if (!this.spool.append(item)) {
        void this.spool.dropOldest().then((n) => {
          if (n > 0) this.drop(n, 'overflow');
          if (!this.spool?.append(item)) this.drop(1, 'overflow');
          this.gauges();
        });
      }
    } else if (full) {
      // Memory only: drop the oldest findings not awaiting a PubAck; fresher signals matter more.
      while (
        this.queue.length > this.inFlight &&
        (this.queue.length >= this.opts.maxQueue || this.queueBytes + item.bytes > this.opts.maxQueueBytes)
      ) {
        const [old] = this.queue.splice(this.inFlight, 1);
        if (old) this.queueBytes -= old.bytes;
        this.drop(1, 'overflow');
      }
      this.enqueue(item);
    } else {
      this.enqueue(item);
    }
    this.gauges();
    this.wake();
  }

  /** Findings not yet acknowledged by JetStream (memory + spool). */
  pending(): { memory: number; spoolBytes: number } {
    return { memory: this.queue.length, spoolBytes: this.spool?.bytes() ?? 0 };
  }

  /** Wait until everything queued is acknowledged, or the deadline (a duration in ms; above 10^12 an epoch-ms time, as the Loki sink reads it). */
  async flush(deadlineMs: number): Promise<void> {
    const until = deadlineMs > 1e12 ? deadlineMs : Date.now() + deadlineMs;
    // A previous run's spool counts as queued: wait for its listing (milliseconds) before deciding.
    await this.spool?.opened;
    this.wake();
    while (Date.now() < until && (this.queue.length > 0 || (this.spool && !this.spool.isEmpty()))) {
      await sleep(Math.min(20, Math.max(1, until - Date.now())));
    }
  }

  /** Flush within the deadline, then stop; unsent findings go to the spool when there is one. */
  async close(deadlineMs: number): Promise<void> {
    await this.flush(deadlineMs > 1e12 ? deadlineMs : Date.now() + deadlineMs);
    this.closing = true;
    this.wake();
    await this.pump;
    if (!this.queue.length) {
      await this.spool?.settle();
      return;
    }
    if (this.spool) {
      const segs = new Set(this.queue.map((i) => i.seg).filter((s) => s !== undefined));
      for (const s of segs) await s.release();
      await this.spool.prepend(this.queue);
      this.log.info({ findings: this.queue.length }, 'unsent findings saved to the spool');
    } else {
      this.drop(this.queue.length, 'shutdown');
      this.log.warn({ findings: this.queue.length }, 'unsent findings lost at shutdown (no spool configured)');
    }
    this.queue.length = 0;
    this.queueBytes = 0;
    this.gauges();
  }

  private enqueue(item: Item): void {
    this.queue.push(item);
    this.queueBytes += item.bytes;
  }

  private drop(n: number, reason: string): void {
    jetstreamEvents.dropped({ reason }, n, {}, this.log);
  }

  private gauges(): void {
    metrics.sinkQueueBytes.set({ sink: 'jetstream', tier: 'memory' }, this.queueBytes);
    metrics.sinkQueueBytes.set({ sink: 'jetstream', tier: 'spool' }, this.spool?.bytes() ?? 0);
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
      await this.refill();
      if (!this.js || !this.connected || this.nc?.isClosed() || this.queue.length === 0) {
        await this.idle(this.queue.length ? 1_000 : undefined);
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

  /** Move spooled segments into memory while there is room. */
  private async refill(): Promise<void> {
    const spool = this.spool;
    if (!spool) return;
    await spool.opened; // the previous run's segments are listed before the first refill
    while (!spool.isEmpty() && this.queue.length <= this.opts.maxQueue / 2 && this.queueBytes <= this.opts.maxQueueBytes / 2) {
      const seg = await spool.shift();
      if (!seg) break;
      if (!seg.items.length) {
        await seg.release();
        continue;
      }
      const ref = { remaining: seg.items.length, release: seg.release };
      const now = Date.now();
      for (const it of seg.items) this.enqueue({ ...it, bytes: Buffer.byteLength(it.payload), seg: ref, enqueuedAt: now });
    }
    this.gauges();
  }

  /** Publish the head of the queue; true when every message got a PubAck (or was permanently refused). */
  private async publishBatch(): Promise<boolean> {
    const js = this.js as JetStreamClient;
    const batch = this.queue.slice(0, this.opts.maxInFlight);
    this.inFlight = batch.length;
    // Sent back to back on one connection, so JetStream stores them in queue order.
    const results = await Promise.allSettled(
      batch.map((it) => {
        const h = natsHeaders();
        h.set('Content-Type', CONTENT_TYPE);
        return js.publish(it.subject, it.payload, { msgID: it.msgId, headers: h, timeout: this.opts.publishTimeoutMs, retries: 0 });
      }),
    );
    this.inFlight = 0;
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
    if (done.size) {
      const keep = this.queue.filter((it) => !done.has(it));
      this.queue.length = 0;
      this.queue.push(...keep);
      this.queueBytes = keep.reduce((n, it) => n + it.bytes, 0);
      for (const it of done) {
        if (it.seg && --it.seg.remaining === 0) await it.seg.release();
      }
      this.gauges();
    }
    if (firstError) {
      const e: Error = firstError;
      jetstreamEvents.publishFailed({}, 1, { err: e.message, pending: this.queue.length }, this.log);
      return false;
    }
    return true;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
