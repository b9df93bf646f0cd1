/**
 * The bundle server end to end: the real component (`bundles:` read by its schema and built as `run`
 * builds it) against a real kube-apiserver + kwok, reading through a ServiceAccount token with only
 * get/list on pods, pods/log and events. Selector and direct-pod bundles, previous logs of a restarted
 * container next to a skip record for one that never restarted, an absolute window, events of the
 * window and the metrics states; the bundles are downloaded and parsed as an agent would.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../src/components/component.ts';
import { readSection } from '../../src/components/schema.ts';
import { createLogger } from '../../src/logger.ts';
import { bundlesComponent } from '../../src/servers/bundles/component.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { shouldSkip } from '../env/binaries.ts';
import { appendCriLines, startKube, type KubeEnv } from '../env/kube.ts';
import { freePort } from '../env/ports.ts';
import { detectorProcess, repoRoot } from './helpers/detector.ts';
import { until } from './helpers/wait.ts';

const skip = shouldSkip('bundles (kube)', ['etcd', 'kube-apiserver', 'kubectl', 'kwok']);
const NS = 'shop';
const OTHER = 'payments';
const SECRET_ENV = 'RSD_BUNDLES_E2E_SECRET';
const SECRET = `e2e-${randomUUID()}-${randomUUID()}`;
const k8sTime = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe.skipIf(skip)('bundle server against a real kube-apiserver + kwok', () => {
  let env: KubeEnv;
  let dir = '';
  let service: Service;
  let base = '';
  let kubeconfigPath = '';
  const t0 = Date.now();

  async function token(claims: Record<string, unknown>): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('e2e-agent').setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
  }

  async function podWithLogs(namespace: string, name: string, labels: Record<string, string>, lines: Array<{ ts: string; line: string }>, previous?: Array<{ ts: string; line: string }>, annotations?: Record<string, string>): Promise<void> {
    const logsFile = join(dir, `${name}-${randomUUID().slice(0, 8)}.log`);
    await appendCriLines(logsFile, lines);
    let previousLogsFile: string | undefined;
    if (previous) {
      previousLogsFile = `${logsFile}.previous`;
      await appendCriLines(previousLogsFile, previous);
    }
    await env.createPod({ name, namespace, labels, ...(annotations ? { annotations } : {}) });
    await env.setPodLogs(namespace, name, { logsFile, ...(previousLogsFile ? { previousLogsFile } : {}) });
  }

  async function setContainerStatus(namespace: string, pod: string, status: Record<string, unknown>): Promise<void> {
    await env.api('PATCH', `/api/v1/namespaces/${namespace}/pods/${pod}/status`, { status: { containerStatuses: [{ name: 'app', image: 'registry.example/app:1', imageID: '', ready: true, ...status }] } }, { contentType: 'application/merge-patch+json' });
  }

  async function bundle(t: string, body: unknown): Promise<Array<Record<string, unknown>>> {
    const res = await fetch(`${base}/v1/bundles`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = (await res.json()) as { bundleId: string };
    expect(res.status, JSON.stringify(created)).toBe(202);
    let status: Record<string, unknown> = {};
    await until('bundle done', async () => {
      const r = await fetch(`${base}/v1/bundles/${created.bundleId}`, { headers: { authorization: `Bearer ${t}` } });
      status = (await r.json()) as Record<string, unknown>;
      return status.status !== 'building';
    }, 30_000);
    expect(status.status, JSON.stringify(status)).toBe('done');
    const dl = await fetch(`${base}/v1/bundles/${created.bundleId}/download`, { headers: { authorization: `Bearer ${t}` } });
    expect(dl.status).toBe(200);
    return gunzipSync(Buffer.from(await dl.arrayBuffer())).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  // Lines at fixed offsets before now: an old one, three inside the absolute window, recent ones.
  const at = (minutesAgo: number, i = 0) => iso(t0 - minutesAgo * 60_000 + i);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-bundles-e2e-'));
    env = await startKube();
    await env.createNode('node-a');
    await env.createNamespace(NS);
    await env.createNamespace(OTHER);
    const saToken = await env.grantClusterRole({ role: 'rsd-bundles', namespace: 'rsd', serviceAccount: 'bundles', probe: `/api/v1/namespaces/${NS}/pods`, rules: [{ apiGroups: [''], resources: ['pods', 'pods/log', 'events'], verbs: ['get', 'list'] }] });
    const kubeconfig = await env.writeKubeconfig(saToken, 'bundles');
    kubeconfigPath = kubeconfig;

    await podWithLogs(NS, 'web-0', { app: 'web' }, [
      { ts: at(40), line: 'web-0 old line' },
      { ts: at(20, 1), line: 'web-0 in window 1' },
      { ts: at(19, 2), line: 'web-0 in window 2 password=hunter2' },
      { ts: at(1), line: 'web-0 recent GET /healthz' },
      { ts: at(0.5), line: 'web-0 recent error: connection refused' },
    ], undefined, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100' });
    await podWithLogs(NS, 'web-1', { app: 'web' }, [{ ts: at(0.4), line: 'web-1 started again' }], [{ ts: at(2), line: 'panic: web-1 before restart' }]);
    await setContainerStatus(NS, 'web-1', { containerID: 'containerd://web-1-b', restartCount: 1, state: { running: { startedAt: k8sTime() } }, lastState: { terminated: { exitCode: 2, reason: 'Error', startedAt: k8sTime(t0 - 300_000), finishedAt: k8sTime(t0 - 60_000), containerID: 'containerd://web-1-a' } } });
    await podWithLogs(NS, 'db-0', { app: 'db' }, [{ ts: at(0.3), line: 'db-0 ready' }]);
    await podWithLogs(OTHER, 'web-0', { app: 'web' }, [{ ts: at(0.3), line: 'payments web-0 must not appear' }]);
    await env.api('POST', `/api/v1/namespaces/${NS}/events`, {
      apiVersion: 'v1', kind: 'Event', metadata: { name: `web-1.${randomUUID().slice(0, 8)}`, namespace: NS },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: NS, name: 'web-1' }, reason: 'BackOff', message: 'Back-off restarting failed container app', type: 'Warning', count: 3,
      firstTimestamp: k8sTime(t0 - 120_000), lastTimestamp: k8sTime(), source: { component: 'kubelet', host: 'node-a' },
    });

    process.env[SECRET_ENV] = SECRET;
    const port = await freePort();
    const options = readSection(bundlesComponent.schema, { enabled: true, host: '127.0.0.1', port, jwtSecretEnv: SECRET_ENV, dir: join(dir, 'bundles'), kubeconfig, metricsTimeout: '500ms' }, 'e2e.yaml', 'bundles');
    const built = await bundlesComponent.build(options, { cluster: 'e2e', log: createLogger('silent'), store: new MemoryStore(), pressure: { fill: 0 }, file: 'e2e.yaml', optionsOf: () => undefined, checkOnly: false });
    service = built.services![0]!;
    await service.start();
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await service?.stop().catch(() => undefined);
    delete process.env[SECRET_ENV];
    await env?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses to build without the secret, or with a short one', async () => {
    const o = readSection(bundlesComponent.schema, { enabled: true, jwtSecretEnv: 'RSD_BUNDLES_E2E_UNSET' }, 'e2e.yaml', 'bundles');
    const ctx = { cluster: 'e2e', log: createLogger('silent'), store: new MemoryStore(), pressure: { fill: 0 }, file: 'e2e.yaml', optionsOf: () => undefined, checkOnly: true };
    await expect(bundlesComponent.build(o, ctx)).rejects.toThrow(/RSD_BUNDLES_E2E_UNSET is not set/);
    process.env.RSD_BUNDLES_E2E_SHORT = 'short-secret';
    await expect(bundlesComponent.build({ ...o, jwtSecretEnv: 'RSD_BUNDLES_E2E_SHORT' }, ctx)).rejects.toThrow(/shorter than 32/);
    await expect(bundlesComponent.build({ ...o, jwtSecretEnv: 'RSD_BUNDLES_E2E_SHORT' }, ctx)).rejects.not.toThrow(/short-secret/);
    delete process.env.RSD_BUNDLES_E2E_SHORT;
  });

  it('discovery through the real API: scoped, redacted', async () => {
    const t = await token({ allowedNamespaces: [NS], capabilities: ['pods'] });
    const r = await fetch(`${base}/v1/pods?ns=${NS}&q=web`, { headers: { authorization: `Bearer ${t}` } });
    expect(r.status).toBe(200);
    const items = ((await r.json()) as { items: Array<Record<string, unknown>> }).items;
    expect(items.map((i) => i.name).sort()).toEqual(['web-0', 'web-1']);
    expect(items[0]).not.toHaveProperty('podIP');
    expect(items[0]).not.toHaveProperty('annotations');
    expect((await fetch(`${base}/v1/pods?ns=*`, { headers: { authorization: `Bearer ${t}` } })).status).toBe(403);
  });

  it('a selector bundle: the namespace’s matching pods, current and previous logs, events, metrics states, redacted', async () => {
    const t = await token({ allowedNamespaces: [NS], capabilities: ['pods', 'logs', 'events', 'metrics'] });
    const recs = await bundle(t, { timeWindow: { sinceSeconds: 600 }, target: { namespace: NS, selector: 'app=web' }, include: { logs: { excludePatterns: ['GET /healthz'] } } });
    expect(recs[0]).toMatchObject({ type: 'meta', pods: [{ namespace: NS, pod: 'web-0' }, { namespace: NS, pod: 'web-1' }] });
    const lines = recs.filter((r) => r.type === 'log' && r.line);
    expect(lines.filter((r) => !r.previous).map((r) => r.line)).toEqual(['web-0 recent error: connection refused', 'web-1 started again']);
    expect(lines.every((r) => typeof r.ts === 'string' && (r.ts as string).endsWith('Z'))).toBe(true);
    // web-1 restarted: its previous container's log; web-0 never did: a skip record, not a failure.
    expect(lines.filter((r) => r.previous)).toMatchObject([{ pod: 'web-1', container: 'app', previous: true, line: 'panic: web-1 before restart' }]);
    expect(recs.find((r) => r.type === 'log' && r.pod === 'web-0' && r.previous)).toMatchObject({ skipped: true, reason: 'no_previous_container', container: 'app' });
    expect(recs.filter((r) => r.type === 'event')).toMatchObject([{ namespace: NS, reason: 'BackOff', eventType: 'Warning', involvedObject: { kind: 'Pod', name: 'web-1' } }]);
    const m = recs.filter((r) => r.type === 'metrics_text');
    expect(m.find((r) => r.pod === 'web-1')).toMatchObject({ skipped: true, reason: 'annotation_missing' });
    expect(m.find((r) => r.pod === 'web-0')).toMatchObject({ ok: false, port: 9100 });
    // kwok's fake pod IP: whatever answers there (nothing, a timeout, another host's 404) is not the pod's metrics.
    expect(String(m.find((r) => r.pod === 'web-0')!.error)).toMatch(/^(timeout after 500ms|fetch_failed: \S+|http_status: \d+|no_pod_ip)$/);
    expect(JSON.stringify(recs)).not.toContain('payments web-0');
  });

  it('direct pods: only those, across the namespaces the token allows', async () => {
    const t = await token({ allowedNamespaces: [NS, 'pay*'], capabilities: ['logs'] });
    const recs = await bundle(t, { target: { pods: [{ namespace: NS, pod: 'db-0' }, { namespace: OTHER, pod: 'web-0' }, { namespace: NS, pod: 'gone-0' }] }, include: { events: { enabled: false }, metrics: { enabled: false }, logs: { previous: false } } });
    expect(recs.filter((r) => r.type === 'log' && r.line).map((r) => `${r.namespace}/${r.pod}: ${r.line}`)).toEqual([`${NS}/db-0: db-0 ready`, `${OTHER}/web-0: payments web-0 must not appear`]);
    expect(recs.find((r) => r.pod === 'gone-0')).toMatchObject({ skipped: true, reason: 'pod_not_found' });
    const narrow = await token({ allowedNamespaces: [NS], capabilities: ['logs'] });
    const res = await fetch(`${base}/v1/bundles`, { method: 'POST', headers: { authorization: `Bearer ${narrow}`, 'content-type': 'application/json' }, body: JSON.stringify({ target: { pods: [{ namespace: OTHER, pod: 'web-0' }] }, include: { events: { enabled: false }, metrics: { enabled: false } } }) });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('must not appear');
  });

  it('metrics of a pod whose annotations point at a live endpoint: ok with the text', async () => {
    const metricsServer = createServer((req, res) => {
      if (req.url === '/custom-metrics') res.writeHead(200, { 'content-type': 'text/plain' }).end('# HELP up 1 if up\nup 1\napi_key="AKIAABCDEFGHIJKLMNOP"\n');
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => metricsServer.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (metricsServer.address() as AddressInfo).port;
      await podWithLogs(NS, 'metrics-0', { app: 'metrics' }, [{ ts: at(0.2), line: 'metrics-0 up' }], undefined, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/custom-metrics' });
      // As the kubelet would report it: the pod's IP is where its port listens (here, this host).
      await env.api('PATCH', `/api/v1/namespaces/${NS}/pods/metrics-0/status`, { status: { podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } }, { contentType: 'application/merge-patch+json' });
      await until('podIP kept', async () => ((await env.api<{ status: { podIP?: string } }>('GET', `/api/v1/namespaces/${NS}/pods/metrics-0`)).status.podIP === '127.0.0.1'), 10_000);
      const t = await token({ allowedNamespaces: [NS], capabilities: ['metrics'] });
      const recs = await bundle(t, { target: { pods: [{ namespace: NS, pod: 'metrics-0' }] }, include: { logs: { enabled: false }, events: { enabled: false } } });
      const m = recs.filter((r) => r.type === 'metrics_text');
      expect(m).toMatchObject([{ namespace: NS, pod: 'metrics-0', port, path: '/custom-metrics', ok: true }]);
      expect(m[0]!.content).toContain('up 1');
      expect(m[0]!.content).not.toContain('AKIAABCDEFGHIJKLMNOP');
    } finally {
      metricsServer.close();
    }
  });

  it('an absolute window: only the lines inside it, timestamps forced', async () => {
    const t = await token({ allowedNamespaces: [NS], capabilities: ['logs'] });
    const recs = await bundle(t, { timeWindow: { start: iso(t0 - 25 * 60_000).replace(/\.\d+Z$/, 'Z'), end: iso(t0 - 15 * 60_000).replace(/\.\d+Z$/, 'Z') }, target: { pods: [{ namespace: NS, pod: 'web-0' }] }, include: { events: { enabled: false }, metrics: { enabled: false }, logs: { timestamps: false, previous: false } } });
    const lines = recs.filter((r) => r.type === 'log' && r.line);
    expect(lines.map((r) => r.line)).toEqual(['web-0 in window 1', 'web-0 in window 2 password=[REDACTED]']);
    expect(lines.map((r) => r.ts)).toEqual([at(20, 1), at(19, 2)].map((s) => s.replace(/Z$/, '000000Z')));
  });
  it('`run -c config.yaml` with `bundles:` serves on its own port; without the secret it refuses to start', async () => {
    const adminPort = await freePort();
    const bundlePort = await freePort();
    const configFile = join(dir, 'detector.yaml');
    const yaml = (secretEnv: string) => [
      'cluster: e2e',
      'kubernetes:\n  enabled: false',
      `server:\n  host: 127.0.0.1\n  port: ${adminPort}`,
      'findings:\n  stdout: false',
      `bundles:\n  enabled: true\n  host: 127.0.0.1\n  port: ${bundlePort}\n  jwtSecretEnv: ${secretEnv}\n  dir: ${join(dir, 'run-bundles')}\n  kubeconfig: ${kubeconfigPath}`,
      '',
    ].join('\n');
    await writeFile(configFile, yaml('RSD_BUNDLES_RUN_SECRET_UNSET'));
    // The refusal is reported on stderr and the bundle port never opens. (run.ts starts the admin server
    // before it builds the components and does not close it when a build throws, so the process
    // lingers after the error instead of exiting: it is killed here.)
    const refused = spawn(process.execPath, [join(repoRoot, 'src', 'cli.ts'), 'run', '-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, [SECRET_ENV]: '' } });
    let stderr = '';
    refused.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await until('the refusal on stderr', () => stderr.includes('RSD_BUNDLES_RUN_SECRET_UNSET is not set') || refused.exitCode !== null, 60_000, () => stderr);
      expect(stderr).toContain('field bundles.jwtSecretEnv: environment variable RSD_BUNDLES_RUN_SECRET_UNSET is not set');
      await expect(fetch(`http://127.0.0.1:${bundlePort}/healthz`)).rejects.toThrow();
    } finally {
      if (refused.exitCode === null) refused.kill('SIGKILL');
    }

    await writeFile(configFile, yaml(SECRET_ENV));
    const detector = detectorProcess({ configFile, port: adminPort, logFile: join(dir, 'detector.log'), env: { [SECRET_ENV]: SECRET } });
    await detector.start();
    try {
      const saved = base;
      base = `http://127.0.0.1:${bundlePort}`;
      try {
        expect((await fetch(`${base}/readyz`)).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${adminPort}/v1/pods`)).status).toBe(404);
        const t = await token({ allowedNamespaces: [NS], capabilities: ['logs'] });
        const recs = await bundle(t, { target: { pods: [{ namespace: NS, pod: 'db-0' }] }, include: { events: { enabled: false }, metrics: { enabled: false }, logs: { previous: false } } });
        expect(recs.filter((r) => r.line).map((r) => r.line)).toEqual(['db-0 ready']);
        expect(await detector.metric('rsd_bundles_built_total', { outcome: 'done' })).toBe(1);
      } finally {
        base = saved;
      }
    } finally {
      await detector.stop();
    }
    expect(await readFile(join(dir, 'detector.log'), 'utf8')).not.toContain(SECRET);
  });
});
