/**
 * The Kubernetes files profile against the real thing: kwok pods on a real kube-apiserver whose CRI files
 * this test writes, laid out as the kubelet does (`<root>/<ns>_<pod>_<uid>/<container>/0.log`). The API
 * pods source reads them through kube-apiserver → kwok; the files source reads the same files from disk
 * (labels from its node-scoped pods informer, authorized by the rules of manifests/base/rbac.yaml). Each
 * pipeline writes into its own VictoriaLogs through the Loki sink; the stores must hold the same streams,
 * lines and timestamps, and the same records through a fresh engine give identical findings.
 */
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRules } from '../../src/detect/rulesets.ts';
import type { Finding } from '../../src/model/finding.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { parseRecord } from '../../src/parse/record.ts';
import { findings$, detectionEngine } from '../../src/pipeline.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { createKubeFilesSources, type KubeFilesSources } from '../../src/sources/kube-files/index.ts';
import { createKubeSources, type KubeSources } from '../../src/sources/kube/index.ts';
import type { Source } from '../../src/sources/types.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { shouldSkip } from '../env/binaries.ts';
import { startKube, type KubeEnv } from '../env/kube.ts';
import { queryLogs, startVictoriaLogs, type StoredEntry, type VictoriaLogsHandle } from '../env/victorialogs.ts';
import { sleep, until } from './helpers/wait.ts';

const skip = shouldSkip('kube-files-profile', ['etcd', 'kube-apiserver', 'kubectl', 'kwok', 'victoria-logs']);

const NS = 'shop';

/** Kubelet-style fixed 9-digit timestamp, `ms` from now. */
function ts(offsetMs = 0, nanos = 0): string {
  const t = Date.now() + offsetMs;
  return `${new Date(t).toISOString().slice(0, 19)}.${String((t % 1000) * 1_000_000 + nanos).padStart(9, '0')}Z`;
}
const cri = (t: string, line: string, stream = 'stdout', tag = 'F') => `${t} ${stream} ${tag} ${line}\n`;

interface Pipeline {
  got: LogRecord[];
  findings: Finding[];
  sink: LokiSink;
  stop(): Promise<void>;
}

