import type { AckHandle, LogRecord } from '../../model/log-record.ts';
import type { LogSink } from '../types.ts';
import type { Pressure } from '../../delivery/pressure.ts';
import { AckDirectory, acknowledge } from '../../delivery/acks.ts';
import { metrics } from '../../metrics.ts';
import { lokiEvents } from '../../internal-events/loki.ts';
import { log } from '../../logger.ts';
import { sleep } from '../../delivery/backoff.ts';
import { backoffMs } from './classify.ts';
import { addEntry, newChunk, splitChunk, type Chunk } from './chunk.ts';
import { DeliveryBuffer } from '../../delivery/buffer.ts';
import { toEntry, type Entry } from './entry.ts';
import { LabelBuilder } from './labels.ts';
import { resolveLokiOptions, type LokiSinkOptions, type ResolvedLokiOptions } from './options.ts';
import { nextTake } from './schedule.ts';
import { LokiSender } from './send.ts';
import { lokiSpoolCodec } from './spool.ts';
import { OrderedAcks } from '../../delivery/ordered-acks.ts';

/** Accepts either a duration (ms) or an absolute epoch-ms deadline: both readings exist in callers. */
function deadlineAt(deadlineMs: number): number {
  return deadlineMs > 1e12 ? deadlineMs : Date.now() + Math.max(0, deadlineMs);
}

/**
 * Loki sink: batches by size and wait, pushes protobuf+snappy (or JSON), retries 429/5xx with
 * jittered backoff, never lets a permanent 4xx block the queue, keeps client-side token buckets
 * under Loki's limits, and acknowledges records only once Loki accepted them.
 *
 * Queue tiers, oldest data first: spool segments (disk) → sealed chunks (memory) → open chunk, held by
 * the shared delivery buffer (src/delivery/buffer.ts). When memory is over its bound the oldest sealed
 * chunk moves to the spool (or is dropped when there is no spool); when the spool is over its bound its
 * oldest segment is dropped. The open chunk, the one in flight and those waiting for a retry count
 * against the memory bound but are never dropped for it.
 *
 * Ordering: with no backlog, chunks go out oldest first. Once the oldest chunk is older than
 * liveWindowMs (an outage), sending alternates newest / oldest, so the present is not starved
 * behind catch-up. Each push keeps every stream in timestamp order; across pushes a stream may then
 * go back in time, which Loki accepts within its out-of-order window (max_chunk_age/2 = 1h by
 * default, unordered_writes is on by default). Backlog further behind than that is refused by Loki
 * as too_far_behind: counted, not retried.
 *
 * Acknowledgements follow write order, whatever the send order: a chunk delivered while an older one
 * is still queued (live-first) is held until the older ones are done, because a source advances its
 * cursor to the newest acknowledged line and a crash must not skip lines still queued behind it.
 * Held chunks are bounded (`heldAckBytes`); past it the oldest held chunk is never acknowledged,
 * which is safe: its lines were delivered and are only re-read (Loki drops exact duplicates).
 * Released records go to the handles they carry (record.ack); spooled records carry the handle's id,
 * resolved through the handles the pipeline registered.
 */
export class LokiSink implements LogSink {
  readonly name: string;
  readonly options: ResolvedLokiOptions;
  /** Resolves when the spool (if any) has been opened and its segments queued for replay. */
  readonly ready: Promise<void>;

  private readonly labels: LabelBuilder;
  private readonly sender: LokiSender;
  /** Handles by id, for records read back from the spool. */
  private readonly handles = new AckDirectory();
  /** Sealed chunks (memory) and spool segments (disk). */
  private readonly buffer: DeliveryBuffer<Chunk>;
  readonly pressure: Pressure;

