import { LRUCache } from 'lru-cache';
import type { Observable } from 'rxjs';
import { log as rootLog, type Logger } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import type { LogRecord, OutputStream, RecordPosition, Target } from '../../model/log-record.ts';
import { stateKey } from '../../state/store.ts';
import { SourceAcks } from '../../delivery/acks.ts';
import { FileSource, type FilePosition } from '../files/source.ts';
import { Batcher } from '../kube/batcher.ts';
import type { ContainerStatus, Pod } from '../kube/k8s-types.ts';
import { ownsPod } from '../kube/ownership.ts';
import { PodStatusTracker } from '../kube/pod-status.ts';
import type { KubeShared } from '../kube/shared.ts';
import type { ParsedTs } from '../kube/timestamp.ts';
import { podTarget } from '../kube/workload.ts';
import type { Source } from '../types.ts';
import { parseCri, parsePodLogPath, type PodLogPath } from './cri.ts';

/**
 * The Kubernetes files profile: the pod logs of this node read from the kubelet's files
 * (`<root>/<ns>_<pod>_<uid>/<container>/<n>.log`) instead of through the API, labelled from the
 * node-scoped pods informer exactly as the API pods source labels them (same Target, so the Loki
 * sink builds the same streams and the detectors the same scopes). Reading, rotation and positions
 * are the file source's (composed, not copied); this adds the CRI parsing, the reassembly of `P`
 * fragments, the pod lookup and the pod status records the API source also emits.
 */
export interface KubeFilesSourceOptions {
  /** The kubelet's pod log directory. */
  root: string;
  /** A file whose pod the informer does not know waits this long, then is read with labels from its path. */
  podWaitMs: number;
  maxOpenFiles: number;
  maxLineBytes: number;
  pollIntervalMs: number;
  scanIntervalMs: number;
  closeIdleMs: number;
  rotateWaitMs: number;
  positionsFlushMs: number;
  watch: boolean;
  log?: Logger;
  batchMaxRecords?: number;
  batchMaxWaitMs?: number;
}

/** Waiting for the first pods list: longer than podWait, but not for ever (the API may be down). */
const UNSYNCED_WAIT_MS = 30_000;
/** Lines held for pods the informer does not know yet, all pods together. */
const MAX_WAITING = 20_000;
const MAX_PARTIALS = 10_000;

interface Line {
  info: PodLogPath;
  ts: ParsedTs;
  stream: OutputStream;
  message: string;
  /** Positions of the file records it was made of (several for a reassembled line). */
  positions: FilePosition[];
  malformed?: string;
}

interface Partial {
  info: PodLogPath;
  parts: string[];
  bytes: number;
  ts: ParsedTs;
  positions: FilePosition[];
  truncated: boolean;
  invalidUtf8: boolean;
}

interface Waiting {
  since: number;
  uid: string;
  lines: Line[];
}

function statuses(pod: Pod): ContainerStatus[] {
  const st = pod.status;
  return [...(st?.initContainerStatuses ?? []), ...(st?.containerStatuses ?? []), ...(st?.ephemeralContainerStatuses ?? [])];
}

/**
 * The container ID the API source keys an instance by: the status's ID of the instance whose restart
 * count the file name carries, else the per-instance key the informer gives runtimes without IDs.
 */
export function containerIdFor(pod: Pod, info: PodLogPath): string {
  const s = statuses(pod).find((x) => x.name === info.container);
  if (s) {
    const rc = s.restartCount ?? 0;
    if (rc === info.restart && s.containerID) return s.containerID;
    const last = s.lastState?.terminated?.containerID;
    if (last && rc - 1 === info.restart) return last;
  }
  return `pod://${info.uid}/${info.container}/${info.restart}`;
}

