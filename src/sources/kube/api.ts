import type { Readable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { Agent, request, type Dispatcher } from 'undici';
import { metrics } from '../../metrics.ts';
import type { Status } from './k8s-types.ts';

/**
 * A thin Kubernetes API client for the three things the sources do: list, watch and stream logs.
 *
 * Why not client-node's Watch/Log classes: Log stalls silently on connection reset and never signals the
 * end of an aborted stream, neither exposes the body of an error Status (so a 403 cannot say what RBAC
 * lacks), and Watch applies a fixed 30 s inactivity abort. We keep client-node for what it does well —
 * loading kubeconfig / in-cluster config and computing auth headers (token files, exec plugins, OIDC) —
 * and send the requests with undici ourselves so every stream has our own watchdog and metrics.
 */

export const RBAC_MANIFEST = 'manifests/base/rbac.yaml';

export type ApiVerb = 'list' | 'watch' | 'get';

export class KubeApiError extends Error {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  readonly verb: ApiVerb;
  readonly resource: string;
  readonly namespace: string | undefined;
  readonly apiStatus: Status | undefined;
  constructor(opts: { status: number; verb: ApiVerb; resource: string; namespace?: string; apiStatus?: Status; message: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KubeApiError';
    this.status = opts.status;
    this.verb = opts.verb;
    this.resource = opts.resource;
    this.namespace = opts.namespace;
    this.apiStatus = opts.apiStatus;
  }
  get forbidden(): boolean {
    return this.status === 403;
  }
  get unreachable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

/** The message an operator needs when RBAC is missing: which verb on which resource, and where to fix it. */
export function forbiddenMessage(verb: ApiVerb, resource: string, namespace: string | undefined, apiMessage?: string): string {
  const [res, sub] = resource.split('/');
  const scope = namespace ? `in namespace "${namespace}"` : 'at cluster scope (all namespaces)';
  const rule = `{apiGroups: [""], resources: ["${resource}"], verbs: ["${verb}"]}`;
  return (
    `RBAC forbids the detector to "${verb}" ${sub ? `the ${sub} subresource of ${res}` : res} ${scope}. ` +
    `Add the rule ${rule} to the ${namespace ? 'Role/ClusterRole bound in that namespace' : 'ClusterRole'} in ${RBAC_MANIFEST} ` +
    `(kubectl apply -k manifests/base). The detector keeps running for what it can read.` +
    (apiMessage ? ` API server said: ${apiMessage}` : '')
  );
}

export interface KubeApiOptions {
  /** Path to a kubeconfig file. Unset: $KUBECONFIG / ~/.kube/config / in-cluster, as kubectl does. */
  kubeconfigPath?: string;
  /** Force the in-cluster ServiceAccount config. */
  inCluster?: boolean;
  /** Context to use from the kubeconfig (default: current-context). */
  context?: string;
  /** An already loaded KubeConfig (tests). */
  kubeConfig?: KubeConfig;
  /** Seconds to wait for response headers (default 30). */
  headersTimeoutMs?: number;
}

export function loadKubeConfig(opts: KubeApiOptions): KubeConfig {
  if (opts.kubeConfig) return opts.kubeConfig;
  const kc = new KubeConfig();
  if (opts.inCluster) kc.loadFromCluster();
  else if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  return kc;
}

type Query = Record<string, string | number | boolean | undefined>;

export interface RequestSpec {
  verb: ApiVerb;
  /** RBAC resource name for metrics and errors: "pods", "pods/log", "events". */
  resource: string;
  namespace?: string;
  path: string;
  query?: Query;
  signal?: AbortSignal;
}

export class KubeApi {
  readonly server: string;
  private readonly kc: KubeConfig;
  private dispatcher: Dispatcher | undefined;
  private readonly headersTimeoutMs: number;

  constructor(opts: KubeApiOptions = {}) {
    this.kc = loadKubeConfig(opts);
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    if (cluster.proxyUrl) throw new Error('kubeconfig proxy-url is not supported by the kube source');
    this.server = cluster.server.replace(/\/+$/, '');
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 30_000;
  }

  /** Headers are computed per request: token files and exec credentials rotate. */
  private async prepare(): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher }> {
    const opts: { headers?: Record<string, unknown>; ca?: unknown; cert?: unknown; key?: unknown; rejectUnauthorized?: boolean; servername?: string } = {};
    await this.kc.applyToHTTPSOptions(opts as never);
    if (!this.dispatcher) {
      const connect: Record<string, unknown> = { keepAlive: true, keepAliveInitialDelay: 30_000 };
      for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) {
        if (opts[k] !== undefined) connect[k] = opts[k];
      }
      // Streams can be quiet for hours: our own watchdogs decide when a stream is dead, not undici's timers.
      this.dispatcher = new Agent({ connect, bodyTimeout: 0, headersTimeout: this.headersTimeoutMs, pipelining: 0 });
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = String(v);
    const user = this.kc.getCurrentUser();
    if (user?.username && !headers.authorization) {
      headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    }
    return { headers, dispatcher: this.dispatcher };
  }

  url(path: string, query?: Query): string {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** Opens a request and returns the body stream of a 200; any other answer becomes a KubeApiError. */
  async open(spec: RequestSpec): Promise<Readable> {
    let res: Dispatcher.ResponseData;
    try {
      const { headers, dispatcher } = await this.prepare();
      res = await request(this.url(spec.path, spec.query), { method: 'GET', headers, dispatcher, signal: spec.signal ?? null });
    } catch (err) {
      if (spec.signal?.aborted) throw err;
      metrics.apiRequests.inc({ verb: spec.verb, resource: spec.resource, code: 'error' });
      const msg = err instanceof Error ? err.message : String(err);
      throw new KubeApiError({ status: 0, verb: spec.verb, resource: spec.resource, namespace: spec.namespace, message: `kube API ${this.server} unreachable: ${msg}`, cause: err });
    }
    metrics.apiRequests.inc({ verb: spec.verb, resource: spec.resource, code: String(res.statusCode) });
    if (res.statusCode === 200) return res.body;
    let apiStatus: Status | undefined;
    let text = '';
    try {
      text = (await res.body.text()).slice(0, 4096);
      apiStatus = JSON.parse(text) as Status;
    } catch {
      // Not every error body is a Status (proxies, kubelet plain text): keep the text.
    }
    const apiMessage = apiStatus?.message ?? text.trim();
    const message =
      res.statusCode === 403
        ? forbiddenMessage(spec.verb, spec.resource, spec.namespace, apiMessage)
        : `kube API ${spec.verb} ${spec.resource}${spec.namespace ? ` in ${spec.namespace}` : ''}: HTTP ${res.statusCode}${apiMessage ? `: ${apiMessage}` : ''}`;
    throw new KubeApiError({ status: res.statusCode, verb: spec.verb, resource: spec.resource, namespace: spec.namespace, message, ...(apiStatus ? { apiStatus } : {}) });
  }

  async json<T>(spec: RequestSpec): Promise<T> {
    const body = await this.open(spec);
    try {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    } catch (err) {
      if (spec.signal?.aborted) throw err;
      throw new KubeApiError({ status: 0, verb: spec.verb, resource: spec.resource, namespace: spec.namespace, message: `kube API ${spec.verb} ${spec.resource}: broken response: ${(err as Error).message}`, cause: err });
    }
  }

  /** Server version (minor as a number), or null when /version is not readable. */
  async version(signal?: AbortSignal): Promise<{ major: number; minor: number; gitVersion: string } | null> {
    try {
      const v = await this.json<{ major?: string; minor?: string; gitVersion?: string }>({ verb: 'get', resource: 'version', path: '/version', ...(signal ? { signal } : {}) });
      return { major: parseInt(v.major ?? '0', 10), minor: parseInt(v.minor ?? '0', 10), gitVersion: v.gitVersion ?? '' };
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    const d = this.dispatcher;
    this.dispatcher = undefined;
    if (d) await d.destroy().catch(() => {});
  }
}
