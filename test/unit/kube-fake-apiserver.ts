/**
 * A small stand-in for kube-apiserver + kubelet log endpoint, speaking the exact wire formats the kube
 * sources read: paged lists with metadata.resourceVersion, watch streams of JSON lines (ADDED/MODIFIED/
 * DELETED/BOOKMARK and ERROR Status 410 "Expired"), 403 Status bodies, and pod logs with the kubelet's
 * fixed 9-digit timestamps, sinceTime at whole-second precision, follow, previous — written in pieces that
 * cut lines (and UTF-8 characters) in the middle. For unit tests only; the real server is in test/e2e.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApi } from '../../src/sources/kube/api.ts';

type Obj = { metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown };

interface Change {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

interface Watcher {
  resource: string;
  namespace: string | undefined;
  fieldSelector: string | undefined;
  res: ServerResponse;
}

export interface LogEntry {
  /** Fixed 9-digit RFC3339Nano (what the kubelet prints). */
  ts: string;
  line: string;
}

interface LogFile {
  current: LogEntry[];
  previous: LogEntry[];
  followers: Set<ServerResponse>;
}

export function fixedTs(ms: number, nanos = 0): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 19)}.${String((ms % 1000) * 1_000_000 + nanos).padStart(9, '0')}Z`;
}

let uidSeq = 0;

export class FakeKube {
  private server: Server;
  private sockets = new Set<Socket>();
  private rv = 100;
  private objects = new Map<string, Map<string, Obj>>([
    ['pods', new Map()],
    ['events', new Map()],
  ]);
  private history: (Change & { resource: string })[] = [];
  /** Watches asking for a resourceVersion below this get 410 Gone. */
  compactedRv = 0;
  private watchers = new Set<Watcher>();
  private logs = new Map<string, LogFile>();
  private forbidden = new Set<string>();
  /** Every request: method, path and query (assertions on sinceTime etc.). */
  requests: { path: string; query: URLSearchParams }[] = [];
  /** Max bytes per written piece of a log response (cuts lines). */
  pieceBytes = 7;
  port = 0;
  down = false;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(port = 0): Promise<void> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'test-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** A kubeconfig file for this server (token auth over plain HTTP). */
  kubeconfigFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'rsd-fake-kube-'));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: fake, cluster: {server: "' + this.url + '"}}]',
        'users: [{name: u, user: {token: test-token}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: u}}]',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return file;
  }

  api(): KubeApi {
    return new KubeApi({ kubeconfigPath: this.kubeconfigFile() });
  }

  /** Simulates a server outage: every open connection dropped; new ones refused while down. */
  async goDown(): Promise<void> {
    this.down = true;
    this.dropConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  async comeBack(): Promise<void> {
    this.down = false;
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await this.start(this.port);
  }

  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.watchers.clear();
    for (const f of this.logs.values()) f.followers.clear();
  }

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  forbid(verb: string, resource: string): void {
    this.forbidden.add(`${verb} ${resource}`);
  }

  allow(verb: string, resource: string): void {
    this.forbidden.delete(`${verb} ${resource}`);
  }

  // ---- objects -------------------------------------------------------------------------------

  put(resource: 'pods' | 'events', obj: Obj): Obj {
    const store = this.objects.get(resource)!;
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const existed = store.get(key);
    const o = structuredClone(obj);
    o.metadata.uid = existed?.metadata.uid ?? obj.metadata.uid ?? `uid-${++uidSeq}`;
    o.metadata.resourceVersion = String(++this.rv);
    store.set(key, o);
    this.publish(resource, existed ? 'MODIFIED' : 'ADDED', o);
    return o;
  }

  remove(resource: 'pods' | 'events', namespace: string, name: string): void {
    const store = this.objects.get(resource)!;
    const o = store.get(`${namespace}/${name}`);
    if (!o) return;
    store.delete(`${namespace}/${name}`);
    const d = structuredClone(o);
    d.metadata.resourceVersion = String(++this.rv);
    this.publish(resource, 'DELETED', d);
  }

  get(resource: 'pods' | 'events', namespace: string, name: string): Obj | undefined {
    return this.objects.get(resource)!.get(`${namespace}/${name}`);
  }

  /** Sends a BOOKMARK with the current resourceVersion to every watcher of the resource. */
  bookmark(resource: string): void {
    for (const w of this.watchers) {
      if (w.resource === resource) w.res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Bookmark', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } }) + '\n');
    }
  }

  /** Compacts history: watchers are told 410 Expired (as an ERROR event on the open stream) and closed. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
    for (const w of [...this.watchers]) {
      w.res.end(JSON.stringify({ type: 'ERROR', object: this.status(410, 'Expired', `too old resource version: 1 (${this.rv})`) }) + '\n');
      this.watchers.delete(w);
    }
  }

  private publish(resource: string, type: Change['type'], object: Obj): void {
    const rv = Number(object.metadata.resourceVersion);
    this.history.push({ resource, rv, type, object });
    if (this.history.length > 5000) this.history.shift();
    for (const w of this.watchers) {
      if (w.resource !== resource || !this.matches(object, w.namespace, w.fieldSelector)) continue;
      w.res.write(JSON.stringify({ type, object }) + '\n');
    }
  }

  private matches(o: Obj, namespace: string | undefined, fieldSelector: string | undefined): boolean {
    if (namespace && o.metadata.namespace !== namespace) return false;
    for (const term of (fieldSelector ?? '').split(',').filter(Boolean)) {
      const [k, v] = term.split('=');
      if (k === 'spec.nodeName' && (o.spec as { nodeName?: string } | undefined)?.nodeName !== v) return false;
    }
    return true;
  }

  // ---- logs ----------------------------------------------------------------------------------

  private file(ns: string, pod: string, container: string): LogFile {
    const k = `${ns}/${pod}/${container}`;
    let f = this.logs.get(k);
    if (!f) this.logs.set(k, (f = { current: [], previous: [], followers: new Set() }));
    return f;
  }

  appendLog(ns: string, pod: string, container: string, entries: LogEntry[]): void {
    const f = this.file(ns, pod, container);
    f.current.push(...entries);
    const text = entries.map((e) => `${e.ts} ${e.line}\n`).join('');
    for (const res of f.followers) void this.writePieces(res, text);
  }

  /** Container restart: the current log becomes the previous one, followers of the old instance get EOF. */
  restartContainer(ns: string, pod: string, container: string): void {
    const f = this.file(ns, pod, container);
    f.previous = f.current;
    f.current = [];
    for (const res of f.followers) res.end();
    f.followers.clear();
  }

  /**
   * Kubelet log rotation on Kubernetes < 1.29: followers keep their connection but get nothing more (the
   * stall); lines already in the file are gone for new readers, who only see what is written afterwards.
   */
  rotate(ns: string, pod: string, container: string): void {
    const f = this.file(ns, pod, container);
    f.current = [];
    f.followers.clear();
  }

  followersOf(ns: string, pod: string, container: string): number {
    return this.file(ns, pod, container).followers.size;
  }

  private async writePieces(res: ServerResponse, text: string): Promise<void> {
    const buf = Buffer.from(text);
    for (let i = 0; i < buf.length; i += this.pieceBytes) {
      if (res.destroyed || res.writableEnded) return;
      res.write(buf.subarray(i, i + this.pieceBytes));
      if (buf.length > 4096) continue;
      await new Promise((r) => setImmediate(r));
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private status(code: number, reason: string, message: string): Record<string, unknown> {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  }

  private fail(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(this.status(code, reason, message)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.url);
    this.requests.push({ path: u.pathname, query: u.searchParams });
    if (req.headers.authorization !== 'Bearer test-token') return this.fail(res, 401, 'Unauthorized', 'Unauthorized');
    if (u.pathname === '/version') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ major: '1', minor: '34', gitVersion: 'v1.34.0-fake' }));
    }
    const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?(pods|events)(?:\/([^/]+)(?:\/(log))?)?$/.exec(u.pathname);
    if (!m) return this.fail(res, 404, 'NotFound', 'the server could not find the requested resource');
    const [, ns, resource, name, sub] = m as unknown as [string, string | undefined, 'pods' | 'events', string | undefined, string | undefined];
    const watch = u.searchParams.get('watch') === '1' || u.searchParams.get('watch') === 'true';
    const verb = sub === 'log' ? 'get' : name ? 'get' : watch ? 'watch' : 'list';
    const rbacResource = sub ? `${resource}/${sub}` : resource;
    if (this.forbidden.has(`${verb} ${rbacResource}`)) {
      const scope = ns ? `in the namespace "${ns}"` : 'at the cluster scope';
      return this.fail(res, 403, 'Forbidden', `${rbacResource} is forbidden: User "system:serviceaccount:rsd:detector" cannot ${verb} resource "${resource}"${sub ? ` subresource "${sub}"` : ''} in API group "" ${scope}`);
    }
    if (sub === 'log' && ns && name) return this.serveLog(ns, name, u.searchParams, res);
    if (watch) return this.serveWatch(resource, ns, u.searchParams, res);
    return this.serveList(resource, ns, u.searchParams, res);
  }

  private serveList(resource: 'pods' | 'events', ns: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const all = [...this.objects.get(resource)!.values()].filter((o) => this.matches(o, ns, q.get('fieldSelector') ?? undefined));
    const limit = Number(q.get('limit') ?? 0) || all.length;
    const offset = Number(q.get('continue') ?? 0);
    const items = all.slice(offset, offset + limit);
    const next = offset + limit < all.length ? String(offset + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: resource === 'pods' ? 'PodList' : 'EventList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) }, items }));
  }

  private serveWatch(resource: string, ns: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const from = Number(q.get('resourceVersion') ?? 0);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // The API server sends the headers of a watch at once, before any event.
    res.flushHeaders();
    if (from && from < this.compactedRv) {
      res.end(JSON.stringify({ type: 'ERROR', object: this.status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) }) + '\n');
      return;
    }
    const fieldSelector = q.get('fieldSelector') ?? undefined;
    for (const c of this.history) {
      if (c.resource === resource && c.rv > from && this.matches(c.object, ns, fieldSelector)) res.write(JSON.stringify({ type: c.type, object: c.object }) + '\n');
    }
    const w: Watcher = { resource, namespace: ns, fieldSelector, res };
    this.watchers.add(w);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const t = timeout ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      clearTimeout(t);
      this.watchers.delete(w);
    });
  }

  private serveLog(ns: string, pod: string, q: URLSearchParams, res: ServerResponse): void {
    if (!this.objects.get('pods')!.has(`${ns}/${pod}`)) return this.fail(res, 404, 'NotFound', `pods "${pod}" not found`);
    const container = q.get('container') ?? '';
    const f = this.file(ns, pod, container);
    const previous = q.get('previous') === 'true';
    const since = q.get('sinceTime');
    if (since && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(since)) return this.fail(res, 400, 'BadRequest', `sinceTime must have whole-second precision in this fake, got ${since}`);
    if (previous && f.previous.length === 0) return this.fail(res, 400, 'BadRequest', `previous terminated container "${container}" in pod "${pod}" not found`);
    const src = previous ? f.previous : f.current;
    const sinceKey = since ? since.replace('Z', '.000000000Z') : '';
    const text = src
      .filter((e) => e.ts >= sinceKey)
      .map((e) => `${q.get('timestamps') === 'true' ? `${e.ts} ` : ''}${e.line}\n`)
      .join('');
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    void this.writePieces(res, text).then(() => {
      if (q.get('follow') === 'true' && !previous) {
        f.followers.add(res);
        res.on('close', () => f.followers.delete(res));
      } else res.end();
    });
  }
}

// ---- object builders ---------------------------------------------------------------------------

export interface PodSpecInput {
  name: string;
  namespace?: string;
  node?: string;
  labels?: Record<string, string>;
  owner?: { kind: string; name: string };
  containers?: { name: string; id: string; startedAt?: string; state?: 'running' | 'waiting' | 'terminated'; reason?: string; exitCode?: number; restartCount?: number; last?: { id: string; reason: string; exitCode: number; startedAt?: string; finishedAt?: string } }[];
}

export function podObject(p: PodSpecInput): Obj {
  // Containers "started" five minutes ago: test lines are stamped within the last minute.
  const now = new Date(Date.now() - 300_000).toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace ?? 'default',
      labels: p.labels ?? {},
      ...(p.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: 'o', controller: true }] } : {}),
    },
    spec: { nodeName: p.node ?? 'node-a', containers: (p.containers ?? []).map((c) => ({ name: c.name, image: 'x' })) },
    status: {
      phase: 'Running',
      containerStatuses: (p.containers ?? []).map((c) => ({
        name: c.name,
        containerID: c.id,
        restartCount: c.restartCount ?? 0,
        ready: true,
        state:
          c.state === 'waiting'
            ? { waiting: { reason: c.reason ?? 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' } }
            : c.state === 'terminated'
              ? { terminated: { exitCode: c.exitCode ?? 0, reason: c.reason ?? 'Completed', containerID: c.id, startedAt: c.startedAt ?? now, finishedAt: now } }
              : { running: { startedAt: c.startedAt ?? now } },
        lastState: c.last
          ? { terminated: { exitCode: c.last.exitCode, reason: c.last.reason, containerID: c.last.id, startedAt: c.last.startedAt ?? now, finishedAt: c.last.finishedAt ?? now } }
          : {},
      })),
    },
  };
}

export function eventObject(e: { name: string; namespace?: string; reason: string; type?: string; count?: number; message?: string; pod?: string; lastTimestamp?: string; seriesCount?: number }): Obj {
  const now = e.lastTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: e.name, namespace: e.namespace ?? 'default' },
    involvedObject: { kind: 'Pod', namespace: e.namespace ?? 'default', name: e.pod ?? 'web-1', fieldPath: 'spec.containers{app}' },
    reason: e.reason,
    message: e.message ?? `${e.reason} happened`,
    type: e.type ?? 'Warning',
    count: e.count ?? 1,
    firstTimestamp: now,
    lastTimestamp: now,
    source: { component: 'kubelet', host: 'node-a' },
    ...(e.seriesCount ? { series: { count: e.seriesCount, lastObservedTime: now.replace('Z', '.000000Z') } } : {}),
  };
}
