/**
 * The bundle server ("OA" evidence gateway): a read-only HTTP API on its own port that packs evidence
 * into a gzipped NDJSON bundle for an agent. It runs in one of two modes: Kubernetes (the logs, events
 * and metrics of chosen pods) or standalone (the files, journal units and metrics URL of the services
 * of a host without Kubernetes, standalone.ts). Routes are one table (ALL_ROUTES, each route marked
 * with the modes it is served in): the dispatcher and GET /skill.md are generated from it, so the
 * document an agent reads cannot drift from what is served.
 */
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import { redact } from '../../parse/redact.ts';
import { KubeApiError } from '../../sources/kube/api.ts';
import { AuthError, type Authenticator, type Capability, type Principal, mayNamespace, mayService, requireCapabilities, requireNamespaces } from './auth.ts';
import { collectBundle, type CollectOptions } from './collect.ts';
import type { BundlePod, KubeReader } from './kube.ts';
import { DEFAULTS, neededCapabilities, neededStandaloneCapabilities, parseBundleRequest, parseStandaloneRequest, RequestError, resolveStandaloneTarget, type ServerLimits, targetNamespaces } from './request.ts';
import { collectStandalone, serviceRefs, type StandaloneConfig } from './standalone.ts';
import { BUNDLE_ID, type BundleEntry, type BundleStore, StoreFull } from './store.ts';

