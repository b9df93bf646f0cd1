/**
 * The Kubernetes sources against a real control plane: etcd + kube-apiserver (RBAC enforced) + kwok, pods
 * whose logs are CRI files this test appends to. The sources run with a ServiceAccount token bound to the
 * rules of manifests/base/rbac.yaml (get/list/watch on pods, pods/log, events), so every request is
 * authorized the way it is in a cluster.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { acknowledge } from '../../src/delivery/acks.ts';
import { createKubeSources, type KubeSourceOptions, type KubeSources } from '../../src/sources/kube/index.ts';
import { FileStore } from '../../src/state/file-store.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { shouldSkip } from '../env/binaries.ts';
import { appendCriLines, startKube, type KubeEnv } from '../env/kube.ts';
import { sleep, until } from './helpers/wait.ts';

const skip = shouldSkip('kube-sources', ['etcd', 'kube-apiserver', 'kubectl', 'kwok']);

const NS = 'shop';

/** Kubelet-style fixed 9-digit timestamp, `ms` from now. */
function ts(offsetMs = 0, nanos = 0): string {
  const t = Date.now() + offsetMs;
  return `${new Date(t).toISOString().slice(0, 19)}.${String((t % 1000) * 1_000_000 + nanos).padStart(9, '0')}Z`;
}

interface Running {
  s: KubeSources;
  got: LogRecord[];
  lines(pod?: string): string[];
  stop(): Promise<void>;
}

