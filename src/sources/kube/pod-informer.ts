import type { KubeApiError, KubeApi } from './api.ts';
import type { ContainerStatus, Pod } from './k8s-types.ts';
import { Reflector } from './reflector.ts';

/**
 * One pods watch per namespace (or one for all), shared by every consumer: the log followers, the pod
 * status records and the events source (which looks up an event's pod to find its workload). Pods are
 * slimmed to the fields we read, so thousands of pods cost little memory.
 */
export interface PodListener {
  upsert(pod: Pod, old: Pod | undefined): void;
  remove(pod: Pod): void;
  /** After every (re-)list: called once the store has been replaced. */
  synced?(): void;
}

export function slimPod(p: Pod): Pod {
  const m = p.metadata;
  // Runtimes that report no container ID (kwok's simulated pods) still get a stable per-instance key.
  const id = (s: ContainerStatus): string | undefined =>
    s.containerID || (s.state?.running || s.state?.terminated ? `pod://${m.uid}/${s.name}/${s.restartCount ?? 0}` : undefined);
  const slimStatus = (list: ContainerStatus[] | undefined): ContainerStatus[] | undefined =>
    list?.map((s) => ({ name: s.name, containerID: id(s), restartCount: s.restartCount, state: s.state, lastState: s.lastState }));
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      deletionTimestamp: m.deletionTimestamp,
      labels: m.labels,
      ownerReferences: m.ownerReferences?.map((r) => ({ kind: r.kind, name: r.name, controller: r.controller })),
    },
    spec: { nodeName: p.spec?.nodeName, restartPolicy: p.spec?.restartPolicy },
    status: {
      phase: p.status?.phase,
      containerStatuses: slimStatus(p.status?.containerStatuses),
      initContainerStatuses: slimStatus(p.status?.initContainerStatuses),
      ephemeralContainerStatuses: slimStatus(p.status?.ephemeralContainerStatuses),
    },
  };
}

export interface PodInformerOptions {
  api: KubeApi;
  namespaces: string[];
  labelSelector?: string;
  fieldSelector?: string;
  watchTimeoutSeconds: number;
  onError(err: KubeApiError): void;
  onRecovered(): void;
}

export class PodInformer {
  private readonly byUid = new Map<string, Pod>();
  private readonly byName = new Map<string, string>();
  private readonly listeners: PodListener[] = [];
  private readonly reflectors: Reflector<Pod>[];
  private started = false;

  constructor(opts: PodInformerOptions) {
    const nss = opts.namespaces.length ? opts.namespaces : [undefined];
    this.reflectors = nss.map(
      (ns) =>
        new Reflector<Pod>({
          api: opts.api,
          resource: 'pods',
          ...(ns ? { namespace: ns } : {}),
          ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
          ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
          watchTimeoutSeconds: opts.watchTimeoutSeconds,
          transform: slimPod,
          handlers: {
            replace: (items) => this.replace(items, ns),
            change: (type, pod) => (type === 'DELETED' ? this.remove(pod) : this.upsert(pod)),
            error: (e) => opts.onError(e),
            recovered: () => opts.onRecovered(),
          },
        }),
    );
  }

  subscribe(l: PodListener): void {
    this.listeners.push(l);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const r of this.reflectors) r.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }

  /** The most recent list/watch failure of any namespace, if not recovered. */
  get lastError(): KubeApiError | null {
    for (const r of this.reflectors) if (r.lastError) return r.lastError;
    return null;
  }

  get synced(): boolean {
    return this.reflectors.every((r) => r.synced);
  }

  get size(): number {
    return this.byUid.size;
  }

  get(uid: string): Pod | undefined {
    return this.byUid.get(uid);
  }

  byNamespacedName(namespace: string, name: string): Pod | undefined {
    const uid = this.byName.get(`${namespace}/${name}`);
    return uid ? this.byUid.get(uid) : undefined;
  }

  all(): IterableIterator<Pod> {
    return this.byUid.values();
  }

  private upsert(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    const old = this.byUid.get(uid);
    this.byUid.set(uid, pod);
    this.byName.set(`${pod.metadata.namespace}/${pod.metadata.name}`, uid);
    for (const l of this.listeners) l.upsert(pod, old);
  }

  private remove(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    const old = this.byUid.get(uid);
    this.byUid.delete(uid);
    const nn = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (this.byName.get(nn) === uid) this.byName.delete(nn);
    for (const l of this.listeners) l.remove(old ?? pod);
  }

  /** A (re-)list of one namespace (or all): pods missing from it were deleted while we were not watching. */
  private replace(items: Pod[], ns: string | undefined): void {
    const fresh = new Set<string>();
    for (const p of items) if (p.metadata.uid) fresh.add(p.metadata.uid);
    for (const [uid, p] of [...this.byUid]) {
      if ((ns === undefined || p.metadata.namespace === ns) && !fresh.has(uid)) this.remove(p);
    }
    for (const p of items) {
      const old = p.metadata.uid ? this.byUid.get(p.metadata.uid) : undefined;
      if (old && old.metadata.resourceVersion === p.metadata.resourceVersion) continue;
      this.upsert(p);
    }
    for (const l of this.listeners) l.synced?.();
  }
}