  private open: Chunk | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  /** Chunks that failed with a retryable error (or halves of a split one): sent before anything else. */
  private readonly retry: Chunk[] = [];
  private inflight: Chunk | undefined;
  private liveTurn = false;
  private flushing = 0;
  private closed = false;
  private stopped = false;
  private readonly stopCtl = new AbortController();
  private wakeUp: (() => void) | undefined;
  private woken = false;
  /** True while a chunk is between its queue and `inflight` (pick is async for spool reads). */
  private picking = false;
  private changeWaiters: Array<() => void> = [];
  private loop: Promise<void>;
  private nextOrder = 0;
  /** Chunks not yet done (queued, spooled, spilling, in flight) and delivered ones held for older ones. */
  private readonly acks: OrderedAcks<LogRecord>;

  constructor(options: LokiSinkOptions) {
    this.options = resolveLokiOptions(options);
    const o = this.options;
    this.name = o.name;
    this.labels = new LabelBuilder(o.maxLabelValues);
    this.sender = new LokiSender(o);
    this.acks = new OrderedAcks<LogRecord>({
      maxHeldBytes: o.heldAckBytes,
      deliver: acknowledge,
      // Never acknowledged: the source re-reads these lines after a restart; Loki drops the duplicates.
      onDiscard: (lines) => lokiEvents.acksDiscarded({ sink: this.name }, lines),
      onHeld: (bytes) => metrics.sinkAcksHeldBytes.set({ sink: this.name }, bytes),
    });
    this.buffer = new DeliveryBuffer<Chunk>({
      name: this.name,
      memory: { maxBytes: o.memoryQueueBytes },
      ...(o.spool ? { spool: { dir: o.spool.dir, maxBytes: o.spool.maxBytes, mode: 'whole' as const } } : {}),
      codec: lokiSpoolCodec({ labels: this.labels, maxLineBytes: o.maxLineBytes, handles: this.handles }),
      reasons: { memoryFull: 'queue_full', spoolFull: 'spool_full', spoolError: 'spool_error', spoolCorrupt: 'spool_corrupt' },
      onDrop: (reason, lines, orders, err) => {
        this.drop(reason, lines);
        if (err) lokiEvents.spoolFailed({}, 1, { err });
        // Dropped chunks are done: younger delivered ones may now be acknowledged.
        for (const order of orders) this.untrack(order);
      },
      onReplay: (orders, bytes) => {
        for (const order of orders) this.track(order);
        log.info({ component: 'loki', segments: orders.length, bytes }, 'loki spool found from a previous run: replaying');
      },
      onSettled: () => {
        this.notifyChange();
        this.wake();
      },
    });
    this.pressure = this.buffer.pressure;
    this.ready = this.init();
    this.loop = this.ready.then(() => this.run());
    this.loop.catch((err: unknown) => log.error({ component: 'loki', err }, 'loki sink loop crashed'));
  }

  register(handles: readonly AckHandle[]): void {
    this.handles.register(handles);
  }

  /** Bytes waiting: memory (incl. the open and in-flight batches) and spool. */
  queued(): { memoryBytes: number; spoolBytes: number; spoolSegments: number } {
    return { memoryBytes: this.buffer.memoryBytes(), spoolBytes: this.buffer.spoolBytes(), spoolSegments: this.buffer.spooled() };
  }

  write(records: readonly LogRecord[]): void {
    if (this.closed) {
      if (records.length) this.drop('closed', records.length);
      return;
    }
    const o = this.options;
    const now = Date.now();
    // Entry bytes are reserved in the buffer once per write (and before each chunk that seals).
    let adding = 0;
    for (const r of records) {
      let e: Entry;
      try {
        e = toEntry(r, this.labels, o.maxLineBytes);
      } catch (err) {
        // A malformed record must not take the whole batch (or the caller) down with it.
        this.drop('invalid_record', 1);
        lokiEvents.invalidRecord({}, 1, { err: String(err) });
        continue;
      }
      if (!this.open) {
        this.open = newChunk(now, this.nextOrder++);
        this.track(this.open.order);
        this.batchTimer = setTimeout(() => this.wake(), o.batchWaitMs);
      }
      adding += addEntry(this.open, e, r);
      if (this.open.bytes >= o.batchBytes) {
        this.buffer.reserve(adding);
        adding = 0;
        this.sealOpen();
      }
    }
    this.buffer.reserve(adding);
    // Memory over its bound with nothing sealed: the open chunk is the oldest there is.
    if (this.open && this.buffer.queuedBatches() === 0 && this.buffer.memoryBytes() > o.memoryQueueBytes) this.sealOpen();
    this.wake();
  }

