/**
 * Robot SRE's loop, end to end: the detector (`node src/cli.ts run`, a child process) watches kwok
 * pods through a real kube-apiserver under a ServiceAccount with only get/list/watch on pods,
 * pods/log and events; it pushes the lines to a real store, publishes findings to a real JetStream
 * and serves evidence bundles on its own port. The test plays Robot SRE with the SDK only:
 * `subscribeFindings` takes the finding from JetStream, `fetchBundle(finding, token)` sends the
 * request the finding carries, waits for the build and streams the records. The finding's
 * evidence lines must be among the bundle's log lines (both redacted the same way), the secret in
 * the raw line in neither, and a token scoped to another namespace must get nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleFetchError, fetchBundle, subscribeFindings, type BundleLogRecord, type BundleRecord, type Finding, type FindingSubscription } from '../../src/consumer/index.ts';
import { applyLayout } from '../../src/nats/streams.ts';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { shouldSkip } from '../env/binaries.ts';
import { appendCriLines, startKube, type KubeEnv } from '../env/kube.ts';
import { startNats, type NatsServerHandle } from '../env/nats.ts';
import { freePort } from '../env/ports.ts';
import { startVictoriaLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';
import { detectorProcess, type DetectorProcess } from './helpers/detector.ts';
import { nextTs, until } from './helpers/wait.ts';
import { findingErrors } from '../helpers/validate-finding.ts';

const skip = shouldSkip('Robot SRE bundle e2e', ['etcd', 'kube-apiserver', 'kubectl', 'kwok', 'victoria-logs', 'nats-server']);
const NS = 'shop';
const SECRET_ENV = 'RSD_BUNDLES_ROBOT_SECRET';
const SECRET = `robot-${randomUUID()}-${randomUUID()}`;
const DB_PASSWORD = `pw${randomUUID().slice(0, 8)}`;

describe.skipIf(skip)('Robot SRE: a finding from JetStream, then its evidence bundle with the SDK', () => {
  let kube: KubeEnv;
  let store: VictoriaLogsHandle;
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let detector: DetectorProcess;
  let dir = '';
  let bundleUrl = '';
  let sub: FindingSubscription | undefined;
  const findings: Finding[] = [];

  const token = (claims: Record<string, unknown>): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('robot-sre').setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-robot-bundle-'));
    [kube, store, nats] = await Promise.all([startKube(), startVictoriaLogs(), startNats()]);
    await kube.createNode('node-a');
    await kube.createNamespace(NS);
    // The RBAC the manifests ship: nothing beyond get/list/watch on pods, pods/log and events.
    const saToken = await kube.grantClusterRole({ role: 'rsd-robot', namespace: 'rsd', serviceAccount: 'detector', probe: `/api/v1/namespaces/${NS}/pods` });
    const kubeconfig = await kube.writeKubeconfig(saToken, 'detector');
    nc = await connect({ servers: nats.url });
    await applyLayout(nc);

    const logsFile = join(dir, 'checkout.log');
    await appendCriLines(logsFile, [{ ts: nextTs(), line: 'checkout started, listening on :8080' }]);
    await kube.createPod({ name: 'checkout-7f9c-x2k4p', namespace: NS, labels: { app: 'checkout' } });
    await kube.setPodLogs(NS, 'checkout-7f9c-x2k4p', { logsFile });

    const adminPort = await freePort();
    const bundlePort = await freePort();
    bundleUrl = `http://127.0.0.1:${bundlePort}`;
    const configFile = join(dir, 'config.yaml');
    await writeFile(configFile, [
      'cluster: robot',
      'kubernetes:',
      `  kubeconfig: ${kubeconfig}`,
      `  namespaces: [${NS}]`,
      'loki:',
      `  url: ${store.lokiUrl}`,
      'nats:',
      `  servers: [${nats.url}]`,
      `server: { host: 127.0.0.1, port: ${adminPort} }`,
      'bundles:',
      '  enabled: true',
      '  host: 127.0.0.1',
      `  port: ${bundlePort}`,
      `  jwtSecretEnv: ${SECRET_ENV}`,
      `  dir: ${join(dir, 'bundles')}`,
      '',
    ].join('\n'));
    detector = detectorProcess({ configFile, port: adminPort, logFile: join(dir, 'detector.log'), env: { [SECRET_ENV]: SECRET } });
    await detector.start();

    sub = await subscribeFindings({
      connection: nc,
      durable: 'robot-sre-e2e',
      namespaces: [NS],
      events: ['observed'],
      handler: (f) => {
        findings.push(f);
      },
    });
    // The incident: the database refuses connections; the raw line carries a password.
    const lines = Array.from({ length: 6 }, (_, i) => ({ ts: nextTs(), line: `ERROR order ${1000 + i} failed: dial tcp 10.96.0.12:5432: connect: connection refused (postgres://app:${DB_PASSWORD}@db:5432/orders)` }));
    await appendCriLines(logsFile, lines);
  }, 180_000);

  afterAll(async () => {
    await sub?.stop().catch(() => undefined);
    await detector?.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await Promise.allSettled([kube?.stop(), store?.stop(), nats?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the finding names its pod and a window; fetchBundle streams records that hold its evidence lines', async () => {
    await until('a finding for the checkout pod', () => findings.some((f) => f.resource_scope.pod === 'checkout-7f9c-x2k4p'), 90_000);
    const finding = findings.find((f) => f.resource_scope.pod === 'checkout-7f9c-x2k4p')!;
    expect(findingErrors(finding)).toEqual([]);
    const request = finding.evidence.bundle!;
    expect(request.target).toEqual({ pods: [{ namespace: NS, pod: 'checkout-7f9c-x2k4p' }] });
    expect(Date.parse(request.timeWindow!.start)).toBeLessThan(Date.parse(finding.first_seen));
    expect(Date.parse(request.timeWindow!.end)).toBeGreaterThan(Date.parse(finding.last_seen));
    expect(finding.evidence.lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(finding)).not.toContain(DB_PASSWORD);

    const t = await token({ allowedNamespaces: [NS], capabilities: ['logs', 'events', 'metrics'] });
    const bundle = await fetchBundle(finding, t, { url: bundleUrl, pollIntervalMs: 200, timeoutMs: 60_000 });
    const records: BundleRecord[] = [];
    for await (const r of bundle.records) records.push(r);
    expect(records.length).toBe(bundle.recordCount);
    expect(records[0]!.type).toBe('meta');
    const logs = records.filter((r): r is BundleLogRecord => r.type === 'log' && !r.skipped);
    const bundleLines = new Set(logs.map((r) => r.line));
    for (const e of finding.evidence.lines) expect(bundleLines, `evidence line ${e.line}`).toContain(e.line);
    // The container never restarted: a skip record for the previous logs, not a failed bundle.
    expect(records.some((r) => r.type === 'log' && r.previous === true && r.reason === 'no_previous_container')).toBe(true);
    expect(records.some((r) => r.type === 'metrics_text' && r.reason === 'annotation_missing')).toBe(true);
    expect(JSON.stringify(records)).not.toContain(DB_PASSWORD);
  }, 150_000);

  it('a token scoped to another namespace gets 403 and no records', async () => {
    const finding = findings.find((f) => f.resource_scope.pod === 'checkout-7f9c-x2k4p')!;
    const t = await token({ allowedNamespaces: ['payments'], capabilities: ['logs', 'events', 'metrics'] });
    const err = await fetchBundle(finding, t, { url: bundleUrl, timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleFetchError);
    expect((err as BundleFetchError).status).toBe(403);
    // A token with fewer capabilities narrows the request instead.
    const logsOnly = await token({ allowedNamespaces: [NS], capabilities: ['logs'] });
    const b = await fetchBundle(finding, logsOnly, { url: bundleUrl, pollIntervalMs: 200, adjust: (r) => ({ ...r, include: { logs: { enabled: true, previous: false }, events: { enabled: false }, metrics: { enabled: false } } }) });
    const types = new Set<string>();
    for await (const r of b.records) types.add(r.type);
    expect([...types].sort()).toEqual(['log', 'meta']);
    expect(await readFile(detector.logFile, 'utf8')).not.toContain(SECRET);
  }, 60_000);
});
