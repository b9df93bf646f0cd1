/**
 * The SDK's fetchBundle against the real bundle server (HTTP, JWT, store, gzip) with a small
 * in-memory Kubernetes behind it: the typed records in order, waiting out 429 + Retry-After while
 * the server is busy, and a clear BundleFetchError for a failed build, a refused token, a finding
 * with no request, and a server that is not there.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleFetchError, fetchBundle, type BundleRecord, type Finding } from '../../src/consumer/index.ts';
import { createLogger } from '../../src/logger.ts';
import { Authenticator } from '../../src/servers/bundles/auth.ts';
import type { BundlePod, KubeReader, LogQuery } from '../../src/servers/bundles/kube.ts';
import { BundleServer } from '../../src/servers/bundles/server.ts';
import { BundleStore } from '../../src/servers/bundles/store.ts';
import type { CoreEvent } from '../../src/sources/kube/k8s-types.ts';
import { freePort } from '../env/ports.ts';

const SECRET = 'sdk-test-secret-that-is-long-enough-0123456789';
const POD: BundlePod = { metadata: { namespace: 'shop', name: 'api-0', labels: { app: 'api' } }, spec: { containers: [{ name: 'app' }] }, status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: true, restartCount: 0 }] } };

/** Log reads wait for `gate` (to hold builds open) and fail for the pod named `broken`. */
class Reader implements KubeReader {
  gate: Promise<void> = Promise.resolve();
  async listPods(): Promise<BundlePod[]> {
    return [POD];
  }
  async getPod(namespace: string, name: string): Promise<BundlePod | null> {
    if (name === 'broken') return { ...POD, metadata: { ...POD.metadata, name } };
    return namespace === 'shop' && name === 'api-0' ? POD : null;
  }
  async logs(q: LogQuery): Promise<Readable> {
    await this.gate;
    if (q.pod === 'broken') throw new Error('API connection lost');
    const now = Date.now();
    return Readable.from([0, 1, 2].map((i) => `${new Date(now - (3 - i) * 1000).toISOString()} line ${i} token=abc123secret\n`));
  }
  async *events(): AsyncIterable<CoreEvent[]> {
    yield [];
  }
}

const finding = (pod: string | null): Finding => ({
  schema_version: '1.0',
  finding_id: 'a'.repeat(24),
  source: 'robot-sre-detector',
  domain: 'runtime',
  incident_type: 'crash_loop',
  severity: 'error',
  confidence: 0.9,
  summary: 's',
  evidence: {
    lines: [],
    templates: [],
    loki: { query: '{namespace="shop"}', start: '', end: '' },
    ...(pod ? { bundle: { target: { pods: [{ namespace: 'shop', pod }] }, include: { logs: { enabled: true, previous: false }, events: { enabled: true }, metrics: { enabled: true } } } } : {}),
  },
  resource_scope: { cluster: 'c', namespace: 'shop' },
  dedupe_key: 'd',
  observed_at: '',
  rule: { id: 'r', version: '1' },
  status: 'observed',
  first_seen: '',
  last_seen: '',
  count: 1,
});

describe('fetchBundle', () => {
  let dir = '';
  let server: BundleServer;
  let url = '';
  const reader = new Reader();
  const token = (caps = ['logs', 'events', 'metrics']) => new SignJWT({ allowedNamespaces: ['shop'], capabilities: caps }).setProtectedHeader({ alg: 'HS256' }).setSubject('sdk').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-sdk-bundle-'));
    server = new BundleServer({
      host: '127.0.0.1',
      port: 0,
      auth: new Authenticator({ secret: SECRET, clockSkewSeconds: 5, legacyFullAccess: false }),
      reader,
      store: new BundleStore({ dir, ttlMs: 60_000, maxBundles: 20, maxDiskBytes: 16 * 1024 * 1024, maxBundleBytes: 4 * 1024 * 1024, maxConcurrentBuilds: 1 }),
      limits: { maxPods: 20, maxMetricsPods: 20, maxTotalLogLines: 50_000, maxSinceSeconds: 3600, metricsTimeoutMs: 2000, maxMetricsTimeoutMs: 10_000 },
      maxBodyBytes: 64 * 1024,
      maxLineBytes: 16 * 1024,
      maxMetricsBytes: 1024 * 1024,
      maxEvents: 100,
      maxDiscoveryPods: 100,
      ttlMs: 60_000,
      log: createLogger('silent'),
    });
    await server.start();
    url = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates, waits and streams the typed records, redacted', async () => {
    const b = await fetchBundle(finding('api-0'), await token(), { url, pollIntervalMs: 20 });
    const records: BundleRecord[] = [];
    for await (const r of b.records) records.push(r);
    expect(records.length).toBe(b.recordCount);
    expect(records.map((r) => r.type)).toEqual(['meta', 'log', 'log', 'log', 'metrics_text']);
    const lines = records.flatMap((r) => (r.type === 'log' && typeof r.line === 'string' ? [r.line] : []));
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).not.toContain('abc123secret');
    expect(records.find((r) => r.type === 'metrics_text')).toMatchObject({ skipped: true, reason: 'annotation_missing' });
  });

  it('waits out 429 + Retry-After while another build holds the only slot', async () => {
    let release!: () => void;
    reader.gate = new Promise((r) => (release = r));
    const t = await token();
    const first = fetchBundle(finding('api-0'), t, { url, pollIntervalMs: 20 });
    await new Promise((r) => setTimeout(r, 100));
    const busy = await fetch(`${url}/v1/bundles`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(finding('api-0').evidence.bundle) });
    expect(busy.status).toBe(429);
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThan(0);
    const second = fetchBundle(finding('api-0'), t, { url, pollIntervalMs: 20, timeoutMs: 30_000 });
    setTimeout(release, 300);
    const [a, b] = await Promise.all([first, second]);
    expect(a.bundleId).not.toBe(b.bundleId);
    let n = 0;
    for await (const _ of b.records) n++;
    expect(n).toBe(b.recordCount);
    reader.gate = Promise.resolve();
  });

  it('a failed build, a refused token, no request, no server: BundleFetchError saying which', async () => {
    const failed = await fetchBundle(finding('broken'), await token(), { url, pollIntervalMs: 20 }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(BundleFetchError);
    expect((failed as Error).message).toMatch(/failed: .*API connection lost/);

    const forbidden = await fetchBundle(finding('api-0'), await token(['logs']), { url }).catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ status: 403 });

    const unauth = await fetchBundle(finding('api-0'), 'not-a-jwt', { url }).catch((e: unknown) => e);
    expect(unauth).toMatchObject({ status: 401 });

    await expect(fetchBundle(finding(null), await token(), { url })).rejects.toThrow(/names no pod or service/);

    const nowhere = await fetchBundle(finding('api-0'), await token(), { url: `http://127.0.0.1:${await freePort()}` }).catch((e: unknown) => e);
    expect(nowhere).toMatchObject({ status: 0 });
    expect((nowhere as Error).message).toMatch(/unreachable/);
  });
});
