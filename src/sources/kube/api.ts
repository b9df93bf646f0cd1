import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { log } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import { loadConnection, type Connection, type ConnectionOptions } from './kubeconfig.ts';
import type { Status } from './k8s-types.ts';

/**
 * A thin Kubernetes API client for the three things the sources do: list, watch and stream logs.
 *
 * Why not client-node's Watch/Log classes: Log stalls silently on connection reset and never signals the
 * end of an aborted stream, neither exposes the body of an error Status (so a 403 cannot say what RBAC
 * lacks), and Watch applies a fixed 30 s inactivity abort. Requests go through undici with our own
 * watchdogs and metrics; credentials come from kubeconfig.ts (client-node only for exec/auth providers).
 */

export const RBAC_MANIFEST = 'manifests/base/rbac.yaml';

export type ApiVerb = 'list' | 'watch' | 'get';

export class KubeApiError extends Error {
  /** HTTP status; 0 when the server could not be reached, -1 when the configuration could not be loaded. */
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
  /** Nothing can be read: no connection (0), bad configuration (-1) or a failing server (5xx). */
  get unreachable(): boolean {
    return this.status <= 0 || this.status >= 500;
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

export interface KubeApiOptions extends ConnectionOptions {
  /** Milliseconds to wait for response headers (default 30 s). */
  headersTimeoutMs?: number;
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
  private readonly opts: KubeApiOptions;
  private conn: Promise<Connection> | null = null;
  private dispatcher: Dispatcher | undefined;
  private server = '';

  constructor(opts: KubeApiOptions = {}) {
    this.opts = opts;
  }

  /** Loads the connection (kubeconfig / in-cluster); errors here are configuration errors, not outages. */
  connection(): Promise<Connection> {
    this.conn ??= loadConnection(this.opts).then((c) => {
      this.server = c.server.replace(/\/+$/, '');
      log.info({ api: this.server, via: c.describe }, 'kube API configured');
      return c;
    });
    return this.conn;
  }

  /** Headers are computed per request: token files and exec credentials rotate. */
  private async prepare(): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher }> {
    const c = await this.connection();
    const headers: Record<string, string> = { accept: 'application/json', ...(await c.headers()) };
    // Streams can be quiet for hours: our own watchdogs decide when a stream is dead, not undici's timers.
    this.dispatcher ??= new Agent({ connect: { ...c.tls, keepAlive: true, keepAliveInitialDelay: 30_000 }, bodyTimeout: 0, headersTimeout: this.opts.headersTimeoutMs ?? 30_000 });
    return { headers, dispatcher: this.dispatcher };
  }

  private url(path: string, query?: Query): string {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** Opens a request and returns the body stream of a 200; any other answer becomes a KubeApiError. */
  async open(spec: RequestSpec): Promise<Readable> {
    let res: Dispatcher.ResponseData;
    let prepared: { headers: Record<string, string>; dispatcher: Dispatcher };
    try {
      prepared = await this.prepare();
    } catch (err) {
      throw new KubeApiError({ status: -1, verb: spec.verb, resource: spec.resource, namespace: spec.namespace, message: `kube API configuration: ${(err as Error).message}`, cause: err });
    }
    try {
      const { headers, dispatcher } = prepared;
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
