/**
 * The Kubernetes files profile against the fake API server (pods informer) and real files laid out as
 * the kubelet does under /var/log/pods: labels identical to the API pods source, `P` fragments joined,
 * unknown pods, the own pod, positions across a restart, rotation, the first-start lookback.
 */
import { mkdir, mkdtemp, rename, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readComponents } from '../../src/components/configure.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { LabelBuilder } from '../../src/sinks/loki/labels.ts';
import { kubeFilesComponent } from '../../src/sources/kube-files/component.ts';
import { createKubeFilesSources, type KubeFilesSources } from '../../src/sources/kube-files/index.ts';
import { createKubeSources } from '../../src/sources/kube/index.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import type { StateStore } from '../../src/state/store.ts';
import { FakeKube, fixedTs, podObject } from './kube-fake-apiserver.ts';
import { acknowledge } from '../../src/delivery/acks.ts';
import { metrics } from '../../src/metrics.ts';

async function linesIn(source: string): Promise<number> {
  return (await metrics.linesIn.get()).values.filter((v) => v.labels.source === source).reduce((a, v) => a + v.value, 0);
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fake(): Promise<FakeKube> {
  const f = new FakeKube();
  await f.start();
  cleanups.push(() => f.stop());
  return f;
}

async function tempRoot(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'rsd-kube-files-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

interface Run {
  s: KubeFilesSources;
  got: LogRecord[];
  lines: (pod?: string) => string[];
  stop: () => Promise<void>;
}

async function runFiles(f: FakeKube, root: string, o: { store?: StateStore; podWaitMs?: number; ack?: boolean; lookbackSeconds?: number } = {}): Promise<Run> {
  const s = createKubeFilesSources({
    kube: { api: f.api(), cluster: 'test', nodeName: 'node-a', stateStore: o.store ?? new MemoryStore(), batchMaxWaitMs: 5, selfPodName: 'robot-sre-detector-x', ...(o.lookbackSeconds ? { lookbackSeconds: o.lookbackSeconds } : {}) },
    files: { root, podWaitMs: o.podWaitMs ?? 300, pollIntervalMs: 50, scanIntervalMs: 200, rotateWaitMs: 300, batchMaxWaitMs: 5 },
  });
  const got: LogRecord[] = [];
  s.pods.records$.subscribe((b) => {
    got.push(...b);
    if (o.ack !== false) acknowledge(b);
  });
  await s.pods.start();
  await until('synced', () => s.pods.unready() === null);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await s.pods.stop();
    await s.api.close();
  };
  cleanups.push(stop);
  return { s, got, lines: (pod) => got.filter((r) => r.kind === 'pod' && (!pod || r.target.pod === pod)).map((r) => r.line), stop };
}

function cri(ts: string, line: string, stream = 'stdout', tag = 'F'): string {
  return `${ts} ${stream} ${tag} ${line}\n`;
}

async function podDir(root: string, ns: string, pod: string, uid: string, container: string): Promise<string> {
  const d = join(root, `${ns}_${pod}_${uid}`, container);
  await mkdir(d, { recursive: true });
  return d;
}

/** What Loki gets of a record: stream labels, structured metadata (except the stream, which only files know), time and line. */
function stored(r: LogRecord): string {
  const { labels, metadata } = new LabelBuilder(1000).build(r);
  return JSON.stringify([labels.sort(), metadata.filter(([n]) => n !== 'stream').sort(), r.ts, r.line, r.target]);
}

describe('kubernetes files profile (kubernetesFiles)', () => {
  it('gives the API pods source’s records for the same pod: Target, labels, timestamps, lines (P fragments joined)', async () => {
    const f = await fake();
    const root = await tempRoot();
    const pod = f.put('pods', podObject({ name: 'web-0', namespace: 'shop', labels: { 'app.kubernetes.io/name': 'web', component: 'front' }, owner: { kind: 'StatefulSet', name: 'web' }, containers: [{ name: 'app', id: 'containerd://web-1' }] }));
    const uid = pod.metadata.uid!;
    const t0 = Date.now() - 5000;
    const entries = [
      { ts: fixedTs(t0), line: 'GET /healthz 200' },
      { ts: fixedTs(t0 + 1), line: 'a long line cut by the runtime into three fragments' },
      { ts: fixedTs(t0 + 3), line: 'level=error msg="upstream timed out"' },
    ];
    f.appendLog('shop', 'web-0', 'app', entries);
    const dir = await podDir(root, 'shop', 'web-0', uid, 'app');
    await appendFile(join(dir, '0.log'), [
      cri(entries[0]!.ts, entries[0]!.line),
      cri(fixedTs(t0 + 1), 'a long line cut ', 'stdout', 'P'),
      cri(fixedTs(t0 + 2), 'by the runtime into ', 'stdout', 'P'),
      // An interleaved stderr record does not break the stdout line.
      cri(entries[2]!.ts, entries[2]!.line, 'stderr'),
      cri(fixedTs(t0 + 2, 5), 'three fragments', 'stdout', 'F'),
    ].join(''));

    const api = createKubeSources({ api: f.api(), cluster: 'test', stateStore: new MemoryStore(), batchMaxWaitMs: 5, mode: 'node-local', nodeName: 'node-a', podStatus: false });
    const viaApi: LogRecord[] = [];
    api.pods.records$.subscribe((b) => viaApi.push(...b));
    await api.pods.start();
    cleanups.push(async () => {
      await api.pods.stop();
      await api.api.close();
    });
    const [fileBefore, podBefore] = [await linesIn('file'), await linesIn('pod')];
    const files = await runFiles(f, root);
    await until('3 lines each', () => viaApi.length === 3 && files.lines().length === 3);
    // Each line is counted once: by the API source and by the files profile as a pod line, never also as
    // the file lines (five CRI records) it was made of.
    expect(await linesIn('file')).toBe(fileBefore);
    expect((await linesIn('pod')) - podBefore).toBe(6);
    const byTs = (a: LogRecord, b: LogRecord) => (a.ts < b.ts ? -1 : 1);
    expect(files.got.filter((r) => r.kind === 'pod').sort(byTs).map(stored)).toEqual([...viaApi].sort(byTs).map(stored));
    expect(files.got.find((r) => r.line.startsWith('level='))!.stream).toBe('stderr');
    expect(files.got[0]!.target).toMatchObject({ cluster: 'test', namespace: 'shop', pod: 'web-0', container: 'app', containerId: 'containerd://web-1', workload: 'web', workloadKind: 'StatefulSet', app: 'web', component: 'front', node: 'node-a' });
    expect(files.s.pods.stats.joined).toBe(1);
  });

  it('a pod the informer does not know: waits podWait, then is labelled from its path; a pod that shows up in time gets its labels', async () => {
    const f = await fake();
    const root = await tempRoot();
    const r = await runFiles(f, root, { podWaitMs: 400 });
    const lost = await podDir(root, 'batch', 'orphan-1', 'uid-none', 'main');
    await appendFile(join(lost, '0.log'), cri(fixedTs(Date.now()), 'from an unknown pod'));
    await sleep(200);
    expect(r.lines()).toEqual([]);
    await until('path-labelled line', () => r.lines().length === 1);
    expect(r.got[0]!.target).toEqual({ cluster: 'test', namespace: 'batch', pod: 'orphan-1', container: 'main', node: 'node-a' });
    expect(r.s.pods.stats.path).toBe(1);

    // Files can appear before the pod's watch event: a late pod still labels its lines.
    const late = await podDir(root, 'shop', 'late-0', 'uid-late', 'app');
    await appendFile(join(late, '0.log'), cri(fixedTs(Date.now()), 'early line'));
    await sleep(100);
    f.put('pods', { ...podObject({ name: 'late-0', namespace: 'shop', labels: { app: 'late' }, containers: [{ name: 'app', id: 'containerd://late-1' }] }), metadata: { name: 'late-0', namespace: 'shop', uid: 'uid-late', labels: { app: 'late' } } });
    await until('late line', () => r.lines('late-0').length === 1);
    expect(r.got.find((x) => x.target.pod === 'late-0')!.target).toMatchObject({ app: 'late', containerId: 'containerd://late-1', workload: 'late-0', workloadKind: 'Pod' });
  });

  it('skips the own pod, and resumes from acknowledged positions after a restart', async () => {
    const f = await fake();
    const root = await tempRoot();
    const store = new MemoryStore();
    const pod = f.put('pods', podObject({ name: 'api-0', namespace: 'shop', containers: [{ name: 'app', id: 'containerd://api-1' }] }));
    const self = await podDir(root, 'robot-sre-detector', 'robot-sre-detector-x', 'uid-self', 'detector');
    await appendFile(join(self, '0.log'), cri(fixedTs(Date.now()), 'own line'));
    const dir = await podDir(root, 'shop', 'api-0', pod.metadata.uid!, 'app');
    const file = join(dir, '0.log');
    await appendFile(file, cri(fixedTs(Date.now()), 'one') + cri(fixedTs(Date.now() + 1), 'two'));
    const a = await runFiles(f, root, { store });
    await until('two lines', () => a.lines().length === 2);
    await a.stop();
    await appendFile(file, cri(fixedTs(Date.now()), 'three'));
    const b = await runFiles(f, root, { store });
    await until('three', () => b.lines().length >= 1);
    await sleep(300);
    expect(b.lines()).toEqual(['three']);
    expect([...a.lines(), ...b.lines()]).not.toContain('own line');
  });

  it('follows the kubelet’s rotation (rename to 0.log.<time>, new 0.log) and a restart’s new file <n>.log', async () => {
    const f = await fake();
    const root = await tempRoot();
    const pod = f.put('pods', podObject({ name: 'w-0', namespace: 'shop', containers: [{ name: 'app', id: 'containerd://w-2', restartCount: 1, last: { id: 'containerd://w-1', reason: 'Error', exitCode: 1 } }] }));
    const dir = await podDir(root, 'shop', 'w-0', pod.metadata.uid!, 'app');
    await appendFile(join(dir, '0.log'), cri(fixedTs(Date.now()), 'first instance'));
    await appendFile(join(dir, '1.log'), cri(fixedTs(Date.now()), 'second instance, before rotation'));
    const r = await runFiles(f, root);
    await until('2 lines', () => r.lines().length === 2);
    const ids = Object.fromEntries(r.got.filter((x) => x.kind === 'pod').map((x) => [x.line, x.target.containerId]));
    expect(ids).toEqual({ 'first instance': 'containerd://w-1', 'second instance, before rotation': 'containerd://w-2' });
    await appendFile(join(dir, '1.log'), cri(fixedTs(Date.now()), 'just before rotation'));
    await rename(join(dir, '1.log'), join(dir, '1.log.20261203-070000'));
    await appendFile(join(dir, '1.log'), cri(fixedTs(Date.now()), 'after rotation'));
    await until('4 lines', () => r.lines().length === 4);
    await sleep(400);
    expect(r.lines().sort()).toEqual(['after rotation', 'first instance', 'just before rotation', 'second instance, before rotation']);
  });

  it('a restart’s new <n>.log before the status names the instance: waits for it, so the line gets the new container ID', async () => {
    const f = await fake();
    const root = await tempRoot();
    const spec = { name: 'r-0', namespace: 'shop', containers: [{ name: 'app', id: 'containerd://r-1' }] };
    const pod = f.put('pods', podObject(spec));
    const dir = await podDir(root, 'shop', 'r-0', pod.metadata.uid!, 'app');
    await appendFile(join(dir, '0.log'), cri(fixedTs(Date.now()), 'run 0'));
    const r = await runFiles(f, root, { podWaitMs: 5000 });
    await until('run 0', () => r.lines().length === 1);
    await appendFile(join(dir, '1.log'), cri(fixedTs(Date.now()), 'run 1'));
    await sleep(1500);
    expect(r.lines()).toEqual(['run 0']);
    f.put('pods', podObject({ ...spec, containers: [{ name: 'app', id: 'containerd://r-2', restartCount: 1, last: { id: 'containerd://r-1', reason: 'Error', exitCode: 1 } }] }));
    await until('run 1', () => r.lines().length === 2);
    expect(r.got.filter((x) => x.kind === 'pod').map((x) => [x.line, x.target.containerId])).toEqual([['run 0', 'containerd://r-1'], ['run 1', 'containerd://r-2']]);
  });

  it('first start on a node: lines older than the lookback are skipped; pod status records as the API source', async () => {
    const f = await fake();
    const root = await tempRoot();
    const pod = f.put('pods', podObject({ name: 'cl-0', namespace: 'shop', containers: [{ name: 'app', id: 'containerd://cl-3', state: 'waiting', restartCount: 3, last: { id: 'containerd://cl-2', reason: 'Error', exitCode: 2 } }] }));
    const dir = await podDir(root, 'shop', 'cl-0', pod.metadata.uid!, 'app');
    await appendFile(join(dir, '2.log'), cri(fixedTs(Date.now() - 3_600_000), 'an hour ago') + cri(fixedTs(Date.now() - 1000), 'a second ago'));
    const r = await runFiles(f, root, { lookbackSeconds: 600 });
    await until('recent line', () => r.lines().length === 1);
    expect(r.lines()).toEqual(['a second ago']);
    const status = r.got.filter((x) => x.kind === 'pod_status').map((x) => x.line);
    expect(status.some((l) => l.includes('waiting: CrashLoopBackOff'))).toBe(true);
  });

  it('config: needs kubernetes.enabled: false and an absolute root', () => {
    const read = (doc: Record<string, unknown>) => readComponents(doc, 'c.yaml', [kubeFilesComponent]);
    expect(() => read({ kubernetesFiles: {} })).toThrow(/kubernetes.enabled: false/);
    expect(() => read({ kubernetes: { enabled: false }, kubernetesFiles: { root: 'var/log/pods' } })).toThrow(/kubernetesFiles.root: must be an absolute path/);
    const [c] = read({ kubernetes: { enabled: false, nodeName: 'node-a' }, kubernetesFiles: {} });
    expect(c!.options).toMatchObject({ root: '/var/log/pods', nodeName: 'node-a', podWait: 5000, lookback: 600_000, events: { enabled: true } });
  });
});
