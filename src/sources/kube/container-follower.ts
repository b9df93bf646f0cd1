import { log } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import type { AckHandle, LogRecord, RecordPosition, Target } from '../../model/log-record.ts';
import { PAUSE_ABOVE, RESUME_BELOW, type Pressure } from '../../delivery/pressure.ts';
import { KubeApiError, type KubeApi } from './api.ts';
import { Backoff, sleep } from '../../delivery/backoff.ts';
import { Cursor, lineHash, ResumeFilter, type CursorLimits } from './cursor.ts';
import type { CursorStore } from './cursor-store.ts';
import { LineSplitter, type SplitLine } from './line-splitter.ts';
import type { StreamLimiter } from './stream-limiter.ts';
import { floorToSecond, keyFromMs, splitTimestamp } from './timestamp.ts';


/** What the pod watch currently says about one container instance. */
export type InstancePhase = 'running' | 'terminated' | 'previous' | 'waiting' | 'gone';

export interface FollowerContext {
  api: KubeApi;
  limiter: StreamLimiter;
  cursors: CursorStore;
  /** Remembers each emitted record's line hash, so acknowledging does not depend on the line surviving the pipeline unchanged. */
  hashes: WeakMap<RecordPosition, string>;
  /** The pods source's handle, on every record. */
  acks: AckHandle;
  emit(records: LogRecord[]): void;
  phase(containerId: string): InstancePhase;
  forbidden(err: KubeApiError): void;
  limits: CursorLimits;
  lookbackSeconds: number;
  maxResumeAgeSeconds: number;
  /** Minimum silence before a running container's stream counts as stalled. */
  stallFloorMs: number;
  drainIdleMs: number;
  maxLineBytes: number;
  /** The log sink's queue fill: reading pauses above 0.9 until it falls under 0.7. */
  pressure?: Pressure;
}

/** Lines handed to the sink between two pressure checks. */
const EMIT_SLICE = 16;

export interface FollowSpec {
  containerId: string;
  namespace: string;
  pod: string;
  container: string;
  node: string;
  /** Target shared by every record of this container (treat as immutable). */
  target: Target;
  /** Container start (epoch ms) bounds the first read. */
  startedAtMs: number | null;
  /** previous: read the terminated previous instance once (previous=true), then stop. */
  mode: 'follow' | 'previous';
}

type Outcome = 'eof' | 'stalled' | 'drained' | 'superseded' | 'stopped';

const MAX_QUIET_MS = 3_600_000;

/**
 * Follows one container instance's log through the API: connects with timestamps from the resume point,
 * drops replayed lines already taken, watches for stalls, reconnects with backoff, and finally reads the
 * previous instance once when a restart superseded it.
 */
export class ContainerFollower {
  readonly spec: FollowSpec;
  private readonly ctx: FollowerContext;
  private readonly abort = new AbortController();
  private stream: AbortController | null = null;
  private streamEnd: Outcome | null = null;
  private emitted: Cursor | null = null;
  private draining = false;
  private mode: 'follow' | 'previous';
  private gapEwmaMs: number;
  private readonly backoff = new Backoff({ baseMs: 1000, maxMs: 30_000, floorMs: 500 });
  private runP: Promise<void> | null = null;
  private previousMisses = 0;
  /** Lines emitted by this follower (tests, debugging). */
  lines = 0;
  state: 'idle' | 'waiting' | 'streaming' | 'backoff' | 'done' = 'idle';

  constructor(ctx: FollowerContext, spec: FollowSpec) {
    this.ctx = ctx;
    this.spec = spec;
    this.mode = spec.mode;
    this.gapEwmaMs = ctx.stallFloorMs / 4;
  }

  start(): Promise<void> {
    this.runP ??= this.run()
      .catch((err: unknown) => log.error({ err, containerId: this.spec.containerId }, 'log follower crashed'))
      .finally(() => {
        this.state = 'done';
      });
    return this.runP;
  }

  get finished(): Promise<void> {
    return this.runP ?? Promise.resolve();
  }

  /** The container exited: read until the stream ends or stays silent for drainIdleMs. */
  terminated(): void {
    if (this.draining) return;
    this.draining = true;
  }

  /** A new instance replaced this one: finish with one previous=true read from the cursor. */
  supersede(): void {
    if (this.mode === 'previous') return;
    this.mode = 'previous';
    this.endStream('superseded');
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.endStream('stopped');
    await this.runP;
  }