describe.skipIf(skip)('kubernetes files profile: the same pods read from disk and through the API', () => {
  let env: KubeEnv;
  let kubeconfig = '';
  let root = '';
  let vlApi: VictoriaLogsHandle;
  let vlFiles: VictoriaLogsHandle;
  const pods: { name: string; file: string }[] = [];
  let api: KubeSources;
  let files: KubeFilesSources;
  let pApi: Pipeline;
  let pFiles: Pipeline;
  let rules: Awaited<ReturnType<typeof loadRules>>;

  function pipeline(sources: Source[], url: string): Pipeline {
    const engine = detectionEngine({ rules });
    const sink = new LokiSink({ url, batchWaitMs: 50 });
    const got: LogRecord[] = [];
    for (const s of sources) s.records$.subscribe((b) => got.push(...b));
    const found: Finding[] = [];
    const sub = findings$({ sources, engine, logSink: sink }).subscribe((f) => found.push(f));
    return {
      got,
      findings: found,
      sink,
      async stop() {
        sub.unsubscribe();
        await sink.close(5000);
        engine.close();
      },
    };
  }

  /** The records as a fresh engine would replay them: same order (event time, then ts, then line), parsed anew. */
  function replay(recs: LogRecord[]): Finding[] {
    const engine = detectionEngine({ rules });
    const fresh = recs.map((r): LogRecord => ({ ts: r.ts, tsMs: r.tsMs, line: r.line, stream: r.stream, kind: r.kind, target: r.target, level: r.kind === 'pod' ? 'unknown' : r.level, ...(r.fields && r.kind !== 'pod' ? { fields: r.fields } : {}), ...(r.malformed ? { malformed: r.malformed } : {}) }));
    fresh.sort((a, b) => a.tsMs - b.tsMs || (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0) || (a.line < b.line ? -1 : a.line > b.line ? 1 : 0));
    for (const r of fresh) if (r.kind === 'pod') parseRecord(r);
    const out = [...engine.process(fresh), ...engine.tick(Date.now() + 3_600_000)];
    engine.close();
    return out;
  }

  /** Stored entries as comparable keys: stream labels, timestamp, line, structured metadata but `stream` (only the files know it). */
  const key = (e: StoredEntry) => JSON.stringify([Object.entries(e.labels).sort(), e.ts, e.line, Object.entries(e.structuredMetadata).filter(([k]) => k !== 'stream').sort()]);

  async function podWithFile(name: string, meta: { labels: Record<string, string>; ownerReferences?: Record<string, unknown>[] }): Promise<string> {
    const pod = await env.createPod({ name, namespace: NS, labels: meta.labels, ...(meta.ownerReferences ? { ownerReferences: meta.ownerReferences } : {}) });
    const uid = (pod.metadata as { uid: string }).uid;
    const dir = join(root, `${NS}_${name}_${uid}`, 'app');
    await mkdir(dir, { recursive: true });
    const file = join(dir, '0.log');
    await appendFile(file, '');
    await env.setPodLogs(NS, name, { logsFile: file });
    pods.push({ name, file });
    return file;
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rsd-var-log-pods-'));
    [env, vlApi, vlFiles, rules] = await Promise.all([startKube(), startVictoriaLogs(), startVictoriaLogs(), loadRules({ defaults: true, pipelines: [], rules: [] })]);
    await env.createNode('node-a');
    await env.createNamespace(NS);
    await env.createNamespace('rsd');
    // The rules of manifests/base/rbac.yaml: the files profile needs no more than the API profile.
    const rbac = [{ apiGroups: [''], resources: ['pods', 'pods/log', 'events'], verbs: ['get', 'list', 'watch'] }];
    await env.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'rsd-detector' }, rules: rbac },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'rsd-detector' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'rsd-detector' }, subjects: [{ kind: 'ServiceAccount', name: 'detector', namespace: 'rsd' }] },
      ],
    }));
    const token = await env.serviceAccountToken('rsd', 'detector');
    kubeconfig = await env.writeKubeconfig(token, 'detector');
    await until('RBAC effective', async () => (await env.request('GET', `/api/v1/namespaces/${NS}/pods`, { token })).status === 200);
  }, 240_000);

  afterAll(async () => {
    await pApi?.stop();
    await pFiles?.stop();
    await api?.pods.stop();
    await api?.api.close();
    await files?.pods.stop();
    await files?.api.close();
    await Promise.allSettled([env?.stop(), vlApi?.stop(), vlFiles?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('the store holds the same streams, lines and timestamps; the findings are identical', async () => {
    const web = await podWithFile('web-0', { labels: { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/component': 'frontend' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: randomUUID(), controller: true }] });
    const worker = await podWithFile('worker-6b7d9f-l3m4n', { labels: { app: 'worker', 'pod-template-hash': '6b7d9f' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'worker-6b7d9f', uid: randomUUID(), controller: true }] });
    const lone = await podWithFile('debug', { labels: {} });
    // Lines written before either source starts (read from the lookback; stamped after the containers
    // started, as real lines are: the API source reads from max(container start, now - lookback)) …
    await sleep(1100);
    await appendFile(web, [
      cri(ts(-4), 'GET / HTTP/1.1 200'),
      cri(ts(-3), 'dial tcp 10.0.0.5:5432: connect: connection refused', 'stderr'),
      // A line the runtime cut into fragments: one line through the API, one record from the files.
      cri(ts(-2), '{"level":"error","msg":"upstream timed out after 30s", ', 'stdout', 'P'),
      cri(ts(-1), '"path":"/api/cart","trace_id":"4bf92f3577b34da6"}', 'stdout', 'F'),
      // containerd writes RFC3339Nano without trailing zeros: the kubelet's API pads to 9 digits, and so do the files.
      cri(new Date().toISOString(), 'GET /static/app.js HTTP/1.1 200'),
    ].join(''));
    await appendFile(worker, Array.from({ length: 6 }, (_, i) => cri(ts(-1, i), `publish failed: nats: no servers available for connection (attempt ${i})`, 'stderr')).join(''));
    await appendFile(lone, cri(ts(-1), 'panic: runtime error: invalid memory address or nil pointer dereference', 'stderr'));

    const kube = { kubeconfigPath: kubeconfig, cluster: 'e2e', namespaces: [NS], nodeName: 'node-a', batchMaxWaitMs: 10, podStatus: true };
    api = createKubeSources({ ...kube, mode: 'node-local', stateStore: new MemoryStore(), cursorFlushMs: 100 });
    files = createKubeFilesSources({ kube: { ...kube, stateStore: new MemoryStore() }, files: { root, pollIntervalMs: 100, scanIntervalMs: 500, batchMaxWaitMs: 10 } });
    pApi = pipeline([api.pods], vlApi.lokiUrl);
    pFiles = pipeline([files.pods], vlFiles.lokiUrl);
    await api.pods.start();
    await files.pods.start();
    // … and lines written while both follow.
    for (let round = 0; round < 3; round++) {
      await appendFile(web, cri(ts(0, round), `GET /api/cart HTTP/1.1 200 round ${round}`));
      await appendFile(worker, cri(ts(0, round), `publish failed: nats: no servers available for connection (live ${round})`, 'stderr'));
      await sleep(200);
    }
    const expected = 5 + 6 + 1 + 6 - 1; // the fragments are one line
    const podLines = (p: Pipeline) => p.got.filter((r) => r.kind === 'pod');
    await until('every line through both sources', () => podLines(pApi).length >= expected && podLines(pFiles).length >= expected, 60_000,
      () => `api ${podLines(pApi).length}, files ${podLines(pFiles).length} of ${expected}: api ${JSON.stringify(podLines(pApi).map((r) => [r.target.pod, r.ts, r.line]))}`);
    await sleep(1500);
    expect(podLines(pFiles)).toHaveLength(expected);
    expect(podLines(pApi)).toHaveLength(expected);
    expect(files.pods.stats.path).toBe(0);

    // The stores: the same (stream labels, timestamp, line) set and the same structured metadata, except
    // `stream` (stdout/stderr), which only the files say.
    let inApi: StoredEntry[] = [];
    let inFiles: StoredEntry[] = [];
    await until('both stores hold every line', async () => {
      [inApi, inFiles] = await Promise.all([queryLogs(vlApi.url, '{cluster="e2e"}'), queryLogs(vlFiles.url, '{cluster="e2e"}')]);
      return inApi.length === expected && inFiles.length === expected;
    }, 30_000, () => `api store ${inApi.length}, files store ${inFiles.length}`);
    expect(inFiles.map(key).sort()).toEqual(inApi.map(key).sort());
    expect(new Set(inFiles.map((e) => JSON.stringify(Object.entries(e.labels).sort()))).size).toBe(3);
    const joined = inFiles.find((e) => e.line.includes('upstream timed out'))!;
    expect(joined.line).toBe('{"level":"error","msg":"upstream timed out after 30s", "path":"/api/cart","trace_id":"4bf92f3577b34da6"}');
    expect(joined.labels).toMatchObject({ cluster: 'e2e', namespace: NS, app: 'web', component: 'frontend', container: 'app', source: 'pod' });
    expect(inFiles.find((e) => e.line.startsWith('dial tcp'))!.structuredMetadata.stream).toBe('stderr');
    expect(inFiles.find((e) => e.line.includes('live 0'))!.labels).toMatchObject({ app: 'worker', source: 'pod' });

    // Replay-style: the same records in the same order through a fresh engine give the same findings.
    const fApi = replay(podLines(pApi));
    const fFiles = replay(podLines(pFiles));
    expect(fApi.length).toBeGreaterThan(0);
    expect(fFiles).toEqual(fApi);
    expect(new Set(fFiles.map((f) => f.incident_type)).size).toBeGreaterThan(1);
  }, 180_000);

  it('a container restart: the new instance’s file <n>.log and the crashed one, each with its container ID; the OOM kill as pod status; same store, same findings', async () => {
    const name = 'crash';
    const first = await podWithFile(name, { labels: { app: 'crash' } });
    const setStatus = (status: Record<string, unknown>) =>
      env.api('PATCH', `/api/v1/namespaces/${NS}/pods/${name}/status`, { status: { containerStatuses: [{ name: 'app', image: 'registry.example/app:1', imageID: '', ready: true, ...status }] } }, { contentType: 'application/merge-patch+json' });
    const started = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await setStatus({ containerID: 'containerd://crash-1', restartCount: 0, state: { running: { startedAt: started } } });
    await appendFile(first, cri(ts(), 'booting'));
    const lines = (p: Pipeline, id?: string) => p.got.filter((r) => r.kind === 'pod' && r.target.pod === name && (!id || r.target.containerId === id)).map((r) => r.line);
    await until('booting, twice', () => lines(pApi).includes('booting') && lines(pFiles).includes('booting'), 30_000);
    await appendFile(first, cri(ts(0, 1), 'fatal error: runtime: out of memory', 'stderr'));
    // The restart: the runtime's new file 1.log (kwok serves it as current, the old one as previous),
    // then the kubelet's status. The files source waits for the status to name the instance.
    const second = join(first, '..', '1.log');
    await appendFile(second, cri(ts(1000), 'booting again'));
    await env.setPodLogs(NS, name, { logsFile: second, previousLogsFile: first });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await setStatus({ containerID: 'containerd://crash-2', restartCount: 1, state: { running: { startedAt: now } }, lastState: { terminated: { containerID: 'containerd://crash-1', exitCode: 137, reason: 'OOMKilled', startedAt: started, finishedAt: now } } });
    await until('both instances, both sources', () => [pApi, pFiles].every((p) => lines(p).length >= 3), 60_000, () => `api ${JSON.stringify(lines(pApi))}, files ${JSON.stringify(lines(pFiles))}`);
    await sleep(2000);
    for (const p of [pApi, pFiles]) {
      expect(lines(p, 'containerd://crash-1')).toEqual(['booting', 'fatal error: runtime: out of memory']);
      expect(lines(p, 'containerd://crash-2')).toEqual(['booting again']);
    }
    const status = (p: Pipeline) => p.got.filter((r) => r.kind === 'pod_status' && r.target.pod === name).map((r) => [r.ts, r.line, r.target.containerId]);
    expect(status(pFiles)).toEqual(status(pApi));
    expect(status(pFiles).map((x) => x[1])).toContain('container app terminated: OOMKilled (exit code 137)');

    const ofPod = (es: StoredEntry[]) => es.filter((e) => e.structuredMetadata.pod === name).map(key).sort();
    let inApi: string[] = [];
    let inFiles: string[] = [];
    await until('both stores', async () => {
      inApi = ofPod(await queryLogs(vlApi.url, '{cluster="e2e"}'));
      inFiles = ofPod(await queryLogs(vlFiles.url, '{cluster="e2e"}'));
      return inApi.length === 4 && inFiles.length === 4;
    }, 30_000, () => `api ${inApi.length}, files ${inFiles.length}`);
    expect(inFiles).toEqual(inApi);
    const mine = (p: Pipeline) => p.got.filter((r) => r.target.pod === name);
    const fApi = replay(mine(pApi));
    expect(fApi.some((f) => /oom/i.test(f.incident_type))).toBe(true);
    expect(replay(mine(pFiles))).toEqual(fApi);
  }, 180_000);
});