export interface BundleServerOptions {
  host: string;
  port: number;
  auth: Authenticator;
  /** Kubernetes mode: the API behind pod discovery and pod bundles. */
  reader?: KubeReader;
  /** Standalone mode (set: the server serves services, not pods). */
  standalone?: StandaloneConfig;
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

export type BundleMode = 'kubernetes' | 'standalone';

interface Route {
  method: 'GET' | 'POST';
  /** The modes it is served in (default both). */
  modes?: readonly BundleMode[];
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

export const ALL_ROUTES: readonly Route[] = [
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
    modes: ['kubernetes'],
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
      const pods = await this.opts.reader!.listPods(ns, selector || undefined, this.opts.maxDiscoveryPods + 1);
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
    modes: ['kubernetes'],
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
              reader: this.opts.reader!,
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
        .then(() => this.built(entry));
      this.gauges();
      json(c.res, 202, { bundleId: entry.id, status: 'building', createdAt, expiresAt: new Date(entry.expiresAt).toISOString() }, { location: `/v1/bundles/${entry.id}` });
    },
  },
  {
    method: 'GET',
    path: '/v1/services',
    modes: ['standalone'],
    auth: true,
    needs: 'a valid token; the list holds only the services its allowedServices permit',
    doc: 'the configured services. Items: name, hasFiles, hasJournal, hasMetrics; admin tokens also get logs (file globs), journal (units, or null) and metrics (URL, or null)',
    handle(c) {
      const p = c.principal!;
      const items = this.opts
        .standalone!.services.filter((s) => mayService(p, s.name))
        .map((s) => ({
          name: s.name,
          hasFiles: s.files.length > 0,
          hasJournal: s.units.length > 0,
          hasMetrics: !!s.metricsUrl,
          ...(p.admin ? { logs: [...s.files], journal: s.units.length ? [...s.units] : null, metrics: s.metricsUrl ? redact(s.metricsUrl) : null } : {}),
        }));
      json(c.res, 200, { items });
    },
  },
  {
    method: 'POST',
    path: '/v1/bundles',
    modes: ['standalone'],
    auth: true,
    needs: 'every target service in allowedServices (kind `all`: the services it permits), and `logs` / `metrics` for what `include` enables',
    doc: 'create a bundle of services (JSON body, see below); 202 with `bundleId`, built in the background; 429 with Retry-After when the server is busy or full',
    async handle(c) {
      const p = c.principal!;
      const cfg = this.opts.standalone!;
      const body = await readBody(c.req, this.opts.maxBodyBytes);
      const params = parseStandaloneRequest(body, this.opts.limits);
      const caps = neededStandaloneCapabilities(params);
      requireCapabilities(p, caps);
      const selected = resolveStandaloneTarget(params, serviceRefs(cfg), (s) => mayService(p, s));
      const names = selected.map((s) => s.name);
      const services = cfg.services.filter((s) => names.includes(s.name));
      let entry: BundleEntry;
      try {
        // The entry's scope list holds service names in this mode (bundleFor checks them against allowedServices).
        entry = await this.opts.store.reserve(names, caps);
      } catch (err) {
        if (err instanceof StoreFull) throw new HttpError(429, err.message, { 'retry-after': String(err.retryAfterSeconds) });
        throw err;
      }
      const createdAt = new Date(entry.createdAt).toISOString();
      this.opts.log.info({ bundleId: entry.id, sub: p.sub, target: params.target.kind, services: names.length }, 'bundle requested');
      void this.opts.store
        .build(entry, async (write) => {
          await collectStandalone(
            {
              config: cfg,
              params,
              services,
              bundleId: entry.id,
              createdAt,
              maxLineBytes: this.opts.maxLineBytes,
              maxMetricsBytes: this.opts.maxMetricsBytes,
              signal: entry.abort.signal,
              ...(this.opts.fetchMetrics ? { fetchMetrics: this.opts.fetchMetrics } : {}),
            },
            write,
          );
        })
        .then(() => this.built(entry));
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

export const routesFor = (mode: BundleMode, routes: readonly Route[] = ALL_ROUTES): readonly Route[] => routes.filter((r) => !r.modes || r.modes.includes(mode));
/** The routes of Kubernetes mode (the default). */
export const ROUTES: readonly Route[] = routesFor('kubernetes');
export const STANDALONE_ROUTES: readonly Route[] = routesFor('standalone');

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

function safeMatch(template: string, path: string): boolean {
  try {
    return matcher(template)(path) !== null;
  } catch {
    return false;
  }
}

export function skillDocument(limits: ServerLimits, ttlMs: number, routes: readonly Route[] = ROUTES): string {
  const rows = routes.map((r) => `| ${r.method} | \`${r.path}\` | ${r.auth ? 'Bearer JWT' : 'none'} | ${r.auth ? r.needs : ''} | ${r.doc} |`);
  return `# Bundle server skill (robot-sre-detector)

Read-only evidence gateway for Kubernetes: pod logs, events and metrics packed into a gzipped NDJSON
bundle. Generated from the server's route table.

**Mode: kubernetes** — targets are pods (by selector or by name); \`GET /v1/services\` and service
targets are not served here (they are in standalone mode, on a host without Kubernetes).

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

export function standaloneSkillDocument(limits: ServerLimits, ttlMs: number, routes: readonly Route[] = STANDALONE_ROUTES): string {
  const rows = routes.map((r) => `| ${r.method} | \`${r.path}\` | ${r.auth ? 'Bearer JWT' : 'none'} | ${r.auth ? r.needs : ''} | ${r.doc} |`);
  return `# Bundle server skill (robot-sre-detector)

Read-only evidence gateway for a host without Kubernetes: the log files, journal units and metrics of
its configured services packed into a gzipped NDJSON bundle. Generated from the server's route table.

**Mode: standalone** — targets are the services configured on this host (\`GET /v1/services\`);
\`GET /v1/pods\` and pod targets are not served here, and there are no events.

## Auth

\`Authorization: Bearer <JWT>\` on every route marked so; HS256 only, \`exp\` required (keep it 5–15 min).
Tokens in the query string are ignored. Missing or invalid token → 401; valid token outside its scope → 403.
Claims: \`allowedServices\` (exact names or \`*\` wildcards; \`["*"]\` permits every configured service),
\`capabilities\` (\`logs\`, \`metrics\`), \`admin\` (everything).

## Routes

| method | path | auth | needs | what |
|---|---|---|---|---|
${rows.join('\n')}

## Workflow

1. \`GET /v1/services\` → the service names
2. \`POST /v1/bundles\` → \`{"bundleId": …}\` (202)
3. \`GET /v1/bundles/{bundleId}\` every 1–2 s, up to 30 s, until \`status\` is \`done\`
4. \`GET /v1/bundles/{bundleId}/download\` → ndjson.gz; stream-parse it

## Bundle request

\`\`\`json
{
  "target": { "kind": "services", "services": ["postgres", "api"] },
  "include": {
    "logs": { "enabled": true, "tailLines": ${DEFAULTS.tailLines}, "includePatterns": ["ERROR"], "excludePatterns": ["healthcheck"] },
    "metrics": { "enabled": true }
  },
  "limits": { "maxTotalLogLines": ${limits.maxTotalLogLines}, "metricsTimeoutMs": ${limits.metricsTimeoutMs} }
}
\`\`\`

- \`target\`: \`{"kind": "services", "services": [names]}\` (kind implied when \`services\` is given) or
  \`{"kind": "all"}\` (every configured service the token permits). Names only: a path or a unit is refused,
  an unknown name is a 400, a name outside allowedServices a 403.
- \`include.logs.tailLines\` (default ${DEFAULTS.tailLines}, ≤ maxTotalLogLines): the last lines of each current log file
  (rotated \`.1\` / \`.gz\` siblings are not read), and of each journal unit when there is no \`timeWindow\`.
- \`timeWindow\` (optional, journal only): \`sinceSeconds\` (1–${limits.maxSinceSeconds}) or \`start\` + \`end\` (UTC ISO 8601 with \`Z\`,
  at most ${limits.maxSinceSeconds} s apart); both → 400; with logs enabled it is a 400 unless a selected service has a journal unit.
  File logs are never time-filtered.
- \`include.logs.includePatterns\` (keep lines containing one of them) and \`excludePatterns\` (drop lines containing
  one): substrings, applied before the budget.
- \`events\`, \`include.logs.previous\` and \`include.logs.timestamps\` are ignored; \`containers\`, \`limits.maxPods\` are refused.
- \`limits\` may only lower the server's: maxTotalLogLines ≤ ${limits.maxTotalLogLines}, metricsTimeoutMs ≤ ${limits.maxMetricsTimeoutMs}.
- Bundles are deleted ${Math.round(ttlMs / 60_000)} min after creation.

## Records (one JSON object per line)

| type | fields |
|---|---|
| meta | bundleId, createdAt, mode: "standalone", host, params, services[] |
| log | service, file or journal, ts, line, untimed?; or skipped: true, reason (file_not_found, read_error, journalctl_not_found, journal_permission_denied, journal_read_error, max_files), error? |
| log_summary | ts, lineLimited, matchedLogRecords, returnedLogRecords, diagnosticRecords, maxTotalLogLines, sources[] (service, file or journal, status, reason?, readRecords, matchedRecords, returnedRecords) |
| metrics_text | service, url, ts, and ok: true + content, or skipped: true + reason: "no_metrics_url", or ok: false + error ("timeout after 2000ms", "fetch_failed: ECONNREFUSED", "http_status: 503") |

Log lines of all sources are merged by timestamp, oldest first, and the newest maxTotalLogLines are kept
(\`lineLimited: true\` when some were dropped). A line without a timestamp of its own (\`untimed: true\`) ranks
with the previous timestamp of its source; before any, it ranks first in read order (\`ts: null\`).
Skip records are outside the budget and counted as \`diagnosticRecords\`; they never fail the bundle.
Every string is redacted like finding evidence (passwords, tokens, keys → \`[REDACTED]\`).

## Analysis

Logs first (panic, fatal, timeout, connection refused), then metrics (\`ok: false\` is an anomaly signal,
\`skipped\` is normal). Drill down with a single service, a lower tailLines or a shorter journal window.
`;
}

export class BundleServer {
  readonly opts: BundleServerOptions;
  private server: Server | undefined;
  readonly mode: BundleMode;
  private readonly routes: Array<{ route: Route; match: (path: string) => Record<string, string> | null }>;
  readonly skill: string;

  constructor(opts: BundleServerOptions) {
    if (!opts.standalone && !opts.reader) throw new Error('bundle server: a Kubernetes reader or a standalone configuration is needed');
    this.opts = opts;
    this.mode = opts.standalone ? 'standalone' : 'kubernetes';
    this.routes = routesFor(this.mode).map((r) => ({ route: r, match: matcher(r.path) }));
    this.skill = this.mode === 'standalone' ? standaloneSkillDocument(opts.limits, opts.ttlMs) : skillDocument(opts.limits, opts.ttlMs);
  }

  built(entry: BundleEntry): void {
    metrics.bundlesBuilt.inc({ outcome: entry.state });
    if (entry.state === 'failed') this.opts.log.warn({ bundleId: entry.id, error: entry.error }, 'bundle failed');
    else this.opts.log.info({ bundleId: entry.id, bytes: entry.bytes, records: entry.records }, 'bundle built');
    this.gauges();
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
    // In standalone mode the entry's scope list holds the bundle's services.
    if (this.mode === 'standalone') {
      for (const svc of e.namespaces) if (!mayService(c.principal!, svc)) throw new AuthError(403, 'token does not permit the services of this bundle');
    } else requireNamespaces(c.principal!, e.namespaces);
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
    this.opts.log.info({ host: this.opts.host, port: this.port, mode: this.mode }, 'bundle server listening');
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
      if (!found && !pathMatched && ALL_ROUTES.some((r) => r.method === method && safeMatch(r.path, url.pathname))) throw new HttpError(404, `not served in ${this.mode} mode (see /skill.md)`);
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
