import { hostname } from 'node:os';
import type { StateStore } from '../../state/store.ts';
import type { Pressure } from '../../delivery/pressure.ts';
import { MemoryStore } from '../../state/memory-store.ts';
import { replicaIndexFromHostname } from '../shard.ts';
import type { KubeApi } from './api.ts';

/** How the pods of the cluster are divided between detector replicas. */
export type KubeMode = 'cluster' | 'node-local' | 'sharded';

/**
 * Options of the Kubernetes sources. Every field is optional; defaults in brackets.
 */
export interface KubeSourceOptions {
  /** Kubeconfig file [$KUBECONFIG, ~/.kube/config, then in-cluster]. */
  kubeconfigPath?: string;
  /** Use the pod's ServiceAccount (in-cluster config) [false: auto-detected by the default loader]. */
  inCluster?: boolean;
  /** Kubeconfig context [current-context]. */
  context?: string;
  /** Cluster name put on every record's target ["default"]. */
  cluster?: string;
  /** Namespaces to read; empty or unset = all namespaces (cluster-scoped list/watch RBAC) [all]. */
  namespaces?: string[];
  /** Label selector for the pods watch [none]. */
  labelSelector?: string;
  /** Field selector for the pods watch [none]. */
  fieldSelector?: string;
  /**
   * cluster: one replica reads everything; node-local: only pods with spec.nodeName = nodeName (DaemonSet);
   * sharded: replica shardIndex of shardCount owns the workloads whose stableShard(workload) = shardIndex.
   * ["cluster"]
   */
  mode?: KubeMode;
  /** node-local mode: this node [$NODE_NAME]. */
  nodeName?: string;
  /** sharded mode: this replica [ordinal of $HOSTNAME, e.g. rsd-2 → 2]. */
  shardIndex?: number;
  /** sharded mode: number of replicas [$SHARD_COUNT]. */
  shardCount?: number;
  /** Skip the detector's own pods: label app.kubernetes.io/name=robot-sre-detector and selfPodName [true]. */
  excludeSelf?: boolean;
  /** Own pod name for excludeSelf [$POD_NAME, else the hostname]. */
  selfPodName?: string;
  /** Cap on containers followed at once; the excess waits and is counted in rsd_skipped_containers [2000]. */
  maxContainers?: number;
  /** Cap on concurrent log streams per node (per kubelet) [100]. */
  maxStreamsPerNode?: number;
  /** New log connections per second, all nodes together [50]. */
  connectsPerSecond?: number;
  /**
   * First sight of a container: read from max(container start, now − lookback). Keep it well under Loki's
   * 1 h out-of-order window and 1 week reject_old_samples_max_age [600].
   */
  lookbackSeconds?: number;
  /** A stored cursor older than this resumes at now − this instead: Loki would reject older lines [3000]. */
  maxResumeAgeSeconds?: number;
  /**
   * Silence after which a follow stream of a running container is reconnected from its cursor (the stream
   * may have stalled after a log rotation, Kubernetes < 1.29). Quiet containers get a longer grace: 4× their
   * usual gap, at most 1 h [60000].
   */
  stallTimeoutMs?: number;
  /** How long a terminated container's stream may stay silent before it is closed [5000]. */
  drainIdleMs?: number;
  /** Acknowledged cursors are written to the store at this period [10000]. */
  cursorFlushMs?: number;
  /** Out-of-order tolerance of cursors (containerd interleaves stdout/stderr) [2000]. */
  reorderWindowMs?: number;
  /** Lines longer than this are cut and marked malformed "truncated" [262144]. */
  maxLineBytes?: number;
  /** Records per emitted batch / wait before a partial batch is emitted [500 / 50]. */
  batchMaxRecords?: number;
  batchMaxWaitMs?: number;
  /** Emit pod_status records (waiting reasons, terminations, OOMKilled) [true]. */
  podStatus?: boolean;
  events?: {
    /** Watch core/v1 Events [true]. */
    enabled?: boolean;
    /** Namespaces for events [same as namespaces]. */
    namespaces?: string[];
  };
  /** Where cursors live [MemoryStore]. Use JetStream KV when NATS is configured, else a FileStore. */
  stateStore?: StateStore;
  /** Server-side watch lifetime in seconds (jittered ±20 %) [300]. */
  watchTimeoutSeconds?: number;
  /**
   * The log sink's queue fill (e.g. `lokiSink.pressure`). Log streams stop reading above 0.9 and resume
   * under 0.7, so a catch-up after an outage waits in the kubelet's files instead of in memory [none].
   */
  pressure?: Pressure;
  /** Prebuilt API client (tests, shared connection pool). */
  api?: KubeApi;
}

export const SELF_LABEL = 'app.kubernetes.io/name';
export const SELF_LABEL_VALUE = 'robot-sre-detector';

