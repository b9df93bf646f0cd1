import { log } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import { KubeApi, type KubeApiError } from './api.ts';
import { podFieldSelector } from './ownership.ts';
import { PodInformer } from './pod-informer.ts';
import type { ResolvedKubeOptions } from './options.ts';


const FORBIDDEN_LOG_EVERY_MS = 10 * 60_000;
/**
 * A 403 while the API server is coming back (unreachable moments ago) is usually its authorizer
 * still loading RBAC, not a missing rule: it is logged as a warning; one that persists past this
 * window is logged as the RBAC error.
 */
export const RESTART_GRACE_MS = 60_000;

/**
 * What the pods and events sources share: one API client (one connection pool), one pods informer, and the
 * API health used by /readyz. Started by the first source, stopped with the last.
 */
export class KubeShared {
  readonly api: KubeApi;
  readonly informer: PodInformer;
  readonly opts: ResolvedKubeOptions;
  private readonly ownsApi: boolean;
  private users = 0;
  private apiError: KubeApiError | null = null;
  /** When the API server was last seen unreachable (epoch ms). */
  private unreachableAt = 0;
  private readonly forbiddenLogged = new Map<string, number>();

  constructor(opts: ResolvedKubeOptions, api?: KubeApi) {
    this.opts = opts;
    this.ownsApi = !api;
    this.api =
      api ??
      new KubeApi({
        ...(opts.kubeconfigPath ? { kubeconfigPath: opts.kubeconfigPath } : {}),
        inCluster: opts.inCluster,
        ...(opts.context ? { context: opts.context } : {}),
      });
    const fieldSelector = podFieldSelector(opts);
    this.informer = new PodInformer({
      api: this.api,
      namespaces: opts.namespaces,
      ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
      ...(fieldSelector ? { fieldSelector } : {}),
      watchTimeoutSeconds: opts.watchTimeoutSeconds,
      onError: (e) => this.reportError(e),
      onRecovered: () => this.recovered('pods'),
    });
  }

  acquire(): void {
    if (this.users++ === 0) this.informer.start();
  }

  async release(): Promise<void> {
    if (--this.users > 0) return;
    await this.informer.stop();
    if (this.ownsApi) await this.api.close();
  }

  /** Logs an error once per kind per interval: a missing RBAC rule must be loud but not flood the logs. */
  reportError(e: KubeApiError): void {
    if (e.forbidden) {
      this.forbidden(e);
      return;
    }
    if (e.unreachable) {
      if (!this.apiError) log.error({ status: e.status, resource: e.resource }, `${e.message} — retrying with backoff`);
      this.apiError = e;
      this.unreachableAt = Date.now();
      return;
    }
    log.warn({ status: e.status, resource: e.resource, verb: e.verb }, e.message);
  }

  forbidden(e: KubeApiError): void {
    metrics.kubeForbidden.set({ verb: e.verb, resource: e.resource }, 1);
    const k = `${e.verb}/${e.resource}/${e.namespace ?? ''}`;
    if (this.unreachableAt > 0 && Date.now() - this.unreachableAt < RESTART_GRACE_MS) {
      if (this.forbiddenLogged.has(`restart:${k}`)) return;
      this.forbiddenLogged.set(`restart:${k}`, Date.now());
      log.warn({ verb: e.verb, resource: e.resource, namespace: e.namespace }, `${e.message} — the API server was unreachable moments ago, so its authorizer may still be starting; retrying (an RBAC error follows if this persists)`);
      return;
    }
    const last = this.forbiddenLogged.get(k) ?? 0;
    if (Date.now() - last < FORBIDDEN_LOG_EVERY_MS) return;
    this.forbiddenLogged.set(k, Date.now());
    log.error({ verb: e.verb, resource: e.resource, namespace: e.namespace, manifest: 'manifests/base/rbac.yaml' }, e.message);
  }

  /** A list/watch of `resource` works (again): clear the outage and that resource's RBAC alarms. */
  recovered(resource?: string): void {
    if (this.apiError) log.info('kube API reachable again');
    this.apiError = null;
    for (const k of [...this.forbiddenLogged.keys()]) if (k.startsWith('restart:')) this.forbiddenLogged.delete(k);
    if (resource) for (const verb of ['list', 'watch']) metrics.kubeForbidden.set({ verb, resource }, 0);
  }

  /** Null when the API answers; else why not (for /readyz). */
  apiProblem(): string | null {
    if (!this.apiError) return null;
    return this.apiError.status === -1 ? `${this.apiError.message} (retrying)` : `kube API unreachable (${this.apiError.message}); retrying`;
  }
}
