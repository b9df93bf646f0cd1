/**
 * What the bundle server reads from Kubernetes, through the detector's own API client (api.ts,
 * credentials from kubeconfig.ts): pods (list by namespace/selector, get), container logs (tail,
 * since, previous, timestamps) and core/v1 events. An interface, so tests can put a fake behind it.
 */
import type { Readable } from 'node:stream';
import { KubeApi, KubeApiError } from '../../sources/kube/api.ts';
import type { CoreEvent, KubeList, Pod } from '../../sources/kube/k8s-types.ts';

/** The pod fields the bundle server reads (the wire Pod plus annotations and IP). */
export type BundlePod = Pod & { metadata: Pod['metadata'] & { annotations?: Record<string, string> }; status?: NonNullable<Pod['status']> & { podIP?: string } };

export interface LogQuery {
  namespace: string;
  pod: string;
  container: string;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: string;
  limitBytes?: number;
  signal?: AbortSignal;
}

export interface KubeReader {
  /** Pods of `namespace` (`*` = all) matching `selector`, at most `max` (pages through the API). */
  listPods(namespace: string, selector: string | undefined, max: number, signal?: AbortSignal): Promise<BundlePod[]>;
  /** null when the pod does not exist. */
  getPod(namespace: string, name: string, signal?: AbortSignal): Promise<BundlePod | null>;
  /** The log body; a KubeApiError for any non-200 answer. */
  logs(q: LogQuery): Promise<Readable>;
  /** Events of a namespace, page by page (each page bounded). */
  events(namespace: string, signal?: AbortSignal): AsyncIterable<CoreEvent[]>;
}

const PAGE = 500;

export class ApiKubeReader implements KubeReader {
  readonly api: KubeApi;
  constructor(api: KubeApi) {
    this.api = api;
  }

  async listPods(namespace: string, selector: string | undefined, max: number, signal?: AbortSignal): Promise<BundlePod[]> {
    const out: BundlePod[] = [];
    let cont: string | undefined;
    const path = namespace === '*' ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
    do {
      const page = await this.api.json<KubeList<BundlePod>>({
        verb: 'list',
        resource: 'pods',
        ...(namespace === '*' ? {} : { namespace }),
        path,
        query: { limit: Math.min(PAGE, Math.max(1, max - out.length)), labelSelector: selector, continue: cont },
        ...(signal ? { signal } : {}),
      });
      for (const p of page.items ?? []) if (out.length < max) out.push(p);
      cont = page.metadata?.continue || undefined;
    } while (cont && out.length < max);
    return out;
  }

  async getPod(namespace: string, name: string, signal?: AbortSignal): Promise<BundlePod | null> {
    try {
      return await this.api.json<BundlePod>({ verb: 'get', resource: 'pods', namespace, path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return null;
      throw err;
    }
  }

  logs(q: LogQuery): Promise<Readable> {
    return this.api.open({
      verb: 'get',
      resource: 'pods/log',
      namespace: q.namespace,
      path: `/api/v1/namespaces/${encodeURIComponent(q.namespace)}/pods/${encodeURIComponent(q.pod)}/log`,
      query: { container: q.container, previous: q.previous || undefined, timestamps: q.timestamps || undefined, tailLines: q.tailLines, sinceSeconds: q.sinceSeconds, sinceTime: q.sinceTime, limitBytes: q.limitBytes },
      ...(q.signal ? { signal: q.signal } : {}),
    });
  }

  async *events(namespace: string, signal?: AbortSignal): AsyncIterable<CoreEvent[]> {
    let cont: string | undefined;
    do {
      const page = await this.api.json<KubeList<CoreEvent>>({
        verb: 'list',
        resource: 'events',
        namespace,
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
        query: { limit: PAGE, continue: cont, fieldSelector: 'involvedObject.kind=Pod' },
        ...(signal ? { signal } : {}),
      });
      yield page.items ?? [];
      cont = page.metadata?.continue || undefined;
    } while (cont);
  }
}
