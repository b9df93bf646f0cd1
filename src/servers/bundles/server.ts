/**
 * The bundle server ("OA" evidence gateway, Kubernetes mode): a read-only HTTP API on its own port
 * that packs the logs, events and metrics of chosen pods into a gzipped NDJSON bundle for an agent.
 * Routes are one table (ROUTES): the dispatcher and GET /skill.md are generated from it, so the
 * document an agent reads cannot drift from what is served.
 */
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import { redact } from '../../parse/redact.ts';
import { KubeApiError } from '../../sources/kube/api.ts';
import { AuthError, type Authenticator, type Capability, type Principal, mayNamespace, requireCapabilities, requireNamespaces } from './auth.ts';
import { collectBundle, type CollectOptions } from './collect.ts';
import type { BundlePod, KubeReader } from './kube.ts';
import { DEFAULTS, neededCapabilities, parseBundleRequest, RequestError, type ServerLimits, targetNamespaces } from './request.ts';
import { BUNDLE_ID, type BundleEntry, type BundleStore, StoreFull } from './store.ts';

export interface BundleServerOptions {
  host: string;
  port: number;
  auth: Authenticator;
  reader: KubeReader;
  store: BundleStore;
  limits: ServerLimits;
  maxBodyBytes: number;
  maxLineBytes: number;
  maxMetricsBytes: number;
  maxEvents: number;
  maxDiscoveryPods: number;
  ttlMs: number;
  log: Logger;
  fetchMetrics?: CollectOptions['fetchMetrics'];
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  principal: Principal | null;
}

interface Route {
  method: 'GET' | 'POST';
  /** `{name}` segments are parameters. */
  path: string;
  auth: boolean;
  /** For /skill.md: what it needs and does. */
  needs: string;
  doc: string;
  handle(this: BundleServer, c: Ctx): Promise<void> | void;
}

class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
};

async function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const ct = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (ct !== 'application/json') throw new HttpError(415, 'content-type must be application/json');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new HttpError(413, `body larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw new HttpError(413, `body larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
}