export interface ResolvedKubeOptions {
  kubeconfigPath: string | undefined;
  inCluster: boolean;
  context: string | undefined;
  cluster: string;
  namespaces: string[];
  labelSelector: string | undefined;
  fieldSelector: string | undefined;
  mode: KubeMode;
  nodeName: string | undefined;
  shardIndex: number;
  shardCount: number;
  excludeSelf: boolean;
  selfPodName: string | undefined;
  maxContainers: number;
  maxStreamsPerNode: number;
  connectsPerSecond: number;
  lookbackSeconds: number;
  maxResumeAgeSeconds: number;
  stallTimeoutMs: number;
  drainIdleMs: number;
  cursorFlushMs: number;
  reorderWindowMs: number;
  maxLineBytes: number;
  batchMaxRecords: number;
  batchMaxWaitMs: number;
  podStatus: boolean;
  eventsEnabled: boolean;
  eventNamespaces: string[];
  stateStore: StateStore;
  watchTimeoutSeconds: number;
  pressure: Pressure | undefined;
}

/** Defaults the config schema (component.ts) shows as well: each written here only. */
export const KUBE_DEFAULTS = { maxContainers: 2000, maxStreamsPerNode: 100, lookbackSeconds: 600 } as const;

function positive(name: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`kube source: ${name} must be a positive number, got ${v}`);
  return n;
}

export function resolveKubeOptions(o: KubeSourceOptions, env: NodeJS.ProcessEnv = process.env): ResolvedKubeOptions {
  const mode = o.mode ?? 'cluster';
  const namespaces = (o.namespaces ?? []).filter(Boolean);
  const nodeName = o.nodeName ?? env.NODE_NAME;
  if (mode === 'node-local' && !nodeName) throw new Error('kube source: mode node-local needs nodeName (or $NODE_NAME from the downward API)');
  let shardIndex = 0;
  let shardCount = 1;
  if (mode === 'sharded') {
    shardCount = o.shardCount ?? (env.SHARD_COUNT ? Number(env.SHARD_COUNT) : NaN);
    const idx = o.shardIndex ?? replicaIndexFromHostname(env.HOSTNAME ?? hostname());
    if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error('kube source: mode sharded needs shardCount (or $SHARD_COUNT) ≥ 1');
    if (idx === null || !Number.isInteger(idx) || idx < 0 || idx >= shardCount) {
      throw new Error(`kube source: mode sharded needs shardIndex in [0, ${shardCount}) (or a StatefulSet hostname ending in -<ordinal>), got ${idx}`);
    }
    shardIndex = idx;
  }
  const lookbackSeconds = positive('lookbackSeconds', o.lookbackSeconds, KUBE_DEFAULTS.lookbackSeconds);
  if (lookbackSeconds > 3300) throw new RangeError('kube source: lookbackSeconds must stay under Loki\'s 1 h out-of-order window (≤ 3300)');
  return {
    kubeconfigPath: o.kubeconfigPath,
    inCluster: o.inCluster ?? false,
    context: o.context,
    cluster: o.cluster ?? 'default',
    namespaces,
    labelSelector: o.labelSelector || undefined,
    fieldSelector: o.fieldSelector || undefined,
    mode,
    nodeName,
    shardIndex,
    shardCount,
    excludeSelf: o.excludeSelf ?? true,
    selfPodName: o.selfPodName ?? env.POD_NAME ?? env.HOSTNAME ?? hostname(),
    maxContainers: positive('maxContainers', o.maxContainers, KUBE_DEFAULTS.maxContainers),
    maxStreamsPerNode: positive('maxStreamsPerNode', o.maxStreamsPerNode, KUBE_DEFAULTS.maxStreamsPerNode),
    connectsPerSecond: positive('connectsPerSecond', o.connectsPerSecond, 50),
    lookbackSeconds,
    maxResumeAgeSeconds: positive('maxResumeAgeSeconds', o.maxResumeAgeSeconds, 3000),
    stallTimeoutMs: positive('stallTimeoutMs', o.stallTimeoutMs, 60_000),
    drainIdleMs: positive('drainIdleMs', o.drainIdleMs, 5000),
    cursorFlushMs: positive('cursorFlushMs', o.cursorFlushMs, 10_000),
    reorderWindowMs: positive('reorderWindowMs', o.reorderWindowMs, 2000),
    maxLineBytes: positive('maxLineBytes', o.maxLineBytes, 256 * 1024),
    batchMaxRecords: positive('batchMaxRecords', o.batchMaxRecords, 500),
    batchMaxWaitMs: positive('batchMaxWaitMs', o.batchMaxWaitMs, 50),
    podStatus: o.podStatus ?? true,
    eventsEnabled: o.events?.enabled ?? true,
    eventNamespaces: (o.events?.namespaces ?? namespaces).filter(Boolean),
    stateStore: o.stateStore ?? new MemoryStore(),
    watchTimeoutSeconds: positive('watchTimeoutSeconds', o.watchTimeoutSeconds, 300),
    pressure: o.pressure,
  };
}