export class KubeFilesSource implements Source {
  readonly name = 'kube-pod-files';
  readonly records$: Observable<LogRecord[]>;
  /** On every pod log record: delivered lines advance the file positions they were made of. */
  readonly acks = new SourceAcks(this.name, (records) => this.acknowledged(records));
  /** The file source underneath (tests). */
  readonly files: FileSource;
  private readonly shared: KubeShared;
  private readonly o: KubeFilesSourceOptions;
  private readonly log: Logger;
  private readonly batcher: Batcher;
  private readonly statusTracker: PodStatusTracker;
  private readonly fragments = new WeakMap<RecordPosition, FilePosition[]>();
  private readonly partials = new Map<string, Partial>();
  private readonly waiting = new Map<string, Waiting>();
  private waitingLines = 0;
  private readonly targets = new LRUCache<string, { pod: Pod; target: Target }>({ max: 20_000 });
  /** Pods deleted a moment ago: their last lines still get their labels. */
  private readonly gone = new LRUCache<string, Pod>({ max: 5_000, ttl: 10 * 60_000 });
  private cutoffMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping = false;
  private readonly done: Promise<void>;
  readonly stats = { informer: 0, path: 0, dropped: 0, joined: 0 };

  constructor(shared: KubeShared, o: KubeFilesSourceOptions) {
    this.shared = shared;
    this.o = o;
    this.log = o.log ?? rootLog;
    const k = shared.opts;
    this.batcher = new Batcher(o.batchMaxRecords ?? k.batchMaxRecords, o.batchMaxWaitMs ?? k.batchMaxWaitMs);
    this.records$ = this.batcher.subject.asObservable();
    this.statusTracker = new PodStatusTracker({ maxAgeMs: k.lookbackSeconds * 1000 });
    const root = o.root.replace(/\/+$/, '');
    const dirs = k.namespaces.length ? k.namespaces.map((ns) => `${ns}_*_*`) : ['*_*_*'];
    const exclude = ['**/*.gz', '**/*.tmp'];
    if (k.excludeSelf && k.selfPodName) exclude.push(`${root}/*_${k.selfPodName}_*/**`);
    this.files = new FileSource({
      include: dirs.map((d) => `${root}/${d}/*/*.log*`),
      exclude,
      // Old lines are dropped by time (lookback), not by position: a file's lines carry their own timestamps.
      readFrom: 'start',
      maxOpenFiles: o.maxOpenFiles,
      fingerprintBytes: 1024,
      // The CRI prefix (timestamp, stream, tag) comes on top of the message.
      maxLineBytes: o.maxLineBytes + 64,
      pollIntervalMs: o.pollIntervalMs,
      scanIntervalMs: o.scanIntervalMs,
      closeIdleMs: o.closeIdleMs,
      rotateWaitMs: o.rotateWaitMs,
      positionsFlushMs: o.positionsFlushMs,
      // Lines are dated by their CRI timestamps (a re-read after a crash dates them alike): no anchors.
      anchors: false,
      // Counted once, as pod lines (fromFiles), not also as the raw file lines they were made of.
      countLines: false,
      scope: `pods-${k.nodeName ?? 'node'}`,
      multiline: { mode: 'none', maxLines: 1, maxBytes: o.maxLineBytes + 64, timeoutMs: 1000 },
      target: { cluster: k.cluster, namespace: 'default' },
      store: k.stateStore,
      log: this.log,
      ...(k.pressure ? { pressure: k.pressure } : {}),
      watch: o.watch,
      batchMaxRecords: o.batchMaxRecords ?? k.batchMaxRecords,
      batchMaxWaitMs: o.batchMaxWaitMs ?? k.batchMaxWaitMs,
    });
    this.done = new Promise<void>((resolve) => {
      this.files.records$.subscribe({ next: (b) => this.fromFiles(b), complete: () => resolve(), error: () => resolve() });
    });
    shared.informer.subscribe({
      upsert: (pod) => this.upsert(pod),
      remove: (pod) => this.remove(pod),
      synced: () => this.drainWaiting(),
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const k = this.shared.opts;
    // First start on this node: lines older than the lookback are history (as the API source's first sight).
    const marker = stateKey('kube-files', `pods-${k.nodeName ?? 'node'}`, 'started');
    const seen = await k.stateStore.get(marker).catch(() => null);
    if (!seen) {
      this.cutoffMs = Date.now() - k.lookbackSeconds * 1000;
      await k.stateStore.put(marker, new TextEncoder().encode(String(Date.now()))).catch(() => undefined);
    }
    this.shared.acquire();
    this.timer = setInterval(() => this.drainWaiting(), 200);
    this.timer.unref?.();
    await this.files.start();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    await this.files.stop();
    await this.done;
    // Lines of known pods still waiting for their instance's status go out with what is known. Unfinished
    // fragments and lines of pods the informer never showed are not acknowledged: the next start reads
    // them again from the stored position, with their labels then.
    for (const [inst, w] of [...this.waiting]) if (this.podOf(w.uid)) this.drain(inst, w);
    this.partials.clear();
    this.waiting.clear();
    this.batcher.complete();
    await this.shared.release();
  }

  /** Positions acknowledged after stop() (the sinks' last deliveries) are written before the store closes. */
  flushState(): Promise<void> {
    return this.files.flushState();
  }

  private acknowledged(records: readonly LogRecord[]): void {
    const out: FilePosition[] = [];
    for (const r of records) {
      // The file positions a line was made of (unknown for a line read back from a spool after a restart).
      const frags = r.position && this.fragments.get(r.position);
      if (frags) for (const p of frags) out.push(p);
    }
    this.ackNow(out);
  }

  unready(): string | null {
    const api = this.shared.apiProblem();
    if (api) return api;
    if (!this.shared.informer.synced) {
      const e = this.shared.informer.lastError;
      return e?.forbidden ? `kube pods: ${e.message}` : 'kube pods: waiting for the first list';
    }
    return this.files.unready();
  }

  // ---------------------------------------------------------------- pods

  private upsert(pod: Pod): void {
    if (this.stopping) return;
    const o = this.shared.opts;
    if (o.podStatus && ownsPod(pod, o)) {
      const recs = this.statusTracker.update(pod, podTarget(pod, o.cluster));
      if (recs.length) {
        metrics.linesIn.inc({ source: 'pod_status' }, recs.length);
        this.batcher.push(recs);
      }
    }
    const uid = pod.metadata.uid;
    if (!uid || this.waiting.size === 0) return;
    for (const [inst, w] of [...this.waiting]) if (w.uid === uid && this.ready(pod, w.lines[0]!.info)) this.drain(inst, w);
  }

  private remove(pod: Pod): void {
    const o = this.shared.opts;
    const uid = pod.metadata.uid;
    if (uid) this.gone.set(uid, pod);
    if (!o.podStatus || this.stopping) return;
    const ended = this.statusTracker.forget(pod, podTarget(pod, o.cluster));
    if (ended.length) {
      metrics.linesIn.inc({ source: 'pod_status' }, ended.length);
      this.batcher.push(ended);
    }
  }

  private podOf(uid: string): Pod | undefined {
    return this.shared.informer.get(uid) ?? this.gone.get(uid);
  }

  /** The API source's Target for this container instance: podTarget + container + its container ID. */
  private targetOf(pod: Pod, info: PodLogPath): Target {
    const cached = this.targets.get(info.instance);
    if (cached && cached.pod === pod) return cached.target;
    const target: Target = { ...podTarget(pod, this.shared.opts.cluster), container: info.container, containerId: containerIdFor(pod, info) };
    this.targets.set(info.instance, { pod, target });
    return target;
  }

  /** Labels from the path alone, for a pod the informer never knew. */
  private pathTarget(info: PodLogPath): Target {
    const key = `path:${info.instance}`;
    const cached = this.targets.get(key);
    if (cached) return cached.target;
    const t: Target = { cluster: this.shared.opts.cluster, namespace: info.namespace, pod: info.pod, container: info.container };
    if (this.shared.opts.nodeName) t.node = this.shared.opts.nodeName;
    this.targets.set(key, { pod: {} as Pod, target: t });
    return t;
  }

  // ---------------------------------------------------------------- lines

  private fromFiles(batch: LogRecord[]): void {
    const dropped: FilePosition[] = [];
    for (const r of batch) {
      const pos = r.position as FilePosition | undefined;
      const info = r.target.file ? parsePodLogPath(this.o.root, r.target.file) : null;
      if (!pos || !info) {
        if (pos) dropped.push(pos);
        this.drop('not_pod_log', 0);
        continue;
      }
      const cri = parseCri(r.line);
      if (!cri) {
        // The kubelet skips a line it cannot parse (it logs "Failed when parsing line in log file"): so does this.
        dropped.push(pos);
        this.drop('not_cri', 0);
        this.log.debug({ file: r.target.file }, 'not a CRI log line: skipped');
        continue;
      }
      const key = `${info.instance}\u0000${cri.stream}`;
      const p = this.partials.get(key);
      const invalidUtf8 = r.malformed === 'invalid_utf8';
      if (cri.partial && r.malformed !== 'truncated') {
        if (p) this.append(p, cri.message, pos, invalidUtf8);
        else {
          if (this.partials.size >= MAX_PARTIALS) this.flushPartial(this.partials.keys().next().value!);
          this.partials.set(key, { info, parts: [cri.message], bytes: Buffer.byteLength(cri.message), ts: cri.ts, positions: [pos], truncated: false, invalidUtf8 });
          this.capPartial(this.partials.get(key)!);
        }
        continue;
      }
      let line: Line;
      if (p) {
        this.partials.delete(key);
        this.append(p, cri.message, pos, invalidUtf8);
        this.stats.joined++;
        line = { info, ts: p.ts, stream: cri.stream, message: p.parts.join(''), positions: p.positions };
        if (p.truncated || r.malformed === 'truncated') line.malformed = 'truncated';
        else if (p.invalidUtf8) line.malformed = 'invalid_utf8';
      } else {
        line = { info, ts: cri.ts, stream: cri.stream, message: cri.message, positions: [pos] };
        if (r.malformed) line.malformed = r.malformed;
      }
      this.route(line, dropped);
    }
    this.ackNow(dropped);
  }

  private append(p: Partial, msg: string, pos: FilePosition, invalidUtf8: boolean): void {
    p.positions.push(pos);
    if (invalidUtf8) p.invalidUtf8 = true;
    if (p.truncated) return;
    p.parts.push(msg);
    p.bytes += Buffer.byteLength(msg);
    this.capPartial(p);
  }

  /** A reassembled line is cut at maxLineBytes like any other: the head stays, marked truncated. */
  private capPartial(p: Partial): void {
    if (p.bytes <= this.o.maxLineBytes) return;
    const whole = Buffer.from(p.parts.join(''));
    p.parts = [whole.subarray(0, this.o.maxLineBytes).toString('utf8').replace(/\uFFFD$/, '')];
    p.bytes = this.o.maxLineBytes;
    p.truncated = true;
    metrics.malformed.inc({ reason: 'truncated' });
  }

  private flushPartial(key: string): void {
    const p = this.partials.get(key);
    if (!p) return;
    this.partials.delete(key);
    const line: Line = { info: p.info, ts: p.ts, stream: key.slice(key.indexOf('\u0000') + 1) as OutputStream, message: p.parts.join(''), positions: p.positions };
    if (p.truncated) line.malformed = 'truncated';
    else if (p.invalidUtf8) line.malformed = 'invalid_utf8';
    const dropped: FilePosition[] = [];
    this.route(line, dropped);
    this.ackNow(dropped);
  }

  private route(line: Line, dropped: FilePosition[]): void {
    const cutoff = Math.max(this.cutoffMs, Date.now() - this.shared.opts.maxResumeAgeSeconds * 1000);
    if (line.ts.ms < cutoff) {
      dropped.push(...line.positions);
      this.drop('too_old', 1);
      return;
    }
    const inst = line.info.instance;
    const queued = this.waiting.get(inst);
    if (queued) {
      queued.lines.push(line);
      this.waitingLines++;
      if (this.waitingLines > MAX_WAITING) this.drain(this.waiting.keys().next().value!, this.waiting.values().next().value!, true);
      return;
    }
    const pod = this.podOf(line.info.uid);
    if (pod && !ownsPod(pod, this.shared.opts)) {
      dropped.push(...line.positions);
      this.drop('not_owned', 1);
      return;
    }
    if (pod && this.ready(pod, line.info)) {
      this.emit([line], (l) => this.targetOf(pod, l.info), 'informer');
      return;
    }
    this.waiting.set(inst, { since: Date.now(), uid: line.info.uid, lines: [line] });
    this.waitingLines++;
  }

  /**
   * The informer knows the pod and the container instance the file is of: the runtime creates the new
   * `<n>.log` of a restart before the kubelet's status says restartCount n, and until then the instance's
   * container ID is unknown. A deleted pod gets no further updates: ready as it is.
   */
  private ready(pod: Pod, info: PodLogPath): boolean {
    if (!this.shared.informer.get(info.uid)) return true;
    const s = statuses(pod).find((x) => x.name === info.container);
    return !!s && (s.restartCount ?? 0) >= info.restart;
  }

  /**
   * Lines waiting for their pod (or for its status to name their instance): emitted once the informer
   * knows, else after podWait — with the pod's labels when it is known, with labels from the path when not.
   */
  private drainWaiting(): void {
    if (this.waiting.size === 0) return;
    const now = Date.now();
    const synced = this.shared.informer.synced;
    for (const [inst, w] of [...this.waiting]) {
      const pod = this.podOf(w.uid);
      if (pod && this.ready(pod, w.lines[0]!.info)) this.drain(inst, w);
      else if (now - w.since >= (synced ? this.o.podWaitMs : Math.max(this.o.podWaitMs, UNSYNCED_WAIT_MS))) this.drain(inst, w, true);
    }
  }

  private drain(inst: string, w: Waiting, timedOut = false): void {
    this.waiting.delete(inst);
    this.waitingLines -= w.lines.length;
    const pod = this.podOf(w.uid);
    const o = this.shared.opts;
    if (pod) {
      if (!ownsPod(pod, o)) {
        this.ackNow(w.lines.flatMap((l) => l.positions));
        this.drop('not_owned', w.lines.length);
        return;
      }
      this.emit(w.lines, (l) => this.targetOf(pod, l.info), 'informer');
      return;
    }
    if (!timedOut) return;
    // The informer does not know the pod: a label selector excludes it, or it is gone for good.
    if (o.labelSelector) {
      this.ackNow(w.lines.flatMap((l) => l.positions));
      this.drop('not_selected', w.lines.length);
      return;
    }
    this.log.info({ namespace: w.lines[0]?.info.namespace, pod: w.lines[0]?.info.pod, lines: w.lines.length }, 'pod log file of a pod the informer does not know: labelled from its path');
    this.emit(w.lines, (l) => this.pathTarget(l.info), 'path');
  }

  private emit(lines: Line[], targetOf: (l: Line) => Target, via: 'informer' | 'path'): void {
    const out: LogRecord[] = [];
    let bytes = 0;
    for (const l of lines) {
      const last = l.positions[l.positions.length - 1]!;
      const position: FilePosition = { key: last.key, ts: l.ts.raw, end: last.end };
      this.fragments.set(position, l.positions);
      const rec: LogRecord = { ts: l.ts.raw, tsMs: l.ts.ms, line: l.message, stream: l.stream, kind: 'pod', target: targetOf(l), level: 'unknown', position, ack: this.acks };
      if (l.malformed) rec.malformed = l.malformed;
      bytes += l.message.length;
      out.push(rec);
    }
    if (out.length === 0) return;
    this.stats[via] += out.length;
    metrics.kubeFilesLines.inc({ labels: via }, out.length);
    metrics.linesIn.inc({ source: 'pod' }, out.length);
    metrics.bytesIn.inc({ source: 'pod' }, bytes);
    this.batcher.push(out);
  }

  private drop(reason: string, n: number): void {
    this.stats.dropped += n || 1;
    metrics.kubeFilesDropped.inc({ reason }, n || 1);
  }

  private ackNow(positions: FilePosition[]): void {
    if (positions.length) this.files.acknowledgePositions(positions);
  }
}
