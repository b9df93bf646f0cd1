import { LRUCache } from 'lru-cache';
import type { Observable } from 'rxjs';
import { log } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import { SourceAcks } from '../../delivery/acks.ts';
import type { LogRecord, RecordPosition, Target } from '../../model/log-record.ts';
import type { Source } from '../types.ts';
import { Batcher } from './batcher.ts';
import { ContainerFollower, type FollowSpec, type InstancePhase } from './container-follower.ts';
import { lineHash, type CursorLimits } from './cursor.ts';
import { CursorStore } from './cursor-store.ts';
import type { ContainerStatus, Pod } from './k8s-types.ts';
import { ownsPod } from './ownership.ts';
import { abnormalTermination, PodStatusTracker } from './pod-status.ts';
import type { KubeShared } from './shared.ts';
import { StreamLimiter } from './stream-limiter.ts';
import { parseTs } from './timestamp.ts';
import { podTarget } from './workload.ts';

interface InstanceRef {
  podUid: string;
  container: string;
}

function statuses(pod: Pod): ContainerStatus[] {
  const st = pod.status;
  return [...(st?.initContainerStatuses ?? []), ...(st?.containerStatuses ?? []), ...(st?.ephemeralContainerStatuses ?? [])];
}

/**
 * Which log the API serves for an instance. The kubelet's "current" log is the newest instance of the
 * container name even after it exited (a crash-looping container waiting to restart still shows its last
 * run), and `previous=true` is the one before — so an instance is "previous" only once a newer one exists.
 */
export function instancePhase(s: ContainerStatus, id: string): InstancePhase | null {
  const st = s.state ?? {};
  const lastId = s.lastState?.terminated?.containerID;
  if (st.running) {
    if (s.containerID === id) return 'running';
    return lastId === id ? 'previous' : null;
  }
  if (st.terminated) {
    if ((st.terminated.containerID ?? s.containerID) === id) return 'terminated';
    return lastId === id ? 'previous' : null;
  }
  if (lastId === id || s.containerID === id) return 'terminated';
  return null;
}

/**
 * The pods source: pod logs (kind "pod") of every container this replica owns, plus pod status records
 * (kind "pod_status"). Subscribe to records$ before start().
 */
export class KubePodsSource implements Source {
  readonly name = 'kube-pods';
  readonly records$: Observable<LogRecord[]>;
  /** On every pod log record (not on pod status records): delivered lines advance the container cursors. */
  readonly acks = new SourceAcks(this.name, (records) => this.acknowledged(records));
  private readonly shared: KubeShared;
  private readonly batcher: Batcher;
  private readonly cursors: CursorStore;
  private readonly limiter: StreamLimiter;
  private readonly statusTracker: PodStatusTracker;
  private readonly hashes = new WeakMap<RecordPosition, string>();
  private readonly followers = new Map<string, ContainerFollower>();
  /** Containers waiting for a place under maxContainers, in discovery order. */
  private readonly pending = new Map<string, FollowSpec>();
  private readonly instances = new Map<string, InstanceRef>();
  private readonly podInstances = new Map<string, Set<string>>();
  /** Instances whose log has been read to the end: never restarted by later pod updates. */
  private readonly done = new LRUCache<string, true>({ max: 50_000 });
  private readonly limits: CursorLimits;
  private started = false;
  private stopping = false;
  private gaugeTimer: NodeJS.Timeout | undefined;