describe.skipIf(skip)('kube sources against a real kube-apiserver + kwok', () => {
  let env: KubeEnv;
  let detectorKubeconfig = '';
  let limitedKubeconfig = '';
  const running: Running[] = [];

  async function start(opts: Partial<KubeSourceOptions> = {}, withEvents = false): Promise<Running> {
    const s = createKubeSources({
      kubeconfigPath: detectorKubeconfig,
      cluster: 'e2e',
      namespaces: [NS],
      stateStore: new MemoryStore(),
      cursorFlushMs: 100,
      batchMaxWaitMs: 10,
      ...opts,
    });
    const got: LogRecord[] = [];
    const sink = (b: LogRecord[], ack: (b: LogRecord[]) => void): void => {
      got.push(...b);
      ack(b);
    };
    // Each record carries its source's handle (record.ack): delivered at once, as a healthy sink would.
    s.pods.records$.subscribe((b) => sink(b, acknowledge));
    s.events.records$.subscribe((b) => sink(b, acknowledge));
    await s.pods.start();
    if (withEvents) await s.events.start();
    let stopped = false;
    const r: Running = {
      s,
      got,
      lines: (pod) => got.filter((x) => x.kind === 'pod' && (!pod || x.target.pod === pod)).map((x) => x.line),
      async stop() {
        if (stopped) return;
        stopped = true;
        await s.pods.stop();
        await s.events.stop();
      },
    };
    running.push(r);
    await until('pods synced', () => s.pods.unready() === null);
    return r;
  }

  async function podWithLogs(name: string, extra: { labels?: Record<string, string>; owner?: string } = {}): Promise<string> {
    const file = join(env.dir, `${name}-${randomUUID().slice(0, 8)}.log`);
    await appendCriLines(file, []);
    await env.createPod({
      name,
      namespace: NS,
      labels: extra.labels ?? { app: name },
      ...(extra.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: extra.owner, uid: randomUUID(), controller: true }] } : {}),
    });
    await env.setPodLogs(NS, name, { logsFile: file });
    return file;
  }

  /** Sets container IDs and states through the status subresource, as the kubelet would. */
  async function setContainerStatus(pod: string, status: Record<string, unknown>): Promise<void> {
    await env.api('PATCH', `/api/v1/namespaces/${NS}/pods/${pod}/status`, { status: { containerStatuses: [{ name: 'app', image: 'registry.example/app:1', imageID: '', ready: true, ...status }] } }, { contentType: 'application/merge-patch+json' });
  }

  async function createEvent(name: string, reason: string, count: number): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: NS },
      involvedObject: { kind: 'Pod', namespace: NS, name: 'web-0', apiVersion: 'v1' },
      reason,
      message: `${reason} for the e2e test`,
      type: 'Warning',
      count,
      firstTimestamp: new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      source: { component: 'kubelet', host: 'node-a' },
    };
    const cur = await env.request('GET', `/api/v1/namespaces/${NS}/events/${name}`);
    if (cur.status === 200) {
      const rv = (JSON.parse(cur.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
      await env.api('PUT', `/api/v1/namespaces/${NS}/events/${name}`, { ...body, metadata: { ...body.metadata, resourceVersion: rv } });
    } else await env.api('POST', `/api/v1/namespaces/${NS}/events`, body);
  }

  async function compactEtcd(): Promise<number> {
    const range = await fetch(`${env.etcd.url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
    const rev = Number(((await range.json()) as { header: { revision: string } }).header.revision);
    const res = await fetch(`${env.etcd.url}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: rev, physical: true }) });
    expect(res.status).toBe(200);
    return rev;
  }

  beforeAll(async () => {
    env = await startKube();
    await env.createNode('node-a');
    await env.createNamespace(NS);
    await env.createNamespace('rsd');
    const rules = [{ apiGroups: [''], resources: ['pods', 'pods/log', 'events'], verbs: ['get', 'list', 'watch'] }];
    const limitedRules = [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] }];
    const binding = (role: string, sa: string): Record<string, unknown> => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: 'rsd' }],
    });
    await env.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'rsd-detector' }, rules },
        binding('rsd-detector', 'detector'),
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'rsd-limited' }, rules: limitedRules },
        binding('rsd-limited', 'limited'),
      ],
    }));
    detectorKubeconfig = await env.writeKubeconfig(await env.serviceAccountToken('rsd', 'detector'), 'detector');
    limitedKubeconfig = await env.writeKubeconfig(await env.serviceAccountToken('rsd', 'limited'), 'limited');
    // RBAC is served from an informer cache: wait until the binding is effective.
    const token = await env.serviceAccountToken('rsd', 'detector');
    await until('RBAC effective', async () => (await env.request('GET', `/api/v1/namespaces/${NS}/events`, { token })).status === 200);
  });

  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
  });

  afterAll(async () => {
    await env?.stop();
  });

  it('follows a new pod: its lines arrive with the workload resolved from ownerReferences', async () => {
    const r = await start();
    const file = await podWithLogs('web-0', { owner: 'web', labels: { 'app.kubernetes.io/name': 'web' } });
    await appendCriLines(file, Array.from({ length: 5 }, (_, i) => ({ ts: ts(0, i), line: `web line ${i}` })));
    await until('5 lines', () => r.lines('web-0').length === 5);
    expect(r.lines('web-0')).toEqual(['web line 0', 'web line 1', 'web line 2', 'web line 3', 'web line 4']);
    expect(r.got.find((x) => x.kind === 'pod')!.target).toMatchObject({ cluster: 'e2e', namespace: NS, pod: 'web-0', container: 'app', workload: 'web', workloadKind: 'StatefulSet', app: 'web', node: 'node-a' });
    await appendCriLines(file, [{ ts: ts(), line: 'live line' }]);
    await until('live line', () => r.lines('web-0').includes('live line'));
  });

  it('container restart: follows the new instance and reads the crashed one exactly once (previous=true)', async () => {
    const first = await podWithLogs('crash');
    await setContainerStatus('crash', { containerID: 'containerd://crash-1', restartCount: 0, state: { running: { startedAt: new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z') } } });
    const r = await start();
    await appendCriLines(first, [{ ts: ts(), line: 'booting' }]);
    await until('booting', () => r.lines('crash').includes('booting'));
    // The crash: last words in the old file, a new instance with a new file, the kubelet's status update.
    await appendCriLines(first, [{ ts: ts(0, 1), stream: 'stderr', line: 'fatal error: runtime: out of memory' }]);
    const second = join(env.dir, 'crash-2.log');
    await appendCriLines(second, [{ ts: ts(1000), line: 'booting again' }]);
    await env.setPodLogs(NS, 'crash', { logsFile: second, previousLogsFile: first });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await setContainerStatus('crash', {
      containerID: 'containerd://crash-2',
      restartCount: 1,
      state: { running: { startedAt: now } },
      lastState: { terminated: { containerID: 'containerd://crash-1', exitCode: 137, reason: 'OOMKilled', startedAt: now, finishedAt: now } },
    });
    await until('new instance', () => r.lines('crash').includes('booting again'));
    await until('previous read', () => r.lines('crash').includes('fatal error: runtime: out of memory'));
    await sleep(1500);
    const of = (id: string): string[] => r.got.filter((x) => x.kind === 'pod' && x.target.containerId === id).map((x) => x.line);
    expect(of('containerd://crash-1')).toEqual(['booting', 'fatal error: runtime: out of memory']);
    expect(of('containerd://crash-2')).toEqual(['booting again']);
    const oom = r.got.filter((x) => x.kind === 'pod_status' && x.fields?.reason === 'OOMKilled');
    expect(oom).toHaveLength(1);
    expect(oom[0]).toMatchObject({ level: 'error', target: { pod: 'crash', containerId: 'containerd://crash-1' }, fields: { exit_code: '137' } });
  });

  it('a crash while the detector was down: the restarted detector reads only the unread tail of the crashed instance', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsd-cursors-'));
    const first = await podWithLogs('crash-offline');
    const start1 = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await setContainerStatus('crash-offline', { containerID: 'containerd://off-1', restartCount: 0, state: { running: { startedAt: start1 } } });
    const r1 = await start({ stateStore: new FileStore(dir) });
    await appendCriLines(first, [{ ts: ts(), line: 'serving' }]);
    await until('serving', () => r1.lines('crash-offline').includes('serving'));
    await r1.stop();
    // Only the previous instance's file holds these lines once the new instance is current.
    await appendCriLines(first, [{ ts: ts(0, 1), line: 'panic: assignment to entry in nil map' }, { ts: ts(0, 2), line: 'goroutine 1 [running]:' }]);
    const second = join(env.dir, 'crash-offline-2.log');
    await appendCriLines(second, [{ ts: ts(1000), line: 'serving again' }]);
    await env.setPodLogs(NS, 'crash-offline', { logsFile: second, previousLogsFile: first });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await setContainerStatus('crash-offline', {
      containerID: 'containerd://off-2',
      restartCount: 1,
      state: { running: { startedAt: now } },
      lastState: { terminated: { containerID: 'containerd://off-1', exitCode: 2, reason: 'Error', startedAt: start1, finishedAt: now } },
    });
    const r2 = await start({ stateStore: new FileStore(dir) });
    await until('tail and new instance', () => r2.lines('crash-offline').length >= 3);
    await sleep(1500);
    const of = (id: string): string[] => r2.got.filter((x) => x.kind === 'pod' && x.target.containerId === id).map((x) => x.line);
    expect(of('containerd://off-1')).toEqual(['panic: assignment to entry in nil map', 'goroutine 1 [running]:']);
    expect(of('containerd://off-2')).toEqual(['serving again']);
  });

  it('a restarted detector resumes from its FileStore cursor without duplicates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsd-cursors-'));
    const file = await podWithLogs('resume');
    const t0 = ts();
    await appendCriLines(file, Array.from({ length: 4 }, (_, i) => ({ ts: t0, line: `same instant ${i % 2}` })));
    const r1 = await start({ stateStore: new FileStore(dir) });
    await until('4 lines', () => r1.lines('resume').length === 4);
    await r1.stop();
    // Same timestamp as the cursor, then later ones.
    await appendCriLines(file, [{ ts: t0, line: 'same instant 0' }, { ts: ts(0, 5), line: 'later 1' }, { ts: ts(0, 6), line: 'later 2' }]);
    const r2 = await start({ stateStore: new FileStore(dir) });
    await until('3 new lines', () => r2.lines('resume').length >= 3);
    await sleep(1500);
    expect(r2.lines('resume')).toEqual(['same instant 0', 'later 1', 'later 2']);
  });

  it('a ServiceAccount without events permission gets a clear 403 and pods are still tailed', async () => {
    const file = await podWithLogs('limited-web');
    const r = await start({ kubeconfigPath: limitedKubeconfig }, true);
    await appendCriLines(file, [{ ts: ts(), line: 'still tailed' }]);
    await until('pod line', () => r.lines('limited-web').includes('still tailed'));
    await until('forbidden reported', async () => ((await metrics.kubeForbidden.get()).values.find((v) => v.labels.resource === 'events' && v.labels.verb === 'list')?.value ?? 0) === 1);
    expect(r.s.events.unready()).toBeNull();
    const err = await r.s.api.json({ verb: 'list', resource: 'events', namespace: NS, path: `/api/v1/namespaces/${NS}/events` }).catch((e: Error) => e);
    expect((err as Error).message).toContain('RBAC forbids the detector to "list" events in namespace "shop"');
    expect((err as Error).message).toContain('manifests/base/rbac.yaml');
    expect((err as Error).message).toContain('system:serviceaccount:rsd:limited');
  });
  // Last: after an etcd compaction kwok's own informers may not pick up new Logs objects any more.
  it('API server restart with etcd compaction: no gap, no duplicate; events re-listed after 410 without re-emission', async () => {
    const file = await podWithLogs('steady');
    const r = await start({}, true);
    await appendCriLines(file, Array.from({ length: 3 }, (_, i) => ({ ts: ts(0, i), line: `before ${i}` })));
    await createEvent('ev-a', 'BackOff', 1);
    await until('3 lines', () => r.lines('steady').length === 3);
    await until('event a', () => r.got.some((x) => x.kind === 'event' && x.event?.reason === 'BackOff'));
    const gone = async (): Promise<number> => (await metrics.watchRestarts.get()).values.filter((v) => v.labels.reason === 'gone').reduce((a, v) => a + v.value, 0);
    const goneBefore = await gone();

    await env.apiserver.stop();
    await appendCriLines(file, Array.from({ length: 3 }, (_, i) => ({ ts: ts(0, 10 + i), line: `during ${i}` })));
    await until('unready while the API server is down', () => r.s.pods.unready() !== null, 20_000);
    expect(r.s.pods.unready()).toMatch(/unreachable/);
    // Compacting etcd past every revision the detector saw makes its watches' resourceVersion expire.
    await compactEtcd();
    await env.apiserver.start();

    await appendCriLines(file, Array.from({ length: 3 }, (_, i) => ({ ts: ts(0, 20 + i), line: `after ${i}` })));
    await createEvent('ev-a', 'BackOff', 7);
    await createEvent('ev-b', 'FailedMount', 1);
    await until('all 9 lines', () => r.lines('steady').length >= 9, 90_000);
    await until('events after restart', () => r.got.filter((x) => x.kind === 'event').length >= 3, 90_000);
    await until('ready again', () => r.s.pods.unready() === null && r.s.events.unready() === null, 30_000);
    await sleep(1500);
    expect(r.lines('steady')).toEqual(['before 0', 'before 1', 'before 2', 'during 0', 'during 1', 'during 2', 'after 0', 'after 1', 'after 2']);
    const events = r.got.filter((x) => x.kind === 'event').map((x) => `${x.event?.reason}:${x.event?.count}`);
    expect(events.sort()).toEqual(['BackOff:1', 'BackOff:6', 'FailedMount:1']);
    expect(await gone()).toBeGreaterThan(goneBefore);
  }, 240_000);
});