function ready(p: BundlePod): boolean {
  const st = p.status?.containerStatuses ?? [];
  return st.length > 0 && st.every((s) => s.ready === true);
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/healthz', auth: false, needs: 'none', doc: 'the process answers', handle: (c) => void c.res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n') },
  { method: 'GET', path: '/livez', auth: false, needs: 'none', doc: 'the process answers', handle: (c) => void c.res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n') },
  {
    method: 'GET',
    path: '/readyz',
    auth: false,
    needs: 'none',
    doc: 'the bundle store is usable',
    handle(c) {
      const p = this.unready();
      c.res.writeHead(p ? 503 : 200, { 'content-type': 'text/plain' }).end(p ? `not ready: ${p}\n` : 'ready\n');
    },
  },
  {
    method: 'GET',
    path: '/skill.md',
    auth: false,
    needs: 'none',
    doc: 'this document, generated from the route table',
    handle(c) {
      c.res.writeHead(200, { 'content-type': 'text/markdown; charset=utf-8' }).end(this.skill);
    },
  },
  {
    method: 'GET',
    path: '/.well-known/skill.md',
    auth: false,
    needs: 'none',
    doc: 'the same document',
    handle(c) {
      c.res.writeHead(200, { 'content-type': 'text/markdown; charset=utf-8' }).end(this.skill);
    },
  },
  {
    method: 'GET',
    path: '/v1/pods',
    auth: true,
    needs: 'capability `pods` and the namespace in scope (`ns=*` needs admin or allowedNamespaces ["*"])',
    doc: 'pod discovery: `ns` (default `*`), `selector` (label selector), `q` (name substring). Items: namespace, name, labels, containers[], ready, phase; admin tokens also get podIP, annotations, nodeName',
    async handle(c) {
      const p = c.principal!;
      const ns = c.url.searchParams.get('ns') ?? DEFAULTS.namespace;
      const selector = c.url.searchParams.get('selector') ?? undefined;
      const q = c.url.searchParams.get('q') ?? '';
      if (ns !== '*' && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) throw new HttpError(400, 'ns: not a namespace name');
      if (selector !== undefined && (selector.length > 1024 || !/^[A-Za-z0-9_.\-/=!,() ]*$/.test(selector))) throw new HttpError(400, 'selector: not a label selector');
      if (q.length > 253) throw new HttpError(400, 'q: too long');
      requireCapabilities(p, ['pods']);
      requireNamespaces(p, [ns]);
      const pods = await this.opts.reader.listPods(ns, selector || undefined, this.opts.maxDiscoveryPods + 1);
      const items = pods
        .filter((x) => (x.metadata.name ?? '').includes(q))
        .filter((x) => mayNamespace(p, x.metadata.namespace ?? ''))
        .slice(0, this.opts.maxDiscoveryPods)
        .map((x) => ({
          namespace: x.metadata.namespace,
          name: x.metadata.name,
          labels: x.metadata.labels ?? {},
          containers: (x.spec?.containers ?? []).map((k) => k.name),
          ready: ready(x),
          phase: x.status?.phase ?? 'Unknown',
          ...(p.admin ? { podIP: x.status?.podIP ?? null, annotations: Object.fromEntries(Object.entries(x.metadata.annotations ?? {}).map(([k, v]) => [k, redact(v)])), nodeName: x.spec?.nodeName ?? null } : {}),
        }));
      json(c.res, 200, { items, ...(pods.length > this.opts.maxDiscoveryPods ? { truncated: true } : {}) });
    },
  },
  {
    method: 'POST',
    path: '/v1/bundles',
    auth: true,
    needs: 'the target namespaces in scope, capability `pods` for a selector target, and `logs` / `events` / `metrics` for what `include` enables',
    doc: 'create a bundle (JSON body, see below); 202 with `bundleId`, built in the background; 429 with Retry-After when the server is busy or full',
    async handle(c) {
      const p = c.principal!;
      const body = await readBody(c.req, this.opts.maxBodyBytes);
      const params = parseBundleRequest(body, this.opts.limits);
      const caps = neededCapabilities(params);
      const namespaces = targetNamespaces(params);
      requireNamespaces(p, namespaces);
      requireCapabilities(p, caps);
      let entry: BundleEntry;
      try {
        entry = await this.opts.store.reserve(namespaces, caps);
      } catch (err) {
        if (err instanceof StoreFull) throw new HttpError(429, err.message, { 'retry-after': String(err.retryAfterSeconds) });
        throw err;
      }
      const createdAt = new Date(entry.createdAt).toISOString();
      this.opts.log.info({ bundleId: entry.id, sub: p.sub, target: params.target.kind, namespaces: namespaces.length }, 'bundle requested');
      void this.opts.store
        .build(entry, async (write) => {
          await collectBundle(
            {
              reader: this.opts.reader,
              params,
              bundleId: entry.id,
              createdAt,
              maxMetricsPods: this.opts.limits.maxMetricsPods,
              maxLineBytes: this.opts.maxLineBytes,
              maxMetricsBytes: this.opts.maxMetricsBytes,
              maxEvents: this.opts.maxEvents,
              signal: entry.abort.signal,
              ...(this.opts.fetchMetrics ? { fetchMetrics: this.opts.fetchMetrics } : {}),
            },
            write,
          );
        })
        .then(() => {
          metrics.bundlesBuilt.inc({ outcome: entry.state });
          if (entry.state === 'failed') this.opts.log.warn({ bundleId: entry.id, error: entry.error }, 'bundle failed');
          else this.opts.log.info({ bundleId: entry.id, bytes: entry.bytes, records: entry.records }, 'bundle built');
          this.gauges();
        });
      this.gauges();
      json(c.res, 202, { bundleId: entry.id, status: 'building', createdAt, expiresAt: new Date(entry.expiresAt).toISOString() }, { location: `/v1/bundles/${entry.id}` });
    },
  },
  {
    method: 'GET',
    path: '/v1/bundles/{bundleId}',
    auth: true,
    needs: 'the scope the bundle was created with',
    doc: 'status: `building`, `done` (with bytes, records, downloadUrl) or `failed` (with error); poll every 1–2 s',
    handle(c) {
      const e = this.bundleFor(c);
      json(c.res, 200, {
        bundleId: e.id,
        status: e.state,
        createdAt: new Date(e.createdAt).toISOString(),
        expiresAt: new Date(e.expiresAt).toISOString(),
        records: e.records,
        bytes: e.bytes,
        ...(e.state === 'done' ? { downloadUrl: `/v1/bundles/${e.id}/download` } : {}),
        ...(e.error ? { error: e.error } : {}),
      });
    },
  },
  {
    method: 'GET',
    path: '/v1/bundles/{bundleId}/download',
    auth: true,
    needs: 'the scope the bundle was created with',
    doc: 'the bundle, `application/x-ndjson` gzip-compressed (`Content-Encoding` is not set: the file is the .ndjson.gz); 409 while building',
    handle(c) {
      const e = this.bundleFor(c);
      if (e.state === 'building') throw new HttpError(409, 'bundle is still building', { 'retry-after': '1' });
      if (e.state === 'failed') throw new HttpError(410, `bundle failed: ${e.error ?? ''}`);
      const stream = createReadStream(this.opts.store.fileOf(e.id));
      stream.once('error', () => {
        if (!c.res.headersSent) json(c.res, 410, { error: 'bundle expired' });
        else c.res.destroy();
      });
      stream.once('open', () => {
        c.res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': e.bytes, 'content-disposition': `attachment; filename="${e.id}.ndjson.gz"`, 'cache-control': 'no-store' });
        stream.pipe(c.res);
      });
    },
  },
];