  constructor(shared: KubeShared) {
    this.shared = shared;
    const o = shared.opts;
    this.batcher = new Batcher(o.batchMaxRecords, o.batchMaxWaitMs);
    this.records$ = this.batcher.subject.asObservable();
    this.limits = { windowMs: o.reorderWindowMs, maxSeen: 512 };
    this.cursors = new CursorStore(o.stateStore, this.limits, o.cursorFlushMs);
    this.limiter = new StreamLimiter(o.maxStreamsPerNode, o.connectsPerSecond);
    this.statusTracker = new PodStatusTracker({ maxAgeMs: o.lookbackSeconds * 1000 });
    shared.informer.subscribe({
      upsert: (pod) => this.reconcile(pod),
      remove: (pod) => void this.removePod(pod),
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.cursors.start();
    this.shared.acquire();
    // Waiting for a node slot changes without a pod event: refresh the gauges now and then.
    this.gaugeTimer = setInterval(() => this.updateGauges(), 5000);
    this.gaugeTimer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.gaugeTimer);
    await this.shared.release();
    this.pending.clear();
    await Promise.all([...this.followers.values()].map((f) => f.stop()));
    this.batcher.complete();
    await this.cursors.stop();
    this.updateGauges();
  }

  flushState(): Promise<void> {
    return this.cursors.flush();
  }

  private acknowledged(records: readonly LogRecord[]): void {
    for (const r of records) {
      const p = r.position;
      if (!p) continue;
      const t = parseTs(p.ts);
      if (!t) continue;
      this.cursors.ack(p.key, t.key, this.hashes.get(p) ?? lineHash(r.line), t.ms);
    }
  }

  unready(): string | null {
    const api = this.shared.apiProblem();
    if (api) return api;
    if (!this.shared.informer.synced) {
      const e = this.shared.informer.lastError;
      return e?.forbidden ? `kube pods: ${e.message}` : 'kube pods: waiting for the first list';
    }
    return null;
  }

  /** For tests and the bench. */
  stats(): { followers: number; pending: number; waitingForNode: number; pods: number; cursors: number } {
    return { followers: this.followers.size, pending: this.pending.size, waitingForNode: this.limiter.waiting, pods: this.shared.informer.size, cursors: this.cursors.size };
  }

  follower(containerId: string): ContainerFollower | undefined {
    return this.followers.get(containerId);
  }

  private phase(id: string): InstancePhase {
    const ref = this.instances.get(id);
    const pod = ref ? this.shared.informer.get(ref.podUid) : undefined;
    if (!ref || !pod || !ownsPod(pod, this.shared.opts)) return 'gone';
    const s = statuses(pod).find((x) => x.name === ref.container);
    return (s && instancePhase(s, id)) ?? 'gone';
  }

  private reconcile(pod: Pod): void {
    if (this.stopping) return;
    const uid = pod.metadata.uid;
    if (!uid) return;
    const o = this.shared.opts;
    if (!ownsPod(pod, o)) {
      void this.releasePod(uid, false);
      return;
    }
    const base = podTarget(pod, o.cluster);
    if (o.podStatus) {
      const recs = this.statusTracker.update(pod, base);
      if (recs.length) {
        metrics.linesIn.inc({ source: 'pod_status' }, recs.length);
        this.batcher.push(recs);
      }
    }
    const now = Date.now();
    const oldest = now - o.maxResumeAgeSeconds * 1000;
    for (const s of statuses(pod)) {
      const st = s.state ?? {};
      const ids = new Set<string>();
      if (s.containerID && (st.running || st.terminated)) ids.add(s.containerID);
      if (st.terminated?.containerID) ids.add(st.terminated.containerID);
      const last = s.lastState?.terminated;
      if (last?.containerID) ids.add(last.containerID);
      for (const id of ids) {
        const ph = instancePhase(s, id);
        if (!ph) continue;
        this.index(uid, id, s.name);
        const f = this.followers.get(id);
        if (f) {
          if (ph === 'previous') f.supersede();
          else if (ph === 'terminated') f.terminated();
          continue;
        }
        if (this.done.has(id) || this.pending.has(id)) continue;
        let startedAt: string | undefined;
        let finishedAt: string | undefined;
        if (ph === 'running') startedAt = st.running?.startedAt;
        else if (ph === 'terminated') {
          const t = st.terminated && (st.terminated.containerID ?? s.containerID) === id ? st.terminated : last;
          startedAt = t?.startedAt;
          finishedAt = t?.finishedAt;
        } else {
          // Reading a superseded instance is for crashes (the root cause lives in its last lines).
          if (!abnormalTermination(last)) continue;
          startedAt = last?.startedAt;
          finishedAt = last?.finishedAt;
        }
        const fin = finishedAt ? parseTs(finishedAt)?.ms : undefined;
        if (fin !== undefined && fin < oldest) {
          this.done.set(id, true);
          continue;
        }
        const target: Target = { ...base, container: s.name, containerId: id };
        const spec: FollowSpec = {
          containerId: id,
          namespace: pod.metadata.namespace ?? 'default',
          pod: pod.metadata.name ?? '',
          container: s.name,
          node: pod.spec?.nodeName ?? '',
          target,
          startedAtMs: (startedAt && parseTs(startedAt)?.ms) || null,
          mode: ph === 'previous' ? 'previous' : 'follow',
        };
        this.launch(spec);
      }
    }
    this.updateGauges();
  }

  private index(podUid: string, id: string, container: string): void {
    this.instances.set(id, { podUid, container });
    let set = this.podInstances.get(podUid);
    if (!set) this.podInstances.set(podUid, (set = new Set()));
    set.add(id);
  }

  private launch(spec: FollowSpec): void {
    if (this.followers.size >= this.shared.opts.maxContainers) {
      if (this.pending.size === 0) log.warn({ maxContainers: this.shared.opts.maxContainers }, 'maxContainers reached: further containers wait (rsd_skipped_containers)');
      this.pending.set(spec.containerId, spec);
      return;
    }
    const o = this.shared.opts;
    const f = new ContainerFollower(
      {
        api: this.shared.api,
        limiter: this.limiter,
        cursors: this.cursors,
        hashes: this.hashes,
        acks: this.acks,
        emit: (recs) => this.batcher.push(recs),
        phase: (id) => this.phase(id),
        forbidden: (e) => this.shared.forbidden(e),
        limits: this.limits,
        lookbackSeconds: o.lookbackSeconds,
        maxResumeAgeSeconds: o.maxResumeAgeSeconds,
        stallFloorMs: o.stallTimeoutMs,
        drainIdleMs: o.drainIdleMs,
        maxLineBytes: o.maxLineBytes,
        ...(o.pressure ? { pressure: o.pressure } : {}),
      },
      spec,
    );
    this.followers.set(spec.containerId, f);
    void f.start().then(() => this.finished(f));
  }

  private finished(f: ContainerFollower): void {
    const id = f.spec.containerId;
    if (this.followers.get(id) === f) this.followers.delete(id);
    if (this.stopping) return;
    if (this.phase(id) !== 'gone' || this.instances.has(id)) this.done.set(id, true);
    // Promote the oldest waiting container into the freed place.
    for (const [pid, spec] of this.pending) {
      this.pending.delete(pid);
      if (this.phase(pid) === 'gone' || this.done.has(pid)) continue;
      const ph = this.phase(pid);
      this.launch(ph === 'previous' && spec.mode === 'follow' ? { ...spec, mode: 'previous' } : spec);
      break;
    }
    this.updateGauges();
  }

  private async releasePod(uid: string, forget: boolean): Promise<void> {
    const ids = this.podInstances.get(uid);
    if (!ids) return;
    this.podInstances.delete(uid);
    await Promise.all(
      [...ids].map(async (id) => {
        this.pending.delete(id);
        const f = this.followers.get(id);
        this.followers.delete(id);
        await f?.stop();
        this.instances.delete(id);
        if (forget) this.done.delete(id);
        await this.cursors.release(id, forget);
      }),
    );
    this.updateGauges();
  }

  private async removePod(pod: Pod): Promise<void> {
    const ended = this.shared.opts.podStatus ? this.statusTracker.forget(pod, podTarget(pod, this.shared.opts.cluster)) : [];
    if (ended.length && !this.stopping) {
      metrics.linesIn.inc({ source: 'pod_status' }, ended.length);
      this.batcher.push(ended);
    }
    if (pod.metadata.uid) await this.releasePod(pod.metadata.uid, true);
  }

  private updateGauges(): void {
    metrics.followedContainers.set(this.followers.size);
    metrics.skippedContainers.set(this.pending.size + this.limiter.waiting);
  }
}