  private endStream(why: Outcome): void {
    if (this.stream && !this.stream.signal.aborted) {
      this.streamEnd = why;
      this.stream.abort();
    }
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const acked = await this.ctx.cursors.track(this.spec.containerId);
    this.emitted = acked ? acked.clone() : null;
    let stalledBefore = false;
    while (!signal.aborted) {
      const phase = this.ctx.phase(this.spec.containerId);
      if (phase === 'gone') return;
      if (phase === 'previous' && this.mode === 'follow') this.mode = 'previous';
      if (phase === 'terminated') this.draining = true;
      this.state = 'waiting';
      const release = await this.ctx.limiter.acquire(this.spec.node || '_', signal);
      if (!release) return;
      let outcome: Outcome;
      try {
        this.state = 'streaming';
        outcome = await this.streamOnce(stalledBefore);
      } catch (err) {
        release();
        if (signal.aborted) return;
        if (this.streamEnd === 'superseded') {
          this.streamEnd = null;
          continue;
        }
        if (!(await this.onError(err))) return;
        continue;
      }
      release();
      stalledBefore = outcome === 'stalled';
      if (outcome === 'stopped') return;
      if (this.mode === 'previous' && outcome !== 'superseded') return;
      if (outcome === 'superseded') {
        metrics.kubeLogReconnects.inc({ reason: 'superseded' });
        continue;
      }
      if (outcome === 'drained') return;
      if (outcome === 'stalled') {
        metrics.kubeLogReconnects.inc({ reason: 'stalled' });
        continue;
      }
      // EOF: the kubelet ends a follow when the container exits. Give the pod status a moment to say so
      // before reconnecting, or the next request would read the next instance under this one's ID.
      this.state = 'backoff';
      await sleep(this.backoff.next(), signal);
      const after = this.ctx.phase(this.spec.containerId);
      if (after !== 'running') {
        if (after === 'previous' && this.mode === 'follow' && !this.draining) {
          this.mode = 'previous';
          continue;
        }
        return;
      }
      metrics.kubeLogReconnects.inc({ reason: 'eof' });
    }
  }

  /** true: retry after backoff; false: give up on this instance. */
  private async onError(err: unknown): Promise<boolean> {
    const signal = this.abort.signal;
    metrics.kubeLogReconnects.inc({ reason: 'error' });
    const phase = this.ctx.phase(this.spec.containerId);
    if (phase === 'gone') return false;
    if (err instanceof KubeApiError) {
      if (err.forbidden) this.ctx.forbidden(err);
      // previous=true with no previous instance (400), or the pod is gone (404): nothing left to read —
      // after a few tries, since right after a restart the node may not have caught up with its status.
      if (this.mode === 'previous' && (err.status === 400 || err.status === 404) && ++this.previousMisses >= 3) return false;
      if (err.status === 404 && phase !== 'running') return false;
      log.debug({ containerId: this.spec.containerId, status: err.status, msg: err.message }, 'log stream failed: backing off');
    } else {
      log.debug({ err, containerId: this.spec.containerId }, 'log stream failed: backing off');
    }
    this.state = 'backoff';
    await sleep(this.backoff.next(), signal);
    return !signal.aborted;
  }

  private sinceTime(): string {
    const now = Date.now();
    const oldest = now - this.ctx.maxResumeAgeSeconds * 1000;
    if (this.emitted?.floor) {
      const floorMs = Date.parse(this.emitted.floor.slice(0, 23) + 'Z');
      if (floorMs >= oldest) return floorToSecond(this.emitted.floor);
      log.warn({ containerId: this.spec.containerId, cursor: this.emitted.floor }, 'cursor older than maxResumeAgeSeconds: lines before it are skipped (Loki would reject them)');
      return floorToSecond(keyFromMs(oldest));
    }
    const base = Math.max(this.spec.startedAtMs ?? 0, now - this.ctx.lookbackSeconds * 1000);
    return floorToSecond(keyFromMs(base));
  }

  private stallThresholdMs(): number {
    if (this.draining || this.mode === 'previous') return this.ctx.drainIdleMs;
    return Math.max(this.ctx.stallFloorMs, Math.min(4 * this.gapEwmaMs, MAX_QUIET_MS));
  }

