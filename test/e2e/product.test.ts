/**
 * The whole product, end to end: `node src/cli.ts run` as a child process, authenticated with the token of
 * the ServiceAccount that manifests/base creates (so the manifests' RBAC is what is enforced), against a real
 * kube-apiserver + etcd + kwok, a real Loki-protocol store (VictoriaLogs, through its Loki push endpoint) and
 * a real NATS JetStream. The test only appends to kwok pods' CRI log files, writes Kubernetes objects through
 * the API and reads back what reached the store (LogsQL) and JetStream (the consumer SDK). Ordered steps
 * share one environment.
 *
 * Loki drops an entry identical (stream, timestamp and line) to one it already holds; VictoriaLogs keeps it.
 * The store's answers are read as Loki would hold them (exact copies counted, then dropped: queryRange), and
 * the detector's own counters (rsd_lines_in_total, read from its /metrics) prove it did not read a line twice.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tailFindings, type Finding, type Tail } from '../../src/consumer/index.ts';
import { findingErrors } from '../helpers/validate-finding.ts';
import { connectNats } from '../../src/nats/connection.ts';
import { applyLayout } from '../../src/nats/streams.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { shouldSkip } from '../env/binaries.ts';
import { appendCriLines, startKube, type KubeEnv } from '../env/kube.ts';
import { exactDuplicates, queryLogs, startVictoriaLogs, type StoredEntry as LokiEntry, type VictoriaLogsHandle } from '../env/victorialogs.ts';
import { startNats, type NatsServerHandle } from '../env/nats.ts';
import { freePort } from '../env/ports.ts';
import { detectorProcess, repoRoot, type DetectorProcess } from './helpers/detector.ts';
import { applyManifests, type AppliedManifests } from './helpers/manifests.ts';
import { shippedConfig, type ShippedConfig } from './helpers/shipped-config.ts';
import { nextTs, sleep, until } from './helpers/wait.ts';

const skip = shouldSkip('product e2e', ['etcd', 'kube-apiserver', 'kubectl', 'kwok', 'victoria-logs', 'nats-server']);

const CLUSTER = 'e2e';
const NS = 'shop';

const tsToNs = (ts: string): string => {
  const m = /^(.{19})\.(\d{9})Z$/.exec(ts)!;
  return (BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt(m[2]!)).toString();
};
const k8sTime = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

interface Written {
  ts: string;
  line: string;
}

describe.skipIf(skip)('robot-sre-detector end to end (manifests RBAC, kube-apiserver + kwok, Loki, JetStream)', () => {
  let kube: KubeEnv;
  let loki: VictoriaLogsHandle;
  /** Exact duplicates the store held over the run (VictoriaLogs keeps them; Loki stores such a copy once). */
  let exactCopies = 0;
  let nats: NatsServerHandle;
  let nc: NatsConnection | undefined;
  let tail: Tail | undefined;
  let manifests: AppliedManifests;
  let shipped: ShippedConfig;
  let detector: DetectorProcess;
  let dir = '';
  let detectorToken = '';
  let failed = false;
  const findings: { finding: Finding; subject: string }[] = [];
  /** Everything appended to each pod's log files, in order (all instances of its container). */
  const written = new Map<string, Written[]>();
  /** Current CRI file of each pod. */
  const files = new Map<string, string>();

  async function append(pod: string, lines: string[], stream: 'stdout' | 'stderr' = 'stdout'): Promise<Written[]> {
    const w = lines.map((line) => ({ ts: nextTs(), line }));
    await appendCriLines(files.get(pod)!, w.map((x) => ({ ...x, stream })));
    written.set(pod, [...(written.get(pod) ?? []), ...w]);
    return w;
  }

  async function podWithLogs(name: string, labels: Record<string, string>, owner?: { kind: string; name: string }): Promise<void> {
    const file = join(dir, `${name}-${randomUUID().slice(0, 8)}.log`);
    await appendCriLines(file, []);
    files.set(name, file);
    await kube.createPod({
      name,
      namespace: NS,
      labels,
      ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: randomUUID(), controller: true }] } : {}),
    });
    await kube.setPodLogs(NS, name, { logsFile: file });
  }

  /** Container status as the kubelet would write it (status subresource, as admin). */
  async function setContainerStatus(pod: string, status: Record<string, unknown>): Promise<void> {
    await kube.api('PATCH', `/api/v1/namespaces/${NS}/pods/${pod}/status`,
      { status: { containerStatuses: [{ name: 'app', image: 'registry.example/app:1', imageID: '', ready: true, ...status }] } },
      { contentType: 'application/merge-patch+json' });
  }

  async function createEvent(name: string, involved: { kind: string; name: string; uid?: string }, reason: string, message: string, count = 1, component = 'kubelet'): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: NS },
      involvedObject: { apiVersion: 'v1', namespace: NS, ...involved },
      reason,
      message,
      type: 'Warning',
      count,
      firstTimestamp: k8sTime(),
      lastTimestamp: k8sTime(),
      source: { component, ...(component === 'kubelet' ? { host: 'node-a' } : {}) },
    };
    const cur = await kube.request('GET', `/api/v1/namespaces/${NS}/events/${name}`);
    if (cur.status === 200) {
      const old = JSON.parse(cur.body) as { metadata: { resourceVersion: string }; firstTimestamp: string };
      await kube.api('PUT', `/api/v1/namespaces/${NS}/events/${name}`, { ...body, firstTimestamp: old.firstTimestamp, metadata: { ...body.metadata, resourceVersion: old.metadata.resourceVersion } });
    } else await kube.api('POST', `/api/v1/namespaces/${NS}/events`, body);
  }

  /**
   * The store's entries for a LogsQL query, as Loki would hold them: an exact duplicate (same stream,
   * nanosecond timestamp and line, which a re-send after a restart produces) is stored once by Loki,
   * and twice by VictoriaLogs, so it is counted (exactCopies, printed at the end) and dropped here.
   */
  async function queryRange(logsql: string): Promise<LokiEntry[]> {
    const all = await queryLogs(loki.url, logsql);
    const copies = new Set(exactDuplicates(all));
    exactCopies = Math.max(exactCopies, copies.size);
    return all.filter((e) => !copies.has(e));
  }

  /** Pod log lines of one pod in the store, oldest first (pod is structured metadata: a field filter in LogsQL). */
  const lokiPodLines = (pod: string): Promise<LokiEntry[]> => queryRange(`{cluster="${CLUSTER}", namespace="${NS}", source="pod"} pod:="${pod}"`);

  /** Waits until Loki holds as many lines of the pod as were written, then returns them. */
  async function lokiHasAll(pod: string, timeoutMs = 30_000): Promise<LokiEntry[]> {
    const want = written.get(pod) ?? [];
    let got: LokiEntry[] = [];
    await until(`${want.length} lines of ${pod} in Loki`, async () => (got = await lokiPodLines(pod)).length >= want.length, timeoutMs,
      async () => `Loki has ${got.length}; last: ${JSON.stringify(got.slice(-3).map((e) => e.line))}\n${await diag()}`);
    return got;
  }

  /** What the detector says about itself, for failure messages. */
  async function diag(): Promise<string> {
    const m = await detector.metricsText(['rsd_lines_in_total', 'rsd_lines_out_total', 'rsd_kube_log_reconnects_total', 'rsd_kube_resume_duplicates_dropped_total',
      'rsd_followed_containers', 'rsd_sink_requests_total', 'rsd_watch_restarts_total', 'rsd_dropped_total', 'rsd_kube_forbidden']);
    return `--- detector metrics ---\n${m}\n--- detector log (tail) ---\n${detector.tail(4000)}`;
  }

  function expectExactly(pod: string, got: LokiEntry[]): void {
    const want = written.get(pod) ?? [];
    expect(got.map((e) => e.line)).toEqual(want.map((w) => w.line));
    expect(got.map((e) => e.ts)).toEqual(want.map((w) => tsToNs(w.ts)));
  }

  const podLinesIn = (): Promise<number> => detector.metric('rsd_lines_in_total', { source: 'pod' });
  const eventsIn = (): Promise<number> => detector.metric('rsd_lines_in_total', { source: 'event' });
  const observed = (type: string): Finding[] => findings.filter((f) => f.finding.incident_type === type && f.finding.status === 'observed').map((f) => f.finding);

  async function compactEtcd(): Promise<number> {
    const range = await fetch(`${kube.etcd.url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
    const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
    const res = await fetch(`${kube.etcd.url}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
    if (res.status !== 200) throw new Error(`etcd compaction: HTTP ${res.status} ${await res.text()}`);
    return revision;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-product-'));
    failed = true; // until the detector is up: a failed setup keeps its files too
    // In parallel, but every server that did start is stopped in afterAll even if another one failed.
    const [k, l, n] = await Promise.allSettled([startKube(), startVictoriaLogs(), startNats()]);
    if (k.status === 'fulfilled') kube = k.value;
    if (l.status === 'fulfilled') loki = l.value;
    if (n.status === 'fulfilled') nats = n.value;
    for (const r of [k, l, n]) if (r.status === 'rejected') throw r.reason;

    manifests = await applyManifests(kube, join(repoRoot, 'manifests', 'base'));
    const sa = manifests.serviceAccount;
    detectorToken = await kube.serviceAccountToken(sa.namespace, sa.name);
    const kubeconfig = await kube.writeKubeconfig(detectorToken, 'detector');

    await kube.createNode('node-a');
    await kube.createNamespace(NS);
    // RBAC is served from an informer cache: the fresh ClusterRoleBinding takes effect shortly after the write.
    await until('the manifests\' RBAC to be effective', async () =>
      (await kube.request('GET', `/api/v1/namespaces/${NS}/events`, { token: detectorToken })).status === 200);

    nc = await connectNats({ servers: [nats.url] });
    const layout = await applyLayout(nc);
    const refused = layout.filter((r) => r.action === 'error' || r.action === 'blocked');
    if (refused.length) throw new Error(`streams apply failed: ${JSON.stringify(refused)}`);
    tail = await tailFindings({ connection: nc, from: 'all', onFinding: (env, subject) => findings.push({ finding: env.data, subject }) });

    await podWithLogs('web-0', { app: 'web' }, { kind: 'StatefulSet', name: 'web' });
    await podWithLogs('api-7c9d8f6b5-x2k4q', { app: 'api', 'pod-template-hash': '7c9d8f6b5' }, { kind: 'ReplicaSet', name: 'api-7c9d8f6b5' });
    await podWithLogs('worker-0', { app: 'worker' }, { kind: 'StatefulSet', name: 'worker' });
    await setContainerStatus('worker-0', { containerID: 'containerd://worker-1', restartCount: 0, state: { running: { startedAt: k8sTime() } } });
    // Written before the detector starts: read on first sight (lookback), not only what comes live.
    await append('web-0', ['web starting', 'web listening on :8080', 'web ready']);

    // The config the Deployment would run (ConfigMaps as stored by the API server, operator rules and the
    // mounted site pipeline included), with only the out-of-cluster differences overridden.
    const port = await freePort();
    shipped = await shippedConfig(manifests, join(dir, 'pod'), {
      cluster: CLUSTER,
      kubernetes: { kubeconfig, namespaces: [NS] },
      loki: { url: loki.lokiUrl },
      nats: { servers: [nats.url] },
      // Cursors in JetStream KV: a restarted detector (or another replica) resumes from them.
      state: { store: 'jetstream-kv' },
      server: { host: '127.0.0.1', port },
      findings: { stdout: false },
    });
    detector = detectorProcess({ configFile: shipped.configFile, port, logFile: join(dir, 'detector.log'), env: { ...shipped.env, POD_NAME: 'robot-sre-detector-5d8f7c9b4-abcde' } });
    await detector.start();
    failed = false;
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });

  afterAll(async () => {
    process.stderr.write(`product e2e: exact duplicate entries the store held (a Loki would keep each once): ${exactCopies}\n`);
    await detector?.stop().catch(() => undefined);
    await tail?.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await Promise.allSettled([kube?.stop(), loki?.stop(), nats?.stop()]);
    // The detector's log and config stay for a failed run (the path is printed).
    if (failed && dir) process.stderr.write(`product e2e failed: detector log and config kept in ${dir}\n`);
    else if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('applies manifests/base (server-side dry run, then for real) and runs as its ServiceAccount under its RBAC', async () => {
    const kinds = manifests.objects.map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment']));
    for (const o of manifests.objects) {
      expect(manifests.dryRunOutput).toContain(`${o.metadata.name} created (server dry run)`);
      expect(manifests.applyOutput).toMatch(new RegExp(`/${o.metadata.name} (created|configured|unchanged)`));
    }
    const sa = manifests.serviceAccount;
    await kube.api('GET', `/api/v1/namespaces/${sa.namespace}/serviceaccounts/${sa.name}`);
    // The token is the ServiceAccount's; what it may do is exactly what the ClusterRole grants.
    const whoami = await kube.api<{ status: { userInfo: { username: string } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, { token: detectorToken });
    expect(whoami.status.userInfo.username).toBe(`system:serviceaccount:${sa.namespace}:${sa.name}`);
    expect((await kube.request('GET', `/api/v1/namespaces/${NS}/pods/web-0/log`, { token: detectorToken })).status).toBe(200);
    expect((await kube.request('GET', `/api/v1/namespaces/${NS}/secrets`, { token: detectorToken })).status).toBe(403);
    expect((await kube.request('GET', '/api/v1/nodes', { token: detectorToken })).status).toBe(403);

    expect((await detector.readyz()).status).toBe(200);
    expect(await detector.metric('rsd_kube_forbidden')).toBe(0);
    expect(await detector.metric('rsd_kube_api_requests_total', { resource: 'pods', code: '200' })).toBeGreaterThan(0);
    expect(await detector.metric('rsd_kube_api_requests_total', { resource: 'events', code: '200' })).toBeGreaterThan(0);
  });

  it('pod lines reach Loki once each, in order, with the low-cardinality labels and the pod in structured metadata', async () => {
    await append('web-0', Array.from({ length: 20 }, (_, i) => `GET /api/items/${i} 200 ${i + 3}ms`));
    const got = await lokiHasAll('web-0');
    expectExactly('web-0', got);
    for (const e of got) {
      expect(e.labels).toEqual({ cluster: CLUSTER, namespace: NS, app: 'web', container: 'app', source: 'pod' });
      expect(e.structuredMetadata).toMatchObject({ pod: 'web-0', node: 'node-a' });
    }
    // The label set alone selects them: the stream is the workload, not the pod.
    const byLabels = await queryRange(`{cluster="${CLUSTER}", namespace="${NS}", app="web", container="app", source="pod"}`);
    expect(byLabels.map((e) => e.line)).toEqual(got.map((e) => e.line));
    expect(await podLinesIn()).toBe(written.get('web-0')!.length);
  });

  it('incident lines become schema-valid findings on JetStream, scoped to the pod', async () => {
    const pod = 'api-7c9d8f6b5-x2k4q';
    await append(pod, ['request handled in 12ms']);
    await append(pod, ['publish order.created failed: nats: no servers available for connection'], 'stderr');
    await append(pod, ['fatal error: runtime: out of memory'], 'stderr');
    await append(pod, Array.from({ length: 6 }, (_, i) => `auth: ldap bind to ldap://ldap.corp:389 failed: i/o timeout (attempt ${i + 1})`), 'stderr');
    await append(pod, ['cert-manager: failed to renew certificate shop/api-tls: ACME order not ready'], 'stderr');

    // Default rules, the operator rule of the shipped rules.yaml (runtime_out_of_memory) and the mounted
    // site pipeline (certificate_renewal_failed).
    const want = ['nats_unavailable', 'oom_killed', 'ldap_unreachable', 'identity_provider_unreachable', 'runtime_out_of_memory', 'certificate_renewal_failed'];
    await until(`findings ${want.join(', ')}`, () => want.every((t) => observed(t).length > 0), 45_000,
      async () => `findings so far: ${JSON.stringify(findings.map((f) => f.finding.incident_type))}\n${await diag()}`);
    for (const type of want) {
      const f = observed(type)[0]!;
      expect(findingErrors(f), `${type}: ${JSON.stringify(f)}`).toEqual([]);
      expect(f.resource_scope).toMatchObject({ cluster: CLUSTER, namespace: NS });
      if (type !== 'identity_provider_unreachable') {
        // Line rules name the pod, container and workload that said it.
        expect(f.resource_scope).toMatchObject({ pod, container: 'app', workload: 'api', workload_kind: 'Deployment' });
        expect(f.evidence.lines.length).toBeGreaterThan(0);
        expect(f.evidence.lines[0]!.pod).toBe(pod);
      }
      expect(f.evidence.loki.query).toContain(`namespace="${NS}"`);
    }
    const subject = findings.find((f) => f.finding.incident_type === 'oom_killed')!.subject;
    expect(subject).toBe(`ops.findings.observed.${NS}.oom_killed`);
    expect(observed('ldap_unreachable')[0]!.count).toBeGreaterThanOrEqual(1);
    // Findings point into Loki, and the lines are there.
    expectExactly(pod, await lokiHasAll(pod));
  });

  it('a FailedScheduling event created through the API becomes a scheduling_failed finding', async () => {
    // A Pending pod: no node, no scheduler; only its event says why.
    const pending = await kube.api<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'big-0', namespace: NS, labels: { app: 'big' } },
      spec: { containers: [{ name: 'app', image: 'registry.example/big:1', resources: { requests: { cpu: '64' } } }] },
    });
    await createEvent('big-0.failedscheduling', { kind: 'Pod', name: 'big-0', uid: pending.metadata.uid }, 'FailedScheduling',
      '0/2 nodes are available: 2 Insufficient cpu.', 1, 'default-scheduler');
    await until('scheduling_failed finding', () => observed('scheduling_failed').length > 0, 30_000,
      async () => `findings so far: ${JSON.stringify(findings.map((f) => f.finding.incident_type))}\n${await diag()}`);
    const f = observed('scheduling_failed')[0]!;
    expect(findingErrors(f)).toEqual([]);
    expect(f.resource_scope).toMatchObject({ cluster: CLUSTER, namespace: NS, kind: 'Pod', name: 'big-0' });
    expect(f.domain).toBe('infrastructure');
    let events: LokiEntry[] = [];
    await until('the event in Loki', async () => (events = await queryRange(`{namespace="${NS}", source="event"} ~"FailedScheduling"`)).length > 0);
    expect(events).toHaveLength(1);
    expect(events[0]!.line).toContain('0/2 nodes are available: 2 Insufficient cpu.');
    expect(await eventsIn()).toBe(1);
  });

  it('container restart: the new instance is followed and the previous instance\'s lines are in Loki exactly once', async () => {
    const pod = 'worker-0';
    await append(pod, ['worker started', 'processing batch 1']);
    expectExactly(pod, await lokiHasAll(pod));
    const before = await podLinesIn();

    // The crash: last words in the old file (the follow stream may or may not catch them before the switch),
    // a new file for the new instance, kwok serving the old one as previous, and the kubelet's status update.
    await append(pod, ['processing batch 2', 'error: cannot write checkpoint: connection reset by peer', 'worker exiting with status 1'], 'stderr');
    const oldFile = files.get(pod)!;
    const newFile = join(dir, 'worker-0-second.log');
    await appendCriLines(newFile, []);
    files.set(pod, newFile);
    await append(pod, ['worker started', 'resuming from checkpoint 1']);
    await kube.setPodLogs(NS, pod, { logsFile: newFile, previousLogsFile: oldFile });
    // A kubelet serves the previous instance's log before the status shows the restart; kwok learns the new
    // files through a watch, so wait until it does (else previous=true answers 400 for a moment).
    await until('kwok to serve the previous instance', async () => {
      const prev = await kube.request('GET', `/api/v1/namespaces/${NS}/pods/${pod}/log?previous=true`);
      const cur = await kube.request('GET', `/api/v1/namespaces/${NS}/pods/${pod}/log`);
      return prev.status === 200 && prev.body.includes('worker exiting with status 1') && cur.status === 200 && cur.body.includes('resuming from checkpoint 1');
    });
    const now = k8sTime();
    await setContainerStatus(pod, {
      containerID: 'containerd://worker-2',
      restartCount: 1,
      state: { running: { startedAt: now } },
      lastState: { terminated: { containerID: 'containerd://worker-1', exitCode: 1, reason: 'Error', startedAt: now, finishedAt: now } },
    });
    await append(pod, ['processing batch 2']);

    const got = await lokiHasAll(pod);
    expectExactly(pod, got);
    // Read exactly once by the detector too (Loki would have hidden a re-sent copy).
    await until('the detector to count the restart lines', async () => (await podLinesIn()) - before >= 6);
    await sleep(1500);
    expect((await podLinesIn()) - before).toBe(6);
    const status = await queryRange(`{namespace="${NS}", source="pod_status"} pod:="${pod}"`);
    expect(status.length).toBe(1);
    expect(status[0]!.line).toMatch(/Error/);
  });

  it('detector restart: SIGTERM flushes, lines written while it is down arrive, nothing twice (cursors in JetStream KV)', async () => {
    const eventsBefore = await eventsIn();
    expect(eventsBefore).toBeGreaterThan(0);
    expect(await detector.stop()).toBe(0);

    const whileDown = [
      ...(await append('web-0', Array.from({ length: 5 }, (_, i) => `while the detector is down ${i}`))),
      ...(await append('worker-0', ['processing batch 3'])),
    ];
    await createEvent('web-0.backoff', { kind: 'Pod', name: 'web-0' }, 'BackOff', 'Back-off restarting failed container app in pod web-0');

    await detector.start();
    const after = await append('web-0', Array.from({ length: 5 }, (_, i) => `after the restart ${i}`));
    for (const pod of ['web-0', 'worker-0', 'api-7c9d8f6b5-x2k4q']) expectExactly(pod, await lokiHasAll(pod));

    // A fresh process: its counters start at zero, so they count exactly what it read. Without the cursors
    // it would re-read every container from the lookback (and Loki would silently drop the copies).
    const expected = whileDown.length + after.length;
    await until('the restarted detector to count the new lines', async () => (await podLinesIn()) >= expected);
    await until('the event written while down', async () => (await eventsIn()) >= 1);
    await sleep(1500);
    expect(await podLinesIn()).toBe(expected);
    expect(await eventsIn()).toBe(1);
    const backoff = await queryRange(`{namespace="${NS}", source="event"} ~"reason=BackOff"`);
    expect(backoff).toHaveLength(1);
    // The crashed instance's termination is still one record in Loki (a restarted detector may report it
    // again within the lookback; it must be the same entry, which Loki keeps once).
    expect(await queryRange(`{namespace="${NS}", source="pod_status"} pod:="worker-0"`)).toHaveLength(1);
  });

  it('a 410 on the events watch (etcd compacted while the API server was down) re-lists without re-emitting events', async () => {
    const goneBefore = await detector.metric('rsd_watch_restarts_total', { resource: 'events', reason: 'gone' });
    const eventsBefore = await eventsIn();

    // Why this produces a 410: the detector resumes its events watch from the last resourceVersion it saw once
    // the API server is back. A restart alone does not do it for events (measured: without the compaction the
    // pods watch got a 410 from the restarted API server, the events watch resumed without one and no re-list
    // came within 90 s). Compacting etcd at its current revision while the API server is down makes every older
    // revision unreadable, so the resumed events watch is answered 410 Gone ("too old resource version") and
    // the detector has to re-list; the re-list returns the events it already emitted.
    await kube.apiserver.stop();
    await compactEtcd();
    await kube.apiserver.start();

    await until('the events watch to report 410 Gone and re-list', async () =>
      (await detector.metric('rsd_watch_restarts_total', { resource: 'events', reason: 'gone' })) > goneBefore, 90_000, diag);
    await until('the detector ready again', async () => (await detector.readyz()).status === 200, 60_000);

    // New things after the re-list are seen; the re-listed old ones are not emitted again.
    await createEvent('web-0.failedmount', { kind: 'Pod', name: 'web-0' }, 'FailedMount', 'MountVolume.SetUp failed for volume "data" : secret "web-tls" not found');
    await append('web-0', ['after the API server restart']);
    await until('volume_mount_failed finding', () => observed('volume_mount_failed').length > 0, 60_000, diag);
    expectExactly('web-0', await lokiHasAll('web-0', 60_000));
    await sleep(1500);
    expect((await eventsIn()) - eventsBefore).toBe(1);
    expect(await queryRange(`{namespace="${NS}", source="event"}`)).toHaveLength(3);
  });

  it('no finding was published twice over the whole run (restart and re-list included)', () => {
    const keys = findings.filter((f) => f.finding.status === 'observed').map((f) => f.finding.dedupe_key);
    expect(keys.length).toBeGreaterThan(0);
    expect(new Set(keys).size).toBe(keys.length);
    expect(observed('scheduling_failed')).toHaveLength(1);
    for (const f of findings) expect(findingErrors(f.finding)).toEqual([]);
  });
});
