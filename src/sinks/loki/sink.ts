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
import { toEntry, type Entry } from './entry.ts';
import { LabelBuilder } from './labels.ts';
import { resolveLokiOptions, type LokiSinkOptions, type ResolvedLokiOptions } from './options.ts';
import { nextTake } from './schedule.ts';
import { LokiSender } from './send.ts';
import { Spool, type SpoolSegment } from './spool.ts';
import { OrderedAcks } from '../../delivery/ordered-acks.ts';

/** Orders of segments left by a previous run: before everything this run writes, in spool order. */
const PREVIOUS_RUN = -(2 ** 50);

/** Accepts either a duration (ms) or an absolute epoch-ms deadline: both readings exist in callers. */
function deadlineAt(deadlineMs: number): number {
  return deadlineMs > 1e12 ? deadlineMs : Date.now() + Math.max(0, deadlineMs);
}

/**
 * Loki sink: batches by size and wait, pushes protobuf+snappy (or JSON), retries 429/5xx with
 * jittered backoff, never lets a permanent 4xx block the queue, keeps client-side token buckets
 * under Loki's limits, and acknowledges records only once Loki accepted them.
 *
 * Queue tiers, oldest data first: spool segments (disk) → sealed chunks (memory) → open chunk.
 * When memory is over its bound the oldest sealed chunk moves to the spool (or is dropped when
 * there is no spool); when the spool is over its bound its oldest segment is dropped.
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
  private readonly spool: Spool | undefined;
  /** Handles by id, for records read back from the spool. */
  private readonly handles = new AckDirectory();
  /** Queue fill, kept current by updateGauges(). */
  private readonly queueFill = { fill: 0 };
  readonly pressure: Pressure = this.queueFill;

  private open: Chunk | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly sealed: Chunk[] = [];
  /** Chunks that failed with a retryable error (or halves of a split one): sent before anything else. */
  private readonly retry: Chunk[] = [];
  private readonly spooled: SpoolSegment[] = [];
  private inflight: Chunk | undefined;
  private memBytes = 0;
  private spoolBytes = 0;
  private spilling = 0;
  private spillingBytes = 0;
  private spillChain: Promise<void> = Promise.resolve();
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
  /** Orders of spool segments, by segment sequence. */
  private readonly segOrder = new Map<number, number>();

  constructor(options: LokiSinkOptions) {
    this.options = resolveLokiOptions(options);
    const o = this.options;
    this.name = o.name;
    this.labels = new LabelBuilder(o.maxLabelValues);
    this.sender = new LokiSender(o);
    this.spool = o.spool ? new Spool(o.spool.dir) : undefined;
    this.acks = new OrderedAcks<LogRecord>({
      maxHeldBytes: o.heldAckBytes,
      deliver: acknowledge,
      // Never acknowledged: the source re-reads these lines after a restart; Loki drops the duplicates.
      onDiscard: (lines) => lokiEvents.acksDiscarded({ sink: this.name }, lines),
      onHeld: (bytes) => metrics.sinkAcksHeldBytes.set({ sink: this.name }, bytes),
    });
    this.ready = this.init();
    // Spills must not race the spool's opening (it removes stale .tmp files and sets the next sequence).
    this.spillChain = this.ready.catch(() => undefined);
    this.loop = this.ready.then(() => this.run());
    this.loop.catch((err: unknown) => log.error({ component: 'loki', err }, 'loki sink loop crashed'));
  }

  register(handles: readonly AckHandle[]): void {
    this.handles.register(handles);
  }

  /** Bytes waiting: memory (incl. the open and in-flight batches) and spool. */
  queued(): { memoryBytes: number; spoolBytes: number; spoolSegments: number } {
    return { memoryBytes: this.memBytes, spoolBytes: this.spoolBytes, spoolSegments: this.spooled.length };
  }

  write(records: readonly LogRecord[]): void {
    if (this.closed) {
      if (records.length) this.drop('closed', records.length);
      return;
    }
    const o = this.options;
    const now = Date.now();
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
      this.memBytes += addEntry(this.open, e, r);
      if (this.open.bytes >= o.batchBytes) this.sealOpen();
    }
    this.enforceMemoryBound();
    this.updateGauges();
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
    left.push(...this.sealed.splice(0));
    if (this.open) left.push(this.open);
    this.open = undefined;
    this.inflight = undefined;
    for (const c of left) {
      if (c.mem) this.memBytes -= c.bytes;
      if (c.seg || !c.mem) continue; // still on disk: replayed on next start
      if (this.spool) this.spill(c);
      else {
        this.drop('shutdown', c.records.length);
        this.untrack(c.order);
      }
    }
    await this.spillChain;
    this.sender.close();
    this.updateGauges();
    this.notifyChange();
  }

  // ---- queue management -------------------------------------------------------------------

  private async init(): Promise<void> {
    if (!this.spool) return;
    let segs: SpoolSegment[];
    try {
      segs = await this.spool.open();
    } catch (err) {
      // Keep running on memory alone; every spill attempt will then count as spool_error.
      lokiEvents.spoolOpenFailed({}, 1, { err, dir: this.spool.dir });
      return;
    }
    for (const s of segs) {
      this.spooled.push(s);
      this.spoolBytes += s.bytes;
      this.segOrder.set(s.seq, PREVIOUS_RUN + s.seq);
      this.track(PREVIOUS_RUN + s.seq);
    }
    if (segs.length) {
      log.info({ component: 'loki', segments: segs.length, bytes: this.spoolBytes }, 'loki spool found from a previous run: replaying');
    }
    this.enforceSpoolBound();
    this.updateGauges();
  }

  private idle(): boolean {
    return !this.picking && !this.open && this.sealed.length === 0 && this.retry.length === 0 && this.spooled.length === 0 && !this.inflight && this.spilling === 0;
  }

  private sealOpen(): void {
    if (!this.open) return;
    this.sealed.push(this.open);
    this.open = undefined;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
  }

  private enforceMemoryBound(): void {
    while (this.memBytes > this.options.memoryQueueBytes) {
      if (this.sealed.length === 0) {
        if (!this.open) break;
        this.sealOpen();
      }
      const victim = this.sealed.shift();
      if (!victim) break;
      this.memBytes -= victim.bytes;
      // Spills waiting for the disk still hold their records in memory: bound them as well
      // (at least 16 MiB, so a burst in one tick is not dropped while the disk has room).
      if (this.spool && this.spillingBytes <= Math.max(this.options.memoryQueueBytes, 16 << 20)) this.spill(victim);
      else {
        this.drop('queue_full', victim.records.length);
        this.untrack(victim.order);
      }
    }
  }

  /** Moves a memory chunk to the spool (in order: spills are chained). */
  private spill(c: Chunk): void {
    const spool = this.spool;
    if (!spool) return;
    this.spilling++;
    this.spillingBytes += c.bytes;
    this.spillChain = this.spillChain.then(async () => {
      try {
        const seg = await spool.append(c.records, c.minTsMs);
        this.segOrder.set(seg.seq, c.order);
        this.spooled.push(seg);
        this.spoolBytes += seg.bytes;
        this.enforceSpoolBound();
      } catch (err) {
        this.drop('spool_error', c.records.length);
        this.untrack(c.order);
        lokiEvents.spoolWriteFailed({}, 1, { err });
      } finally {
        this.spilling--;
        this.spillingBytes -= c.bytes;
        this.updateGauges();
        this.notifyChange();
        this.wake();
      }
    });
  }

  private enforceSpoolBound(): void {
    const max = this.options.spool?.maxBytes ?? Infinity;
    while (this.spoolBytes > max && this.spooled.length > 0) {
      const seg = this.spooled.shift()!;
      this.spoolBytes -= seg.bytes;
      this.drop('spool_full', seg.lines);
      this.untrack(this.takeSegOrder(seg));
      this.spool?.remove(seg).catch(() => undefined);
    }
  }

  private drop(reason: string, lines: number): void {
    lokiEvents.dropped({ reason }, lines);
  }

  /** After every change of memBytes or spoolBytes: the gauges and the queue fill sources read. */
  private updateGauges(): void {
    metrics.sinkQueueBytes.set({ sink: this.name, tier: 'memory' }, Math.max(0, this.memBytes));
    metrics.sinkQueueBytes.set({ sink: this.name, tier: 'spool' }, Math.max(0, this.spoolBytes));
    const cap = this.options.memoryQueueBytes + (this.options.spool?.maxBytes ?? 0);
    this.queueFill.fill = Math.min(1, Math.max(0, this.memBytes + this.spoolBytes) / cap);
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
      sealed: this.sealed.length,
      oldestSealedCreatedAt: this.sealed[0]?.createdAt,
      oldestSealedMinTs: this.sealed[0]?.minTsMs,
      spooled: this.spooled.length,
      oldestSpooledMinTs: this.spooled[0]?.minTsMs,
      liveWindowMs: this.options.liveWindowMs,
      outOfOrderWindowMs: this.options.outOfOrderWindowMs,
      liveTurn: this.liveTurn,
    });
    this.liveTurn = choice.liveTurn;
    switch (choice.take) {
      case 'newest':
        return this.sealed.pop();
      case 'spool':
        return this.loadSegment(this.spooled.shift()!);
      case 'oldest':
        return this.sealed.shift();
      default:
        return undefined;
    }
  }

  private async loadSegment(seg: SpoolSegment): Promise<Chunk | undefined> {
    const spool = this.spool!;
    const order = this.takeSegOrder(seg);
    try {
      const { records, corrupt } = await spool.read(seg);
      if (corrupt) this.drop('spool_corrupt', corrupt);
      const c = newChunk(Date.now(), order);
      c.seg = seg;
      c.mem = false;
      for (const r of records) {
        // The spool file has the handle's id (AckHandle.toJSON): the handle again, by id.
        r.ack = this.handles.resolve(r.ack as unknown);
        addEntry(c, toEntry(r, this.labels, this.options.maxLineBytes), r);
      }
      return c;
    } catch (err) {
      this.spoolBytes -= seg.bytes;
      this.updateGauges();
      this.drop('spool_error', seg.lines);
      this.untrack(order);
      lokiEvents.spoolUnreadable({}, 1, { err });
      await spool.remove(seg).catch(() => undefined);
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
        if (this.sealed.length || this.retry.length || this.spooled.length) continue;
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
    if (chunk.seg) {
      this.spoolBytes -= chunk.seg.bytes;
      await this.spool?.remove(chunk.seg).catch(() => undefined);
    }
    if (chunk.mem) this.memBytes -= chunk.bytes;
    chunk.entries = []; // finished: only the records are needed, for the acknowledgement
    this.acks.done(chunk.order, ack ? { records: chunk.records, bytes: chunk.bytes } : undefined);
    this.updateGauges();
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

  /** The write order of a segment leaving the spool tier (loaded into a chunk, or dropped). */
  private takeSegOrder(seg: SpoolSegment): number {
    const order = this.segOrder.get(seg.seq) ?? PREVIOUS_RUN + seg.seq;
    this.segOrder.delete(seg.seq);
    return order;
  }

}