/** A path template as a matcher: `{x}` segments match one URL segment. */
function matcher(template: string): (path: string) => Record<string, string> | null {
  const names: string[] = [];
  const re = new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{(\w+)\}/g, (_, n: string) => (names.push(n), '([^/]+)'))}$`);
  return (path) => {
    const m = re.exec(path);
    if (!m) return null;
    return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
  };
}

export function skillDocument(limits: ServerLimits, ttlMs: number, routes: readonly Route[] = ROUTES): string {
  const rows = routes.map((r) => `| ${r.method} | \`${r.path}\` | ${r.auth ? 'Bearer JWT' : 'none'} | ${r.auth ? r.needs : ''} | ${r.doc} |`);
  return `# Bundle server skill (robot-sre-detector)

Read-only evidence gateway for Kubernetes: pod logs, events and metrics packed into a gzipped NDJSON
bundle. Generated from the server's route table.

## Auth

\`Authorization: Bearer <JWT>\` on every route marked so; HS256 only, \`exp\` required (keep it 5–15 min).
Tokens in the query string are ignored. Missing or invalid token → 401; valid token outside its scope → 403.
Claims: \`allowedNamespaces\` (exact names or \`*\` wildcards; \`["*"]\` permits all and \`ns=*\`),
\`allowedServices\`, \`capabilities\` (\`pods\`, \`logs\`, \`events\`, \`metrics\`), \`admin\` (everything).

## Routes

| method | path | auth | needs | what |
|---|---|---|---|---|
${rows.join('\n')}

## Workflow

1. \`POST /v1/bundles\` → \`{"bundleId": …}\` (202)
2. \`GET /v1/bundles/{bundleId}\` every 1–2 s, up to 30 s, until \`status\` is \`done\`
3. \`GET /v1/bundles/{bundleId}/download\` → ndjson.gz; stream-parse it

## Bundle request

\`\`\`json
{
  "timeWindow": { "sinceSeconds": 600 },
  "target": { "namespace": "*", "selector": "app=web,tier=backend" },
  "include": {
    "logs": { "enabled": true, "tailLines": 2000, "previous": true, "timestamps": true, "excludePatterns": ["GET /healthz"] },
    "events": { "enabled": true },
    "metrics": { "enabled": true }
  },
  "limits": { "maxPods": ${limits.maxPods}, "maxTotalLogLines": ${limits.maxTotalLogLines}, "metricsTimeoutMs": ${limits.metricsTimeoutMs} }
}
\`\`\`

- \`timeWindow\`: either \`sinceSeconds\` (1–${limits.maxSinceSeconds}, default ${DEFAULTS.sinceSeconds}) or \`start\` + \`end\` (UTC ISO 8601 with \`Z\`, at most ${limits.maxSinceSeconds} s apart); both → 400.
  In absolute mode timestamps are forced on and the first \`tailLines\` lines of the window are kept per container.
- \`target\`: \`selector\` (+ \`namespace\`, default \`*\`) or \`pods: [{"namespace": "default", "pod": "my-app-0"}]\`; both → 400.
- \`include.logs\`: \`tailLines\` (default ${DEFAULTS.tailLines}) per container, \`previous\` (default true), \`timestamps\` (default true), \`excludePatterns\` (substrings), \`containers\` (default all).
- \`limits\` may only lower the server's: maxPods ≤ ${limits.maxPods}, maxTotalLogLines ≤ ${limits.maxTotalLogLines}, metricsTimeoutMs ≤ ${limits.maxMetricsTimeoutMs}; at most ${limits.maxMetricsPods} pods are scraped.
- Bundles are deleted ${Math.round(ttlMs / 60_000)} min after creation.

## Records (one JSON object per line)

| type | fields |
|---|---|
| meta | bundleId, createdAt, params, pods[], podsTruncated? |
| log | namespace, pod, container, ts, line, previous?; or skipped: true, reason (no_previous_container, pod_not_found, logs_unavailable, max_total_log_lines, forbidden, read_error) |
| event | namespace, reason, message, ts, firstTs?, eventType, count, involvedObject, source; or skipped: true, reason (forbidden, read_error, max_events) |
| metrics_text | namespace, pod, port, path, ts, and ok: true + content, or skipped: true + reason (annotation_missing, max_metrics_pods), or ok: false + error |

Every string is redacted like finding evidence (passwords, tokens, keys → \`[REDACTED]\`).
\`previous\` logs of a container that never restarted are a \`no_previous_container\` skip record, not an error.
Metrics come from the pod annotations \`prometheus.io/scrape: "true"\`, \`prometheus.io/port\`, \`prometheus.io/path\`:
\`skipped\` is normal, \`ok: false\` is an anomaly signal (timeout, refused).

## Analysis

Events first (OOMKilled, CrashLoopBackOff, FailedScheduling), then logs (panic, fatal, timeout,
connection refused), then metrics. Drill down with a narrower selector or single pods and smaller bundles.
`;
}

