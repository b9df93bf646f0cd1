import { LRUCache } from 'lru-cache';
import type { Observable } from 'rxjs';
import { log } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import type { LogRecord, RecordPosition } from '../../model/log-record.ts';
import { stateKey } from '../../state/store.ts';
import { SourceAcks } from '../../delivery/acks.ts';
import { stableShard, workloadKey } from '../shard.ts';
import type { Source } from '../types.ts';
import type { KubeApiError } from './api.ts';
import { Batcher } from './batcher.ts';
import { eventRecord, lastSeen, occurrences } from './event-record.ts';
import type { CoreEvent } from './k8s-types.ts';
import { ownsPod } from './ownership.ts';
import { Reflector } from './reflector.ts';
import type { KubeShared } from './shared.ts';
import { parseTs } from './timestamp.ts';
import { resolveWorkload } from './workload.ts';

/** Persisted progress: newest acknowledged occurrence time, and the counts of events acknowledged just before it. */
interface EventsState {
  v: 1;
  hwmMs: number;
  recent: Record<string, [count: number, lastMs: number]>;
}

const RECENT_WINDOW_MS = 5 * 60_000;
const RECENT_MAX = 2000;

/**
 * The events source: core/v1 Events, list + watch with bookmarks per namespace (or all), 410 → re-list.
 * Each event uid is remembered with the occurrences already emitted, so a re-list emits nothing twice and a
 * recurrence (count 1 → 7) becomes one record with count 6. Progress acknowledged by the sink is persisted,
 * so a restarted detector does not re-emit the last hour of events. Events expire after the API server's
 * --event-ttl (1 h by default): an outage longer than that loses them.
 */
export class KubeEventsSource implements Source {
  readonly name = 'kube-events';
  readonly records$: Observable<LogRecord[]>;
  /** On every event record: delivered occurrences become the persisted progress. */
  readonly acks = new SourceAcks(this.name, (records) => this.acknowledged(records));
  private readonly shared: KubeShared;
  private readonly batcher: Batcher;
  private readonly reflectors: Reflector<CoreEvent>[];
  private readonly emitted = new LRUCache<string, number>({ max: 100_000, ttl: 3 * 3_600_000 });
  private readonly totals = new WeakMap<RecordPosition, number>();
  private state: EventsState = { v: 1, hwmMs: 0, recent: {} };
  /** What was acknowledged before this process started (the state as loaded). */
  private restored: EventsState = { v: 1, hwmMs: 0, recent: {} };
  private loaded = false;
  private dirty = false;
  private forbidden = false;
  private timer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActivityMs = Date.now();
  private started = false;
  private readonly stateKey: string;

