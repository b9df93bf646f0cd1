/**
 * The bundle server's HTTP surface with a fake Kubernetes behind it: authentication (every way a
 * token can be wrong is a 401), scope (every way a request can reach outside it is a 403), request
 * validation (400/413/415), the bundle lifecycle, and ~1,000 random or mutated bodies that must only
 * ever get 4xx (or 202) while the server stays up. Every refusal is checked not to carry pod data.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { SignJWT, base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { KubeApiError } from '../../src/sources/kube/api.ts';
import { Authenticator } from '../../src/servers/bundles/auth.ts';
import type { BundlePod, KubeReader, LogQuery } from '../../src/servers/bundles/kube.ts';
import { BundleServer, ROUTES } from '../../src/servers/bundles/server.ts';
import { BundleStore } from '../../src/servers/bundles/store.ts';

/** Heap in use after a full collection (gc exposed at run time, as --expose-gc would). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

const SECRET = 'test-secret-that-is-long-enough-0123456789';
const MARK = 'PODDATA';

function pod(namespace: string, name: string, extra: Partial<BundlePod['status']> = {}, annotations: Record<string, string> = {}): BundlePod {
  return {
    metadata: { namespace, name, labels: { app: name.split('-')[0]! }, annotations: { ...annotations, note: `${MARK}-annotation` } },
    spec: { nodeName: 'node-a', containers: [{ name: 'app' }] },
    status: { phase: 'Running', podIP: '10.0.0.1', containerStatuses: [{ name: 'app', ready: true, restartCount: 0 }], ...extra },
  };
}

const PODS: BundlePod[] = [
  pod('shop', 'web-0'),
  pod('shop', 'web-1', { containerStatuses: [{ name: 'app', ready: true, restartCount: 2, lastState: { terminated: { exitCode: 1 } } }] }, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100' }),
  pod('payments', 'api-0'),
  pod('shop-staging', 'web-0'),
];

class FakeReader implements KubeReader {
  logCalls: LogQuery[] = [];
  async listPods(namespace: string, selector: string | undefined, max: number): Promise<BundlePod[]> {
    const sel = selector?.split('=');
    return PODS.filter((p) => (namespace === '*' || p.metadata.namespace === namespace) && (!sel || p.metadata.labels?.[sel[0]!] === sel[1])).slice(0, max);
  }
  async getPod(namespace: string, name: string): Promise<BundlePod | null> {
    return PODS.find((p) => p.metadata.namespace === namespace && p.metadata.name === name) ?? null;
  }
  async logs(q: LogQuery): Promise<Readable> {
    this.logCalls.push(q);
    if (q.previous && q.pod !== 'web-1') throw new KubeApiError({ status: 400, verb: 'get', resource: 'pods/log', message: 'previous terminated container not found' });
    const now = Date.now();
    const lines = Array.from({ length: 5 }, (_, i) => `${new Date(now - (5 - i) * 1000).toISOString()} ${MARK} ${q.namespace}/${q.pod}${q.previous ? ' prev' : ''} line ${i} password=hunter2`);
    return Readable.from(lines.map((l) => `${l}\n`));
  }
  async *events(namespace: string): AsyncIterable<import('../../src/sources/kube/k8s-types.ts').CoreEvent[]> {
    yield [
      { metadata: { name: 'e1', namespace }, involvedObject: { kind: 'Pod', name: 'web-1', namespace }, reason: 'BackOff', message: `${MARK} back-off restarting`, type: 'Warning', count: 3, lastTimestamp: new Date().toISOString() },
      { metadata: { name: 'e2', namespace }, involvedObject: { kind: 'Pod', name: 'web-1', namespace }, reason: 'Old', message: 'old', lastTimestamp: '2020-01-01T00:00:00Z' },
    ];
  }
}

interface Claims {
  allowedNamespaces?: unknown;
  allowedServices?: unknown;
  capabilities?: unknown;
  admin?: unknown;
  [k: string]: unknown;
}
async function token(claims: Claims = {}, o: { secret?: string; alg?: string; exp?: number | null } = {}): Promise<string> {
  let j = new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? 'HS256' }).setSubject('agent-01').setIssuedAt();
  if (o.exp !== null) j = j.setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 600);
  return j.sign(new TextEncoder().encode(o.secret ?? SECRET));
}
const ALL = ['pods', 'logs', 'events', 'metrics'];
const shopToken = () => token({ allowedNamespaces: ['shop'], capabilities: ALL });

describe('bundle server HTTP surface', () => {
  let dir: string;
  let server: BundleServer;
  let base: string;
  const reader = new FakeReader();

  async function start(legacyFullAccess = false, extra: { maxConcurrentBuilds?: number } = {}): Promise<{ server: BundleServer; base: string }> {
    const s = new BundleServer({
      host: '127.0.0.1',
      port: 0,
      auth: new Authenticator({ secret: SECRET, clockSkewSeconds: 5, legacyFullAccess }),
      reader,
      store: new BundleStore({ dir: join(dir, String(Math.random())), ttlMs: 60 * 60_000, maxBundles: 50, maxDiskBytes: 64 * 1024 * 1024, maxBundleBytes: 8 * 1024 * 1024, maxConcurrentBuilds: extra.maxConcurrentBuilds ?? 50 }),
      limits: { maxPods: 20, maxMetricsPods: 20, maxTotalLogLines: 50_000, maxSinceSeconds: 3600, metricsTimeoutMs: 2000, maxMetricsTimeoutMs: 10_000 },
      maxBodyBytes: 64 * 1024,
      maxLineBytes: 16 * 1024,
      maxMetricsBytes: 1024 * 1024,
      maxEvents: 10_000,
      maxDiscoveryPods: 500,
      ttlMs: 60 * 60_000,
      log: createLogger('silent'),
      fetchMetrics: async (url) => `# HELP up\nup{url="${url}"} 1\n`,
    });
    await s.start();
    return { server: s, base: `http://127.0.0.1:${s.port}` };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-bundles-unit-'));
    ({ server, base } = await start());
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function call(method: string, path: string, o: { token?: string; body?: unknown; raw?: string; contentType?: string } = {}): Promise<{ status: number; text: string; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
    const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    return { status: res.status, text, headers: res.headers };
  }
  const noLeak = (text: string) => {
    expect(text).not.toContain(MARK);
    expect(text).not.toContain('10.0.0.1');
    expect(text).not.toContain(SECRET);
  };
  const selectorBody = (namespace = 'shop') => ({ target: { namespace, selector: 'app=web' } });

  async function waitDone(id: string, t: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 200; i++) {
      const r = await call('GET', `/v1/bundles/${id}`, { token: t });
      const s = JSON.parse(r.text) as Record<string, unknown>;
      if (s.status !== 'building') return s;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error('bundle never finished');
  }
  async function download(id: string, t: string): Promise<Array<Record<string, unknown>>> {
    const res = await fetch(`${base}/v1/bundles/${id}/download`, { headers: { authorization: `Bearer ${t}` } });
    expect(res.status).toBe(200);
    const buf = Buffer.from(await res.arrayBuffer());
    return gunzipSync(buf).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('serves the no-auth endpoints, and skill.md lists every route of the table', async () => {
    for (const p of ['/healthz', '/livez', '/readyz']) expect((await call('GET', p)).status).toBe(200);
    const skill = await call('GET', '/skill.md');
    expect(skill.status).toBe(200);
    for (const r of ROUTES) expect(skill.text).toContain(`| ${r.method} | \`${r.path}\` |`);
    expect((await call('GET', '/.well-known/skill.md')).text).toBe(skill.text);
    expect(skill.text).not.toContain(SECRET);
  });

  describe('401: no or bad token', () => {
    const cases: Array<[string, () => Promise<Record<string, string>>]> = [
      ['missing token', async () => ({})],
      ['expired', async () => ({ authorization: `Bearer ${await token({ admin: true }, { exp: Math.floor(Date.now() / 1000) - 120 })}` })],
      ['no exp', async () => ({ authorization: `Bearer ${await token({ admin: true }, { exp: null })}` })],
      ['HS512', async () => ({ authorization: `Bearer ${await token({ admin: true }, { alg: 'HS512' })}` })],
      ['wrong secret', async () => ({ authorization: `Bearer ${await token({ admin: true }, { secret: 'another-secret-that-is-long-enough-xyz' })}` })],
      [
        'alg none',
        async () => {
          const h = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
          const p = base64url.encode(JSON.stringify({ admin: true, exp: Math.floor(Date.now() / 1000) + 600 }));
          return { authorization: `Bearer ${h}.${p}.` };
        },
      ],
      [
        'alg none with a valid signature copied',
        async () => {
          const good = (await token({ admin: true })).split('.');
          return { authorization: `Bearer ${base64url.encode(JSON.stringify({ alg: 'none' }))}.${good[1]}.${good[2]}` };
        },
      ],
      ['Basic scheme', async () => ({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` })],
      ['garbage', async () => ({ authorization: 'Bearer not-a-jwt' })],
    ];
    for (const [name, headers] of cases) {
      it(name, async () => {
        for (const [method, path, body] of [
          ['GET', '/v1/pods?ns=shop', undefined],
          ['POST', '/v1/bundles', selectorBody()],
        ] as const) {
          const res = await fetch(base + path, { method, headers: { ...(await headers()), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
          const text = await res.text();
          expect(res.status, `${name} ${method} ${path}`).toBe(401);
          noLeak(text);
        }
      });
    }
    it('token in the query string is not read', async () => {
      const t = await token({ admin: true });
      for (const q of [`access_token=${t}`, `token=${t}`, `jwt=${t}`]) {
        const r = await call('GET', `/v1/pods?ns=shop&${q}`);
        expect(r.status).toBe(401);
        noLeak(r.text);
        expect(r.text).not.toContain(t);
      }
    });
  });

  describe('403: valid token, out of scope', () => {
    it('a namespace-scoped token asking ns=* or another namespace', async () => {
      const t = await shopToken();
      for (const p of ['/v1/pods?ns=*', '/v1/pods', '/v1/pods?ns=payments', '/v1/pods?ns=shop-staging']) {
        const r = await call('GET', p, { token: t });
        expect(r.status, p).toBe(403);
        noLeak(r.text);
      }
      const r = await call('POST', '/v1/bundles', { token: t, body: selectorBody('*') });
      expect(r.status).toBe(403);
      noLeak(r.text);
      expect(reader.logCalls).toHaveLength(0);
    });
    it('pods[] naming another namespace', async () => {
      const t = await shopToken();
      const r = await call('POST', '/v1/bundles', { token: t, body: { target: { pods: [{ namespace: 'shop', pod: 'web-0' }, { namespace: 'payments', pod: 'api-0' }] } } });
      expect(r.status).toBe(403);
      noLeak(r.text);
      expect(reader.logCalls).toHaveLength(0);
    });
    it('missing capabilities: pods for discovery and selectors, the data sources for bundles', async () => {
      const logsOnly = await token({ allowedNamespaces: ['shop'], capabilities: ['logs'] });
      expect((await call('GET', '/v1/pods?ns=shop', { token: logsOnly })).status).toBe(403);
      expect((await call('POST', '/v1/bundles', { token: logsOnly, body: { target: { namespace: 'shop', selector: 'app=web' }, include: { events: { enabled: false }, metrics: { enabled: false } } } })).status).toBe(403);
      // Direct pods need no `pods` capability, only what is collected.
      const ok = await call('POST', '/v1/bundles', { token: logsOnly, body: { target: { pods: [{ namespace: 'shop', pod: 'web-0' }] }, include: { events: { enabled: false }, metrics: { enabled: false } } } });
      expect(ok.status).toBe(202);
      const withEvents = await call('POST', '/v1/bundles', { token: logsOnly, body: { target: { pods: [{ namespace: 'shop', pod: 'web-0' }] }, include: { metrics: { enabled: false } } } });
      expect(withEvents.status).toBe(403);
    });
    it('a legacy token without scope claims reaches nothing unless legacyFullAccess is on', async () => {
      const legacy = await token({});
      const r = await call('GET', '/v1/pods?ns=shop', { token: legacy });
      expect(r.status).toBe(403);
      noLeak(r.text);
      const other = await start(true);
      try {
        const res = await fetch(`${other.base}/v1/pods?ns=*`, { headers: { authorization: `Bearer ${legacy}` } });
        expect(res.status).toBe(200);
      } finally {
        await other.server.stop();
      }
    });
    it('bundle status and download need the scope the bundle was made with', async () => {
      const admin = await token({ admin: true });
      const created = await call('POST', '/v1/bundles', { token: admin, body: { target: { pods: [{ namespace: 'payments', pod: 'api-0' }] } } });
      expect(created.status).toBe(202);
      const id = (JSON.parse(created.text) as { bundleId: string }).bundleId;
      await waitDone(id, admin);
      const t = await shopToken();
      for (const p of [`/v1/bundles/${id}`, `/v1/bundles/${id}/download`]) {
        const r = await call('GET', p, { token: t });
        expect(r.status).toBe(403);
        noLeak(r.text);
      }
      const narrow = await token({ allowedNamespaces: ['payments'], capabilities: ['logs'] });
      expect((await call('GET', `/v1/bundles/${id}/download`, { token: narrow })).status).toBe(403);
    });
  });

  describe('400/413/415: bad requests', () => {
    const bad: Array<[string, unknown]> = [
      ['both time-window forms', { timeWindow: { sinceSeconds: 60, start: '2026-02-09T00:00:00Z', end: '2026-02-09T00:10:00Z' }, ...selectorBody() }],
      ['sinceSeconds past the max', { timeWindow: { sinceSeconds: 3601 }, ...selectorBody() }],
      ['absolute window past the max', { timeWindow: { start: '2026-02-09T00:00:00Z', end: '2026-02-09T01:00:01Z' }, ...selectorBody() }],
      ['start only', { timeWindow: { start: '2026-02-09T00:00:00Z' }, ...selectorBody() }],
      ['not Z', { timeWindow: { start: '2026-02-09T00:00:00+01:00', end: '2026-02-09T00:10:00+01:00' }, ...selectorBody() }],
      ['selector and pods', { target: { selector: 'app=web', pods: [{ namespace: 'shop', pod: 'web-0' }] } }],
      ['no target', {}],
      ['unknown field', { ...selectorBody(), extra: 1 }],
      ['maxPods above the server', { ...selectorBody(), limits: { maxPods: 21 } }],
      ['tailLines 0', { ...selectorBody(), include: { logs: { tailLines: 0 } } }],
      ['pod name with a slash', { target: { pods: [{ namespace: 'shop', pod: '../secrets' }] } }],
      ['array body', [1, 2]],
      ['null body', null],
    ];
    for (const [name, body] of bad) {
      it(name, async () => {
        const r = await call('POST', '/v1/bundles', { token: await shopToken(), body });
        expect(r.status).toBe(400);
        noLeak(r.text);
      });
    }
    it('oversized body → 413, not JSON → 400, wrong content type → 415', async () => {
      const t = await shopToken();
      const big = await call('POST', '/v1/bundles', { token: t, raw: JSON.stringify({ ...selectorBody(), pad: 'x'.repeat(200_000) }) });
      expect(big.status).toBe(413);
      noLeak(big.text);
      expect((await call('POST', '/v1/bundles', { token: t, raw: '{"target":' })).status).toBe(400);
      expect((await call('POST', '/v1/bundles', { token: t, raw: JSON.stringify(selectorBody()), contentType: 'text/plain' })).status).toBe(415);
      expect((await call('GET', '/healthz')).status).toBe(200);
    });
    it('unknown ids are 404', async () => {
      const t = await shopToken();
      for (const id of ['nope', 'b_AAAAAAAAAAAAAAAAAAAAAAAA', '..%2F..%2Fetc%2Fpasswd']) expect((await call('GET', `/v1/bundles/${id}`, { token: t })).status).toBe(404);
    });
  });

  it('discovery: redacted for non-admin tokens, full for admin', async () => {
    const r = await call('GET', '/v1/pods?ns=shop&q=web', { token: await shopToken() });
    expect(r.status).toBe(200);
    const items = (JSON.parse(r.text) as { items: Array<Record<string, unknown>> }).items;
    expect(items.map((i) => i.name)).toEqual(['web-0', 'web-1']);
    expect(Object.keys(items[0]!).sort()).toEqual(['containers', 'labels', 'name', 'namespace', 'phase', 'ready']);
    noLeak(r.text);
    const wild = await call('GET', '/v1/pods?ns=*', { token: await token({ allowedNamespaces: ['*'], capabilities: ['pods'] }) });
    expect((JSON.parse(wild.text) as { items: unknown[] }).items).toHaveLength(4);
    const a = await call('GET', '/v1/pods?ns=*&selector=app%3Dweb', { token: await token({ admin: true }) });
    const ai = (JSON.parse(a.text) as { items: Array<Record<string, unknown>> }).items;
    expect(ai).toHaveLength(3);
    expect(ai[0]).toMatchObject({ podIP: '10.0.0.1', nodeName: 'node-a' });
    const pat = await call('GET', '/v1/pods?ns=shop-staging', { token: await token({ allowedNamespaces: ['shop-*'], capabilities: ['pods'] }) });
    expect(pat.status).toBe(200);
  });

  it('a selector bundle: logs (previous or its skip record), events of the window, metrics states, all redacted', async () => {
    const t = await shopToken();
    const r = await call('POST', '/v1/bundles', { token: t, body: { ...selectorBody(), include: { logs: { tailLines: 3 } } } });
    expect(r.status).toBe(202);
    const id = (JSON.parse(r.text) as { bundleId: string }).bundleId;
    expect(id.length).toBeGreaterThanOrEqual(24);
    const st = await waitDone(id, t);
    expect(st.status).toBe('done');
    const recs = await download(id, t);
    expect(recs[0]).toMatchObject({ type: 'meta', bundleId: id, pods: [{ namespace: 'shop', pod: 'web-0' }, { namespace: 'shop', pod: 'web-1' }] });
    const logs = recs.filter((x) => x.type === 'log');
    expect(logs.filter((x) => x.pod === 'web-0' && !x.previous && x.line)).toHaveLength(3);
    expect(logs.find((x) => x.pod === 'web-0' && x.previous)).toMatchObject({ skipped: true, reason: 'no_previous_container' });
    expect(logs.filter((x) => x.pod === 'web-1' && x.previous && x.line)).toHaveLength(3);
    for (const l of logs.filter((x) => x.line)) {
      expect(l.line).not.toContain('hunter2');
      expect(l.line).toContain('[REDACTED]');
    }
    const events = recs.filter((x) => x.type === 'event');
    expect(events.map((e) => e.reason)).toEqual(['BackOff']);
    const m = recs.filter((x) => x.type === 'metrics_text');
    expect(m.find((x) => x.pod === 'web-0')).toMatchObject({ skipped: true, reason: 'annotation_missing' });
    expect(m.find((x) => x.pod === 'web-1')).toMatchObject({ ok: true, port: 9100 });
  });

  it('429 with Retry-After past maxConcurrentBuilds', async () => {
    const slow: KubeReader = { ...reader, listPods: () => new Promise(() => {}), getPod: reader.getPod.bind(reader), logs: reader.logs.bind(reader), events: reader.events.bind(reader) };
    const s2 = new BundleServer({ ...server.opts, reader: slow, port: 0, store: new BundleStore({ dir: join(dir, 'slow'), ttlMs: 60_000, maxBundles: 10, maxDiskBytes: 1 << 26, maxBundleBytes: 1 << 20, maxConcurrentBuilds: 1 }) });
    await s2.start();
    try {
      const t = await shopToken();
      const post = () => fetch(`http://127.0.0.1:${s2.port}/v1/bundles`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(selectorBody()) });
      expect((await post()).status).toBe(202);
      const busy = await post();
      expect(busy.status).toBe(429);
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await s2.stop();
    }
  });

  it('~1,000 random and mutated bodies: only 4xx (or 202), and the server stays up', async () => {
    const t = await token({ allowedNamespaces: ['shop'], capabilities: ALL });
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const values = [null, true, false, 0, -1, 1, 3600, 3601, 1e308, -0, 1.5, '', '*', 'shop', 'payments', '../x', 'a'.repeat(300), '2026-02-09T00:00:00Z', [], [1], {}, { a: 1 }, ['shop'], '\u0000', '💥'];
    const valid = () => ({
      timeWindow: { sinceSeconds: 600 },
      target: rnd() < 0.5 ? { namespace: 'shop', selector: 'app=web' } : { pods: [{ namespace: 'shop', pod: 'web-0' }] },
      include: { logs: { enabled: true, tailLines: 5, previous: true, timestamps: true }, events: { enabled: true }, metrics: { enabled: false } },
      limits: { maxPods: 5, maxTotalLogLines: 100, metricsTimeoutMs: 2000 },
    });
    const mutate = (o: unknown, depth = 0): unknown => {
      if (o && typeof o === 'object' && !Array.isArray(o) && depth < 4) {
        const obj = { ...(o as Record<string, unknown>) };
        const keys = Object.keys(obj);
        const k = pick([...keys, 'junk', 'start', 'end', 'pods', 'selector', 'sinceSeconds']);
        const r = rnd();
        if (r < 0.3) obj[k] = pick(values);
        else if (r < 0.45) delete obj[k];
        else if (keys.length) obj[pick(keys)] = mutate(obj[pick(keys)], depth + 1);
        return obj;
      }
      if (Array.isArray(o)) return rnd() < 0.5 ? [...o, pick(values)] : o.map((x) => mutate(x, depth + 1));
      return pick(values);
    };
    const counts: Record<string, number> = {};
    let heap0 = 0;
    for (let i = 0; i < 1000; i++) {
      // The first 200 warm the code paths up (compiled code lives on the heap too).
      if (i === 200) heap0 = heapAfterGc();
      let raw: string;
      const r = rnd();
      if (r < 0.1) raw = Array.from({ length: Math.floor(rnd() * 200) }, () => String.fromCharCode(Math.floor(rnd() * 128))).join('');
      else if (r < 0.15) raw = JSON.stringify(valid()).slice(0, Math.floor(rnd() * 100));
      else raw = JSON.stringify(mutate(mutate(valid())));
      const res = await call('POST', '/v1/bundles', { token: t, raw });
      counts[res.status] = (counts[res.status] ?? 0) + 1;
      expect(res.status === 202 || (res.status >= 400 && res.status < 500), `body ${raw.slice(0, 200)} → ${res.status} ${res.text}`).toBe(true);
      noLeak(res.text);
    }
    expect(counts['400']).toBeGreaterThan(300);
    // Memory flat: what 800 more refused or accepted requests leave behind is the store's small index.
    const grownMiB = (heapAfterGc() - heap0) / 2 ** 20;
    process.stderr.write(`[fuzz heap] ${grownMiB.toFixed(2)} MiB over the last 800 requests\n`);
    expect(grownMiB, `heap grew ${grownMiB.toFixed(1)} MiB over 800 requests`).toBeLessThan(4);
    // Random query strings and path segments on the GET routes, out-of-scope namespaces included.
    const chars = 'abc*%/?&=.-_~ 0 9Zé\u0000+';
    const junk = () => Array.from({ length: Math.floor(rnd() * 24) }, () => chars[Math.floor(rnd() * chars.length)]).join('');
    for (let i = 0; i < 200; i++) {
      const path = pick([`/v1/pods?ns=${encodeURIComponent(junk())}&selector=${encodeURIComponent(junk())}&q=${encodeURIComponent(junk())}`, `/v1/pods?${junk()}`, `/v1/bundles/${junk()}`, `/v1/bundles/${junk()}/download`, `/v1/${junk()}`, `/${junk()}`]);
      let res: { status: number; text: string };
      try {
        res = await call('GET', path, { token: t });
      } catch {
        continue; // fetch refused to send it (not a valid URL)
      }
      expect(res.status === 200 || (res.status >= 400 && res.status < 500), `GET ${path} → ${res.status} ${res.text}`).toBe(true);
      if (res.status !== 200) noLeak(res.text);
      else expect(res.text).not.toContain('payments');
    }
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/v1/pods?ns=shop', { token: t })).status).toBe(200);
  });

  it('stop deletes nothing it does not own and a restart empties the directory', async () => {
    const d = join(dir, 'restart');
    const st = new BundleStore({ dir: d, ttlMs: 1000, maxBundles: 2, maxDiskBytes: 1 << 20, maxBundleBytes: 1 << 10, maxConcurrentBuilds: 2 });
    await st.start();
    const e = await st.reserve(['shop'], ['logs']);
    await st.build(e, async (w) => {
      await w({ type: 'meta' });
    });
    expect(e.state).toBe('done');
    expect(await readdir(d)).toEqual([`${e.id}.ndjson.gz`]);
    await st.stop();
    const again = new BundleStore({ dir: d, ttlMs: 1000, maxBundles: 2, maxDiskBytes: 1 << 20, maxBundleBytes: 1 << 10, maxConcurrentBuilds: 2 });
    await again.start();
    expect(await readdir(d)).toEqual([]);
    await again.stop();
  });
});