export class BundleServer {
  readonly opts: BundleServerOptions;
  private server: Server | undefined;
  private readonly routes = ROUTES.map((r) => ({ route: r, match: matcher(r.path) }));
  readonly skill: string;

  constructor(opts: BundleServerOptions) {
    this.opts = opts;
    this.skill = skillDocument(opts.limits, opts.ttlMs);
  }

  unready(): string | null {
    return this.server ? this.opts.store.unready() : 'bundle server not started';
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  gauges(): void {
    metrics.bundlesStored.set(this.opts.store.size());
    metrics.bundlesDiskBytes.set(this.opts.store.diskBytes());
  }

  bundleFor(c: Ctx): BundleEntry {
    const id = c.params.bundleId ?? '';
    if (!BUNDLE_ID.test(id)) throw new HttpError(404, 'no such bundle');
    const e = this.opts.store.get(id);
    if (!e) throw new HttpError(404, 'no such bundle');
    requireNamespaces(c.principal!, e.namespaces);
    requireCapabilities(c.principal!, e.capabilities as Capability[]);
    return e;
  }

  async start(): Promise<void> {
    await this.opts.store.start();
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => void this.dispatch(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.opts.log.info({ host: this.opts.host, port: this.port }, 'bundle server listening');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await this.opts.store.stop();
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let routeName = 'unknown';
    res.on('finish', () => metrics.bundlesRequests.inc({ route: routeName, code: String(res.statusCode) }));
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://bundles.local');
      } catch {
        throw new HttpError(400, 'bad URL');
      }
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      let found: { route: Route; params: Record<string, string> } | null = null;
      let pathMatched = false;
      for (const { route, match } of this.routes) {
        let params: Record<string, string> | null;
        try {
          params = match(url.pathname);
        } catch {
          throw new HttpError(400, 'bad URL');
        }
        if (!params) continue;
        pathMatched = true;
        if (route.method === method) {
          found = { route, params };
          break;
        }
      }
      if (!found) throw new HttpError(pathMatched ? 405 : 404, pathMatched ? 'method not allowed' : 'not found');
      routeName = found.route.path;
      const principal = found.route.auth ? await this.opts.auth.authenticate(req) : null;
      await found.route.handle.call(this, { req, res, url, params: found.params, principal });
    } catch (err) {
      this.fail(req, res, err);
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A refused request's unread body is not read on: the connection closes after the answer.
    const close: Record<string, string> = req.complete ? {} : { connection: 'close' };
    req.resume();
    if (err instanceof AuthError) {
      json(res, err.status, { error: err.status === 401 ? 'unauthorized' : 'forbidden', message: err.message }, { ...close, ...(err.status === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
      return;
    }
    if (err instanceof HttpError) {
      json(res, err.status, { error: err.message }, { ...err.headers, ...close });
      return;
    }
    if (err instanceof RequestError) {
      json(res, err.status, { error: err.message }, close);
      return;
    }
    if (err instanceof KubeApiError) {
      const status = err.forbidden ? 502 : err.unreachable ? 503 : 502;
      this.opts.log.warn({ status: err.status, resource: err.resource }, `bundle server: ${err.message}`);
      json(res, status, { error: err.forbidden ? 'the detector’s ServiceAccount may not read this (RBAC)' : 'kubernetes API unavailable' });
      return;
    }
    this.opts.log.error({ err: (err as Error)?.message }, 'bundle server: unexpected error');
    json(res, 500, { error: 'internal error' });
  }
}