  async flush(deadlineMs: number): Promise<void> {
    const until = deadlineAt(deadlineMs);
    this.flushing++;
    try {
      this.wake();
      while (!this.idle() && Date.now() < until && !this.stopped) {
        await this.waitChange(until - Date.now());
      }
    } finally {
      this.flushing--;
    }
    if (!this.idle()) {
      log.warn({ component: 'loki', ...this.queued() }, 'loki flush deadline passed with data still queued');
    }
  }

  async close(deadlineMs: number): Promise<void> {
    if (this.closed) return;
    const until = deadlineAt(deadlineMs);
    this.closed = true;
    await this.ready.catch(() => undefined);
    await this.flush(until);
    this.stopped = true;
    this.stopCtl.abort();
    this.wake();
    await this.loop.catch(() => undefined);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    // Whatever Loki has not taken: into the spool if there is one, else it is lost (counted).
    const left: Chunk[] = [...this.retry.splice(0)];
    if (this.inflight) left.push(this.inflight);
    this.inflight = undefined;
    this.sealOpen();
    await this.buffer.persist(left, 'shutdown');
    this.sender.close();
    this.notifyChange();
  }

  // ---- queue management -------------------------------------------------------------------

  private async init(): Promise<void> {
    const { error } = await this.buffer.ready;
    // Keep running on memory alone; every spill attempt will then count as spool_error.
    if (error) lokiEvents.spoolOpenFailed({}, 1, { err: error, dir: this.options.spool?.dir });
  }

  private idle(): boolean {
    return !this.picking && !this.open && this.retry.length === 0 && !this.inflight && this.buffer.empty();
  }

  private sealOpen(): void {
    if (!this.open) return;
    const c = this.open;
    this.open = undefined;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.buffer.push(c, { reserved: true });
  }

  private drop(reason: string, lines: number): void {
    lokiEvents.dropped({ reason }, lines);
  }