  constructor(shared: KubeShared) {
    this.shared = shared;
    const o = shared.opts;
    this.batcher = new Batcher(o.batchMaxRecords, o.batchMaxWaitMs);
    this.records$ = this.batcher.subject.asObservable();
    this.stateKey = stateKey('cursor', 'events', o.cluster, o.mode === 'cluster' ? 'all' : `${o.mode}-${o.nodeName ?? o.shardIndex}`);
    const nss = o.eventNamespaces.length ? o.eventNamespaces : [undefined];
    this.reflectors = nss.map(
      (ns) =>
        new Reflector<CoreEvent>({
          api: shared.api,
          resource: 'events',
          ...(ns ? { namespace: ns } : {}),
          watchTimeoutSeconds: o.watchTimeoutSeconds,
          handlers: {
            replace: (items) => {
              this.forbidden = false;
              for (const ev of items) this.process(ev);
            },
            change: (type, ev) => {
              if (type === 'DELETED') this.emitted.delete(ev.metadata.uid ?? '');
              else this.process(ev);
            },
            activity: () => {
              this.lastActivityMs = Date.now();
            },
            error: (e: KubeApiError) => {
              if (e.forbidden) this.forbidden = true;
              shared.reportError(e);
            },
            recovered: () => shared.recovered('events'),
          },
        }),
    );
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (!this.shared.opts.eventsEnabled) {
      log.info('kube events source disabled (events.enabled: false)');
      this.batcher.complete();
      return;
    }
    this.started = true;
    try {
      const bytes = await this.shared.opts.stateStore.get(this.stateKey);
      if (bytes) {
        const s = JSON.parse(Buffer.from(bytes).toString('utf8')) as EventsState;
        if (s?.v === 1 && typeof s.hwmMs === 'number' && s.recent && typeof s.recent === 'object') {
          this.state = s;
          this.restored = structuredClone(s);
        }
      }
    } catch (err) {
      log.warn({ err }, 'events state load failed: events of the last lookback window may be emitted again');
    }
    this.loaded = true;
    this.shared.acquire();
    for (const r of this.reflectors) r.start();
    this.timer = setInterval(() => void this.persist(), this.shared.opts.cursorFlushMs);
    this.timer.unref?.();
    this.idleTimer = setInterval(() => metrics.secondsSinceEvent.set((Date.now() - this.lastActivityMs) / 1000), 1000);
    this.idleTimer.unref?.();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.timer);
    clearInterval(this.idleTimer);
    await Promise.all(this.reflectors.map((r) => r.stop()));
    this.batcher.complete();
    await this.persist();
    await this.shared.release();
  }

  flushState(): Promise<void> {
    return this.persist();
  }

  private acknowledged(records: readonly LogRecord[]): void {
    for (const r of records) {
      if (!r.event || !r.position) continue;
      const total = this.totals.get(r.position) ?? this.emitted.get(r.event.uid) ?? r.event.count;
      if (r.tsMs > this.state.hwmMs) this.state.hwmMs = r.tsMs;
      const prev = this.state.recent[r.event.uid];
      if (!prev || prev[0] < total) this.state.recent[r.event.uid] = [total, r.tsMs];
      this.dirty = true;
    }
  }

  unready(): string | null {
    if (!this.started) return null;
    const api = this.shared.apiProblem();
    if (api) return api;
    if (!this.forbidden && !this.reflectors.every((r) => r.synced)) return 'kube events: waiting for the first list';
    return null;
  }

  /** Seconds since the last event or bookmark on the watch. */
  idleSeconds(): number {
    return (Date.now() - this.lastActivityMs) / 1000;
  }

  private known(ev: CoreEvent, uid: string, total: number, lastMs: number): number {
    const mem = this.emitted.get(uid);
    if (mem !== undefined) return mem;
    // Before the restart: `recent` holds every event acknowledged in the window before the high-water mark,
    // so inside the window an event not in it was never delivered; before the window, everything was.
    const rec = this.restored.recent[uid];
    if (rec) return rec[0];
    if (this.restored.hwmMs > 0 && lastMs < this.restored.hwmMs - RECENT_WINDOW_MS) return total;
    // First sight: history beyond the lookback window is not news.
    if (lastMs < Date.now() - this.shared.opts.lookbackSeconds * 1000) return total;
    return 0;
  }

  private process(ev: CoreEvent): void {
    if (!this.loaded) return;
    const uid = ev.metadata.uid;
    if (!uid) return;
    const total = occurrences(ev);
    const tsMs = parseTs(lastSeen(ev))?.ms ?? Date.now();
    const prev = this.known(ev, uid, total, tsMs);
    this.emitted.set(uid, Math.max(prev, total));
    if (prev >= total) return;
    const o = this.shared.opts;
    const pod = ev.involvedObject.kind === 'Pod' && ev.involvedObject.name ? this.shared.informer.byNamespacedName(ev.involvedObject.namespace ?? ev.metadata.namespace ?? '', ev.involvedObject.name) : undefined;
    if (!this.owns(ev, pod)) return;
    const rec = eventRecord(ev, total - prev, o.cluster, pod, this.acks);
    if (rec.position) this.totals.set(rec.position, total);
    metrics.linesIn.inc({ source: 'event' });
    metrics.bytesIn.inc({ source: 'event' }, rec.line.length);
    this.batcher.push([rec]);
  }

  /** Which replica emits an event: the one that owns its pod / workload / node, so replicas never double-ship. */
  private owns(ev: CoreEvent, pod: ReturnType<KubeShared['informer']['get']>): boolean {
    const o = this.shared.opts;
    if (o.mode === 'cluster') return true;
    if (pod) return ownsPod(pod, o);
    const io = ev.involvedObject;
    if (o.mode === 'node-local') return (io.kind === 'Node' && io.name === o.nodeName) || ev.source?.host === o.nodeName;
    const ns = io.namespace ?? ev.metadata.namespace ?? '';
    if (!ns) return o.shardIndex === 0;
    if (io.kind === 'Pod') {
      // Pod not (or no longer) in the informer: every replica computes the same fallback key.
      return stableShard(workloadKey(ns, 'Pod', io.name ?? ''), o.shardCount) === o.shardIndex;
    }
    const w = io.kind === 'ReplicaSet' || io.kind === 'Job' ? resolveWorkload({ metadata: { name: '', ownerReferences: [{ kind: io.kind, name: io.name ?? '', controller: true }] } }) : { kind: io.kind ?? '', name: io.name ?? '' };
    return stableShard(workloadKey(ns, w.kind, w.name), o.shardCount) === o.shardIndex;
  }

  private async persist(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const cutoff = this.state.hwmMs - RECENT_WINDOW_MS;
    const entries = Object.entries(this.state.recent)
      .filter(([, [, ms]]) => ms >= cutoff)
      .sort((a, b) => b[1][1] - a[1][1])
      .slice(0, RECENT_MAX);
    this.state.recent = Object.fromEntries(entries);
    try {
      await this.shared.opts.stateStore.put(this.stateKey, Buffer.from(JSON.stringify(this.state)));
    } catch (err) {
      this.dirty = true;
      log.warn({ err }, 'events state persist failed: will retry');
    }
  }
}
