/**
 * Bundle building without HTTP: limits (maxPods, maxTotalLogLines, tailLines), the absolute window,
 * excludePatterns, metrics scraping over real sockets (ok, timeout, refused), and the store's bounds
 * (bundle size, bundles kept, TTL).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectBundle, defaultFetchMetrics, type BundleRecord } from '../../src/servers/bundles/collect.ts';
import type { BundlePod, KubeReader, LogQuery } from '../../src/servers/bundles/kube.ts';
import { parseBundleRequest, type ServerLimits } from '../../src/servers/bundles/request.ts';
import { BundleStore, newBundleId, BUNDLE_ID, StoreFull } from '../../src/servers/bundles/store.ts';

const LIMITS: ServerLimits = { maxPods: 20, maxMetricsPods: 20, maxTotalLogLines: 50_000, maxSinceSeconds: 3600, metricsTimeoutMs: 2000, maxMetricsTimeoutMs: 10_000 };
const T0 = Date.parse('2026-12-03T06:00:00Z');

const mkPod = (name: string): BundlePod => ({ metadata: { namespace: 'shop', name, labels: { app: 'web' } }, spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] }, status: { phase: 'Running', containerStatuses: [] } });

function reader(n: number, lines = 100): KubeReader & { queries: LogQuery[] } {
  const pods = Array.from({ length: n }, (_, i) => mkPod(`web-${String(i).padStart(2, '0')}`));
  const queries: LogQuery[] = [];
  return {
    queries,
    listPods: async (_ns, _sel, max) => pods.slice(0, max),
    getPod: async (_ns, name) => pods.find((p) => p.metadata.name === name) ?? null,
    logs: async (q) => {
      queries.push(q);
      // One line a minute ending at T0, honouring tailLines as the API does.
      let all = Array.from({ length: lines }, (_, i) => `${new Date(T0 - (lines - 1 - i) * 60_000).toISOString()} ${q.pod}/${q.container} line ${i}${i % 10 === 0 ? ' GET /healthz' : ''}`);
      if (q.tailLines !== undefined) all = all.slice(-q.tailLines);
      return Readable.from(all.map((l) => `${l}\n`));
    },
    events: async function* () {
      yield [];
    },
  };
}

async function run(body: unknown, r: KubeReader, extra: Partial<Parameters<typeof collectBundle>[0]> = {}): Promise<BundleRecord[]> {
  const out: BundleRecord[] = [];
  await collectBundle({ reader: r, params: parseBundleRequest(body, LIMITS), bundleId: 'b_x', createdAt: new Date(T0).toISOString(), maxMetricsPods: 20, maxLineBytes: 1024, maxMetricsBytes: 4096, maxEvents: 100, signal: new AbortController().signal, now: () => T0, ...extra }, async (rec) => {
    out.push(rec);
  });
  return out;
}
const lines = (recs: BundleRecord[]) => recs.filter((r) => r.type === 'log' && typeof r.line === 'string');

describe('bundle collection', () => {
  it('a selector matching more than maxPods keeps the first maxPods and says so', async () => {
    const recs = await run({ target: { selector: 'app=web' }, limits: { maxPods: 3 }, include: { logs: { tailLines: 1, previous: false }, events: { enabled: false }, metrics: { enabled: false } } }, reader(5));
    expect(recs[0]).toMatchObject({ type: 'meta', podsTruncated: true, maxPods: 3 });
    expect((recs[0]!.pods as unknown[]).length).toBe(3);
    expect(lines(recs)).toHaveLength(6);
  });

  it('maxTotalLogLines caps the whole bundle, with skip records for what was cut', async () => {
    const recs = await run({ target: { selector: 'app=web' }, limits: { maxTotalLogLines: 250 }, include: { logs: { tailLines: 100, previous: false }, events: { enabled: false }, metrics: { enabled: false } } }, reader(3));
    expect(lines(recs)).toHaveLength(250);
    expect(recs.filter((r) => r.reason === 'max_total_log_lines').length).toBeGreaterThan(0);
  });

  it('previous=true without restarts: a skip record per container and no API call for it', async () => {
    const r = reader(1, 3);
    const recs = await run({ target: { pods: [{ namespace: 'shop', pod: 'web-00' }] }, include: { events: { enabled: false }, metrics: { enabled: false } } }, r);
    expect(recs.filter((x) => x.reason === 'no_previous_container').map((x) => x.container)).toEqual(['app', 'sidecar']);
    expect(r.queries.every((q) => !q.previous)).toBe(true);
  });

  it('an absolute window: lines inside it only, sinceTime sent, tailLines from the start of the window', async () => {
    const r = reader(1, 100);
    const recs = await run({ timeWindow: { start: new Date(T0 - 30 * 60_000).toISOString(), end: new Date(T0 - 20 * 60_000).toISOString() }, target: { pods: [{ namespace: 'shop', pod: 'web-00' }] }, include: { logs: { containers: ['app'], previous: false }, events: { enabled: false }, metrics: { enabled: false } } }, r);
    const got = lines(recs);
    expect(got).toHaveLength(11);
    expect(got[0]!.ts).toBe(new Date(T0 - 30 * 60_000).toISOString());
    expect(got.at(-1)!.ts).toBe(new Date(T0 - 20 * 60_000).toISOString());
    expect(r.queries[0]).toMatchObject({ sinceTime: new Date(T0 - 30 * 60_000).toISOString().replace('.000Z', 'Z'), timestamps: true });
    expect(r.queries[0]!.tailLines).toBeUndefined();
  });

  it('excludePatterns drop lines before they count', async () => {
    const recs = await run({ target: { pods: [{ namespace: 'shop', pod: 'web-00' }] }, include: { logs: { containers: ['app'], previous: false, tailLines: 20, excludePatterns: ['/healthz'] }, events: { enabled: false }, metrics: { enabled: false } } }, reader(1, 20));
    expect(lines(recs)).toHaveLength(18);
    expect(lines(recs).some((l) => String(l.line).includes('healthz'))).toBe(false);
  });

  it('a request that cannot be parsed names the field', () => {
    expect(() => parseBundleRequest({ target: { selector: 'a' }, timeWindow: { sinceSeconds: 10, end: '2026-01-01T00:00:00Z' } }, LIMITS)).toThrow(/timeWindow: use either/);
    expect(() => parseBundleRequest({ target: { selector: 'a', pods: [] } }, LIMITS)).toThrow(/mutually exclusive/);
    expect(() => parseBundleRequest({ target: { pods: Array.from({ length: 21 }, (_, i) => ({ namespace: 'a', pod: `p${i}` })) } }, LIMITS)).toThrow(/maxPods/);
    expect(parseBundleRequest({ target: { selector: 'app=web' } }, LIMITS)).toMatchObject({ timeWindow: { kind: 'relative', sinceSeconds: 600 }, target: { namespace: '*' }, include: { logs: { tailLines: 2000, previous: true, timestamps: true } }, limits: { maxPods: 20, maxTotalLogLines: 50_000, metricsTimeoutMs: 2000 } });
  });
});

describe('metrics scraping over real sockets', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/metrics') res.end('# HELP up\nup 1\n');
      else if (req.url === '/big') res.end('x'.repeat(10_000));
      // /stall: never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const sig = () => new AbortController().signal;

  it('ok, truncated, timeout, refused', async () => {
    expect(await defaultFetchMetrics(`http://127.0.0.1:${port}/metrics`, 1000, 4096, sig())).toBe('# HELP up\nup 1\n');
    expect(await defaultFetchMetrics(`http://127.0.0.1:${port}/big`, 1000, 100, sig())).toMatch(/^x{100}\n# \[truncated at 100 bytes\]$/);
    await expect(defaultFetchMetrics(`http://127.0.0.1:${port}/stall`, 200, 4096, sig())).rejects.toThrow('timeout after 200ms');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(defaultFetchMetrics(`http://127.0.0.1:${dead}/metrics`, 1000, 4096, sig())).rejects.toThrow('fetch_failed: ECONNREFUSED');
  });

  it('the three states in a bundle', async () => {
    const pods: BundlePod[] = [
      { metadata: { namespace: 'shop', name: 'a', annotations: {} }, spec: { containers: [] }, status: { podIP: '127.0.0.1' } },
      { metadata: { namespace: 'shop', name: 'b', annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port) } }, spec: { containers: [] }, status: { podIP: '127.0.0.1' } },
      { metadata: { namespace: 'shop', name: 'c', annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/stall' } }, spec: { containers: [] }, status: { podIP: '127.0.0.1' } },
    ];
    const r: KubeReader = { listPods: async () => pods, getPod: async () => null, logs: async () => Readable.from([]), events: async function* () {} };
    const recs = await run({ target: { selector: 'x=y' }, include: { logs: { enabled: false }, events: { enabled: false } }, limits: { metricsTimeoutMs: 300 } }, r);
    const m = recs.filter((x) => x.type === 'metrics_text');
    expect(m[0]).toMatchObject({ pod: 'a', skipped: true, reason: 'annotation_missing' });
    expect(m[1]).toMatchObject({ pod: 'b', ok: true, content: '# HELP up\nup 1\n', port, path: '/metrics' });
    expect(m[2]).toMatchObject({ pod: 'c', ok: false, error: 'timeout after 300ms' });
  });
});

describe('bundle store bounds', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-bundles-store-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ids carry ≥ 128 random bits', () => {
    const ids = new Set(Array.from({ length: 1000 }, newBundleId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(BUNDLE_ID);
    expect(Buffer.from([...ids][0]!.slice(2), 'base64url').length * 8).toBeGreaterThanOrEqual(128);
  });

  it('a bundle past maxBundleBytes fails and leaves no file; the oldest finished bundle makes room; TTL deletes', async () => {
    const d = join(dir, 'bounds');
    const st = new BundleStore({ dir: d, ttlMs: 300, maxBundles: 2, maxDiskBytes: 1 << 20, maxBundleBytes: 4096, maxConcurrentBuilds: 1 });
    await st.start();
    try {
      const big = await st.reserve(['shop'], ['logs']);
      await expect(st.reserve(['shop'], ['logs'])).rejects.toBeInstanceOf(StoreFull);
      await st.build(big, async (w) => {
        for (let i = 0; i < 100_000; i++) await w({ type: 'log', line: `${i} ${Math.random()} ${'y'.repeat(50)}` });
      });
      expect(big.state).toBe('failed');
      expect(big.error).toMatch(/exceeds 4096 bytes/);
      expect(await readdir(d)).toEqual([]);
      const a = await st.reserve(['shop'], ['logs']);
      await st.build(a, async (w) => w({ type: 'meta' }));
      const b = await st.reserve(['shop'], ['logs']);
      await st.build(b, async (w) => w({ type: 'meta' }));
      // maxBundles 2: the third evicts the oldest finished (the failed one, then a).
      const c = await st.reserve(['shop'], ['logs']);
      await st.build(c, async (w) => w({ type: 'meta', secret: 'password=hunter2' }));
      expect(st.get(big.id)).toBeUndefined();
      expect(st.get(a.id)).toBeUndefined();
      expect(st.get(c.id)?.state).toBe('done');
      await new Promise((r) => setTimeout(r, 350));
      expect(st.get(c.id)).toBeUndefined();
      await st.sweep();
      expect(await readdir(d)).toEqual([]);
    } finally {
      await st.stop();
    }
  });
});

describe('scope matching', () => {
  it('namespace patterns: exact, `*` wildcards anywhere, `*` alone; ns=* only for ["*"] or admin', async () => {
    const { wildcardMatch, mayNamespace } = await import('../../src/servers/bundles/auth.ts');
    const cases: Array<[string, string, boolean]> = [
      ['shop', 'shop', true],
      ['shop', 'shop-a', false],
      ['shop-*', 'shop-a', true],
      ['shop-*', 'shop-', true],
      ['shop-*', 'shop', false],
      ['*-prod', 'web-prod', true],
      ['*-prod', 'web-prod-x', false],
      ['a*b*c', 'axxbyyc', true],
      ['a*b*c', 'axxbyy', false],
      ['*', 'anything', true],
      ['s.op', 'shop', false],
    ];
    for (const [p, n, want] of cases) expect(wildcardMatch(p, n), `${p} ~ ${n}`).toBe(want);
    // No backtracking blow-up on a hostile pattern.
    const t = performance.now();
    expect(wildcardMatch(`${'*a'.repeat(120)}*b`, 'a'.repeat(253))).toBe(false);
    expect(performance.now() - t).toBeLessThan(200);
    const p = (namespaces: string[], admin = false) => ({ sub: 'x', admin, namespaces, services: [], capabilities: new Set<never>(), legacy: false });
    expect(mayNamespace(p(['shop-*']), '*')).toBe(false);
    expect(mayNamespace(p(['*']), '*')).toBe(true);
    expect(mayNamespace(p([], true), '*')).toBe(true);
    expect(mayNamespace(p(['shop']), 'shop')).toBe(true);
  });
});

describe('the `bundles:` section', () => {
  it('is off unless enabled; read, validated and built through the registry as `run` and `run --check` do', async () => {
    const { parseConfig } = await import('../../src/config.ts');
    const { buildComponents } = await import('../../src/components/configure.ts');
    const { createLogger } = await import('../../src/logger.ts');
    const { MemoryStore } = await import('../../src/state/memory-store.ts');
    expect(parseConfig('bundles: {}\n', 'c.yaml', {}).components.map((c) => c.spec.key)).not.toContain('bundles');
    expect(parseConfig(null, 'c.yaml', {}).components.map((c) => c.spec.key)).not.toContain('bundles');
    expect(() => parseConfig('bundles:\n  enabled: true\n  dir: relative\n', 'c.yaml', {})).toThrow('c.yaml: field bundles.dir: must be an absolute path');
    expect(() => parseConfig('bundles:\n  enabled: true\n  jwtSecretEnv: "not a name"\n', 'c.yaml', {})).toThrow('field bundles.jwtSecretEnv');
    expect(() => parseConfig('bundles:\n  enabled: true\n  jwt: x\n', 'c.yaml', {})).toThrow('field bundles.jwt: unknown field');
    const cfg = parseConfig('bundles:\n  enabled: true\n  jwtSecretEnv: RSD_TEST_BUNDLES_SECRET_UNSET\n', 'c.yaml', {});
    const configured = cfg.components.filter((c) => c.spec.key === 'bundles');
    expect(configured[0]!.options).toMatchObject({ port: 8090, legacyFullAccess: false, maxPods: 20, maxTotalLogLines: 50_000, metricsTimeout: 2000, ttl: 3_600_000, maxWindow: 3_600_000 });
    const base = { cluster: 'c', store: new MemoryStore(), pressure: { fill: 0 }, file: 'c.yaml', checkOnly: true };
    const { errors } = await buildComponents(configured, base, createLogger('silent'));
    expect(errors.map((e) => e.error.message)).toEqual(['c.yaml: field bundles.jwtSecretEnv: environment variable RSD_TEST_BUNDLES_SECRET_UNSET is not set (the bundle server needs its JWT secret)']);
    const secret = 'x'.repeat(31);
    process.env.RSD_TEST_BUNDLES_SECRET_SHORT = secret;
    try {
      const short = parseConfig('bundles:\n  enabled: true\n  jwtSecretEnv: RSD_TEST_BUNDLES_SECRET_SHORT\n', 'c.yaml', {}).components.filter((c) => c.spec.key === 'bundles');
      const r = await buildComponents(short, base, createLogger('silent'));
      expect(r.errors[0]!.error.message).toContain('shorter than 32 characters');
      expect(r.errors[0]!.error.message).not.toContain(secret);
      process.env.RSD_TEST_BUNDLES_SECRET_SHORT = `${secret}yz`;
      expect((await buildComponents(short, base, createLogger('silent'))).errors).toEqual([]);
    } finally {
      delete process.env.RSD_TEST_BUNDLES_SECRET_SHORT;
    }
  });
});

describe('a stalled build', () => {
  it('fails after buildTimeout and frees its slot', async () => {
    const d = await mkdtemp(join(tmpdir(), 'rsd-bundles-stall-'));
    const st = new BundleStore({ dir: d, ttlMs: 60_000, maxBundles: 5, maxDiskBytes: 1 << 20, maxBundleBytes: 1 << 16, maxConcurrentBuilds: 1, buildTimeoutMs: 200 });
    await st.start();
    try {
      const e = await st.reserve(['shop'], ['logs']);
      await st.build(e, async (w) => {
        await w({ type: 'meta' });
        await new Promise((_, reject) => e.abort.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      });
      expect(e.state).toBe('failed');
      expect(e.error).toMatch(/timed out after 200 ms/);
      expect(st.building()).toBe(0);
      expect((await st.reserve(['shop'], ['logs'])).state).toBe('building');
    } finally {
      await st.stop();
      await rm(d, { recursive: true, force: true });
    }
  });
});

describe('partial failures are records, not failed bundles', () => {
  it('a kubelet 5xx for one container, a 404 for previous logs, events forbidden; an unreachable API fails', async () => {
    const { KubeApiError } = await import('../../src/sources/kube/api.ts');
    const pod: BundlePod = { metadata: { namespace: 'shop', name: 'p' }, spec: { containers: [{ name: 'a' }, { name: 'b' }] }, status: { containerStatuses: [{ name: 'a', restartCount: 1 }, { name: 'b', restartCount: 0 }] } };
    const r: KubeReader = {
      listPods: async () => [pod],
      getPod: async () => pod,
      logs: async (q) => {
        if (q.container === 'b') throw new KubeApiError({ status: 500, verb: 'get', resource: 'pods/log', message: 'kubelet: container log file missing' });
        if (q.previous) throw new KubeApiError({ status: 404, verb: 'get', resource: 'pods/log', message: 'not found' });
        return Readable.from([`${new Date(T0).toISOString()} ok\n`]);
      },
      events: async function* () {
        yield* [];
        throw new KubeApiError({ status: 403, verb: 'list', resource: 'events', namespace: 'shop', message: 'forbidden' });
      },
    };
    const recs = await run({ target: { pods: [{ namespace: 'shop', pod: 'p' }] }, include: { metrics: { enabled: false } } }, r);
    expect(recs.filter((x) => x.type === 'log').map((x) => `${x.container}${x.previous ? '/prev' : ''}:${x.line ?? x.reason}`)).toEqual(['a:ok', 'a/prev:no_previous_container', 'b:read_error', 'b/prev:no_previous_container']);
    expect(recs.find((x) => x.type === 'event')).toMatchObject({ skipped: true, reason: 'forbidden' });
    const down: KubeReader = { ...r, logs: async () => Promise.reject(new KubeApiError({ status: 0, verb: 'get', resource: 'pods/log', message: 'unreachable' })) };
    await expect(run({ target: { pods: [{ namespace: 'shop', pod: 'p' }] } }, down)).rejects.toThrow('unreachable');
  });
});