  // ---- the send loop ----------------------------------------------------------------------

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    if (w) w();
    else this.woken = true;
  }

  private waitWake(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private notifyChange(): void {
    const ws = this.changeWaiters;
    this.changeWaiters = [];
    for (const w of ws) w();
  }

  private waitChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(1, ms));
      this.changeWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private sleep(ms: number): Promise<void> {
    return ms <= 0 || this.stopped ? Promise.resolve() : sleep(ms, this.stopCtl.signal);
  }

  /** Next chunk to send, or undefined when nothing is due yet. */
  private async pick(): Promise<Chunk | undefined> {
    const retry = this.retry.shift();
    if (retry) return retry;
    const now = Date.now();
    if (this.open) {
      const due = this.open.createdAt + this.options.batchWaitMs - now;
      if (this.flushing > 0 || due <= 0) this.sealOpen();
      else {
        // Timers may fire a millisecond early against Date.now(): re-arm for what is left.
        if (this.batchTimer) clearTimeout(this.batchTimer);
        this.batchTimer = setTimeout(() => this.wake(), due);
      }
    }
    const choice = nextTake({
      now,
      sealed: this.buffer.queuedBatches(),
      oldestSealedCreatedAt: this.buffer.oldestQueued()?.createdAt,
      oldestSealedMinTs: this.buffer.oldestQueued()?.minTsMs,
      spooled: this.buffer.spooled(),
      oldestSpooledMinTs: this.buffer.oldestSpooledMeta(),
      liveWindowMs: this.options.liveWindowMs,
      outOfOrderWindowMs: this.options.outOfOrderWindowMs,
      liveTurn: this.liveTurn,
    });
    this.liveTurn = choice.liveTurn;
    switch (choice.take) {
      case 'newest':
        return this.buffer.takeNewest();
      case 'spool':
        return this.buffer.takeOldest(); // the spool's oldest
      case 'oldest':
        return this.buffer.takeOldest(); // nothing spooled: memory's oldest
      default:
        return undefined;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.picking = true;
      const chunk = await this.pick();
      if (chunk) this.inflight = chunk;
      this.picking = false;
      if (!chunk) {
        if (this.buffer.queuedBatches() || this.retry.length || this.buffer.spooled()) continue;
        if (this.idle()) this.notifyChange();
        // An open chunk that is not due yet has its own timer; writes and spills wake us too.
        await this.waitWake();
        continue;
      }
      if (chunk.entries.length === 0) {
        await this.finish(chunk, true);
        this.inflight = undefined;
        continue;
      }
      await this.send(chunk);
      this.inflight = undefined;
      this.notifyChange();
    }
  }

  private async send(chunk: Chunk): Promise<void> {
    const o = this.options;
    const outcome = await this.sender.send(chunk.entries, chunk.bytes, this.stopCtl.signal);
    if (!outcome) {
      this.retry.unshift(chunk);
      return;
    }
    switch (outcome.kind) {
      case 'delivered':
        metrics.linesOut.inc({ sink: this.name }, chunk.entries.length);
        metrics.bytesOut.inc({ sink: this.name }, chunk.bytes);
        await this.finish(chunk, true);
        return;
      case 'rejected':
        {
          // Partial acceptance: Loki stored the valid entries; the refused ones never will be.
          let refused = 0;
          for (const r of outcome.reasons) {
            const n = Math.min(r.count, chunk.entries.length - refused);
            if (n <= 0) break;
            this.drop(r.reason, n);
            refused += n;
          }
          metrics.linesOut.inc({ sink: this.name }, Math.max(0, chunk.entries.length - refused));
        }
        await this.finish(chunk, true);
        return;
      case 'failed':
        // Nothing was ingested: not acknowledged, so the source can re-read after the fix.
        this.drop(outcome.reason, chunk.entries.length);
        await this.finish(chunk, false);
        return;
      case 'retry': {
        if (this.stopped) {
          this.retry.unshift(chunk);
          return;
        }
        chunk.attempt++;
        chunk.consecutive429 = outcome.reason === 'network' || outcome.reason.startsWith('http_') ? 0 : chunk.consecutive429 + 1;
        // A batch above Loki's burst is refused forever: halve it after repeated 429s.
        if (chunk.consecutive429 >= o.splitAfter429 && chunk.entries.length > 1) {
          const [a, b] = splitChunk(chunk);
          this.buffer.split(chunk, a, b);
          this.track(chunk.order); // two halves now, each finishing on its own
          this.retry.unshift(a, b);
        } else {
          this.retry.unshift(chunk);
        }
        // Retry-After wins over our own schedule (bounded: a bogus header must not park the queue for hours).
        const wait = outcome.retryAfterMs !== undefined ? Math.min(outcome.retryAfterMs, Math.max(o.maxBackoffMs, 300_000)) : backoffMs(chunk.attempt - 1, o.minBackoffMs, o.maxBackoffMs);
        await this.sleep(wait);
        return;
      }
    }
  }

  private async finish(chunk: Chunk, ack: boolean): Promise<void> {
    await this.buffer.done(chunk);
    chunk.entries = []; // finished: only the records are needed, for the acknowledgement
    this.acks.done(chunk.order, ack ? { records: chunk.records, bytes: chunk.bytes } : undefined);
    this.notifyChange();
  }

  // ---- acknowledgements in write order (src/delivery/ordered-acks.ts) ----------------------

  private track(order: number): void {
    this.acks.track(order);
  }

  /** A chunk left without delivery (dropped): younger delivered chunks may now be acknowledged. */
  private untrack(order: number): void {
    this.acks.done(order);
  }
}