  private async streamOnce(stalledBefore: boolean): Promise<Outcome> {
    const s = this.spec;
    const filter = this.emitted?.max ? new ResumeFilter(this.emitted, this.ctx.limits.windowMs) : null;
    const cursorMax = this.emitted?.max ?? null;
    const stream = new AbortController();
    this.stream = stream;
    this.streamEnd = null;
    const onAbort = (): void => this.endStream('stopped');
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    // The stall watchdog: one timer per stream, re-armed only when it fires; a chunk just notes the
    // time (a clearTimeout + setTimeout per chunk was measurable at thousands of chunks per second).
    let timer: NodeJS.Timeout | undefined;
    let lastActive = 0;
    const check = (): void => {
      const left = this.stallThresholdMs() - (Date.now() - lastActive);
      if (left > 0) {
        timer = setTimeout(check, left);
        timer.unref?.();
        return;
      }
      this.endStream(this.draining || this.mode === 'previous' ? 'drained' : 'stalled');
    };
    const arm = (now = Date.now()): void => {
      lastActive = now;
      if (timer !== undefined) return;
      timer = setTimeout(check, this.stallThresholdMs());
      timer.unref?.();
    };
    let lastChunk = 0;
    let checkedGap = !stalledBefore || cursorMax === null;
    try {
      const body = await this.ctx.api.open({
        verb: 'get',
        resource: 'pods/log',
        namespace: s.namespace,
        path: `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/pods/${encodeURIComponent(s.pod)}/log`,
        query: {
          container: s.container,
          timestamps: true,
          follow: this.mode === 'follow',
          previous: this.mode === 'previous' ? true : undefined,
          sinceTime: this.sinceTime(),
        },
        signal: stream.signal,
      });
      arm();
      const splitter = new LineSplitter(this.ctx.maxLineBytes);
      const lines: SplitLine[] = [];
      for await (const chunk of body) {
        const now = Date.now();
        if (lastChunk) this.gapEwmaMs = 0.8 * this.gapEwmaMs + 0.2 * (now - lastChunk);
        lastChunk = now;
        this.backoff.reset();
        arm(now);
        splitter.push(chunk as Buffer, lines);
        if (lines.length === 0) continue;
        if (!checkedGap) {
          checkedGap = true;
          const first = lines[0] ? splitTimestamp(lines[0].text) : null;
          if (first && cursorMax !== null && first.ts.key > cursorMax) {
            // After a stall the replay does not reach back to the cursor: the file holding it was rotated away.
            metrics.linesLostToRotation.inc();
            log.warn({ containerId: s.containerId, pod: `${s.namespace}/${s.pod}`, container: s.container, cursor: cursorMax, resumedAt: first.ts.key }, 'log stream stalled and resumed past the cursor: lines written in between may be lost (log rotation)');
          }
        }
        // In slices, checking the sink's pressure before each: a burst (a replay from the cursor after
        // a reconnect can arrive as one large chunk) then overshoots a full queue by at most one slice
        // per stream, instead of pushing the sink into dropping.
        const pressure = this.ctx.pressure;
        for (let i = 0; i < lines.length; i += EMIT_SLICE) {
          if (pressure && pressure.fill > PAUSE_ABOVE) {
            // Stop reading: HTTP/2 and TCP flow control push back to the API server and the kubelet, and the
            // log file on the node stays the buffer. The stall watchdog sleeps meanwhile.
            clearTimeout(timer);
            timer = undefined;
            metrics.kubeLogStreamsPaused.inc();
            while (pressure.fill > RESUME_BELOW && !stream.signal.aborted) await sleep(100, stream.signal);
            metrics.kubeLogStreamsPaused.dec();
            if (stream.signal.aborted) throw new Error('aborted while paused');
            arm();
          }
          this.emitLines(lines.length <= EMIT_SLICE ? lines : lines.slice(i, i + EMIT_SLICE), filter);
        }
        lines.length = 0;
      }
      return 'eof';
    } catch (err) {
      if (this.streamEnd) return this.streamEnd;
      throw err;
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onAbort);
      if (!stream.signal.aborted) stream.abort();
      if (this.stream === stream) this.stream = null;
    }
  }

  private emitLines(lines: SplitLine[], filter: ResumeFilter | null): void {
    const s = this.spec;
    const out: LogRecord[] = [];
    let bytes = 0;
    for (const l of lines) {
      const parsed = splitTimestamp(l.text);
      let key: string;
      let raw: string;
      let ms: number;
      let msg: string;
      let malformed: string | undefined;
      if (parsed) {
        key = parsed.ts.key;
        raw = parsed.ts.raw;
        ms = parsed.ts.ms;
        msg = parsed.message;
      } else {
        // Only a server bug or a cut line gives no prefix: keep it, at the last known instant.
        key = this.emitted?.max ?? keyFromMs(Date.now());
        raw = key;
        ms = Date.parse(key.slice(0, 23) + 'Z');
        msg = l.text;
        malformed = 'no_timestamp';
      }
      let h: string | undefined;
      if (filter && !filter.admit(key, () => (h = lineHash(msg)))) {
        metrics.kubeResumeDuplicatesDropped.inc();
        continue;
      }
      h ??= lineHash(msg);
      (this.emitted ??= new Cursor(this.ctx.limits)).add(key, h, ms);
      const position: RecordPosition = { key: s.containerId, ts: raw };
      this.ctx.hashes.set(position, h);
      const rec: LogRecord = { ts: raw, tsMs: ms, line: msg, stream: 'unknown', kind: 'pod', target: s.target, level: 'unknown', position, ack: this.ctx.acks };
      if (l.truncated) malformed = 'truncated';
      else if (l.invalidUtf8) malformed ??= 'invalid_utf8';
      if (malformed) {
        rec.malformed = malformed;
        metrics.malformed.inc({ reason: malformed });
      }
      bytes += msg.length;
      out.push(rec);
    }
    if (out.length === 0) return;
    this.lines += out.length;
    metrics.linesIn.inc({ source: 'pod' }, out.length);
    metrics.bytesIn.inc({ source: 'pod' }, bytes);
    this.ctx.emit(out);
  }
}
