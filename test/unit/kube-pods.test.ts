import { afterEach, describe, expect, it } from 'vitest';
import { metrics, registry } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { createKubeSources, type KubeSourceOptions, type KubeSources } from '../../src/sources/kube/index.ts';
import { CursorStore } from '../../src/sources/kube/cursor-store.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { FakeKube, fixedTs, podObject, type LogEntry } from './kube-fake-apiserver.ts';
import { acknowledge } from '../../src/delivery/acks.ts';

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

async function fake(): Promise<FakeKube> {
  const f = new FakeKube();
  await f.start();
  cleanups.push(() => f.stop());
  return f;
}

interface Run {
  sources: KubeSources;
  got: LogRecord[];
  lines: () => string[];
  stop: () => Promise<void>;
}

/** Starts the pods source; every batch is "delivered" (acknowledged) at once, like a healthy sink. */
async function run(f: FakeKube, opts: Partial<KubeSourceOptions> = {}, ack = true): Promise<Run> {
  const sources = createKubeSources({
    api: f.api(),
    cluster: 'test',
    stateStore: new MemoryStore(),
    cursorFlushMs: 20,
    batchMaxWaitMs: 5,
    selfPodName: 'robot-sre-detector-0',
    ...opts,
  });
  const got: LogRecord[] = [];
  sources.pods.records$.subscribe((b) => {
    got.push(...b);
    if (ack) acknowledge(b);
  });
  await sources.pods.start();
  await until('pods synced', () => sources.pods.unready() === null);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await sources.pods.stop();
    await sources.api.close();
  };
  cleanups.push(stop);
  return { sources, got, lines: () => got.filter((r) => r.kind === 'pod').map((r) => r.line), stop };
}

const base = Date.now() - 60_000;
const at = (sec: number, nanos = 0): string => fixedTs(base - (base % 1000) + sec * 1000, nanos);
const entries = (from: number, n: number, sec: (i: number) => number = (i) => i): LogEntry[] =>
  Array.from({ length: n }, (_, k) => ({ ts: at(sec(from + k), (from + k) % 1000), line: `line ${from + k}` }));

describe('kube pods source (fake API server)', () => {
  it('follows a new pod: lines cut mid-line by the transport arrive whole, with workload and cursor positions', async () => {
    const f = await fake();
    const r = await run(f);
    f.put('pods', podObject({ name: 'web-7d9c-abcde', labels: { 'pod-template-hash': '7d9c', app: 'web' }, owner: { kind: 'ReplicaSet', name: 'web-7d9c' }, containers: [{ name: 'app', id: 'containerd://aaa' }] }));
    f.appendLog('default', 'web-7d9c-abcde', 'app', [{ ts: at(1), line: 'héllo ✓ {"level":"info"}' }, ...entries(1, 20)]);
    await until('21 lines', () => r.lines().length === 21);
    const first = r.got.find((x) => x.kind === 'pod')!;
    expect(first).toMatchObject({
      line: 'héllo ✓ {"level":"info"}',
      ts: at(1),
      stream: 'unknown',
      level: 'unknown',
      target: { cluster: 'test', namespace: 'default', pod: 'web-7d9c-abcde', container: 'app', containerId: 'containerd://aaa', workload: 'web', workloadKind: 'Deployment', app: 'web', node: 'node-a' },
      position: { key: 'containerd://aaa', ts: at(1) },
    });
    expect(first.tsMs).toBe(Date.parse(at(1)));
    const logReq = f.requests.find((q) => q.path.endsWith('/log'))!;
    expect(logReq.query.get('timestamps')).toBe('true');
    expect(logReq.query.get('follow')).toBe('true');
    expect(logReq.query.get('sinceTime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Live lines keep coming on the same stream.
    f.appendLog('default', 'web-7d9c-abcde', 'app', entries(21, 5, () => 30));
    await until('26 lines', () => r.lines().length === 26);
  });

  it('never drops a live line for being older than the previous one (stdout/stderr interleaving)', async () => {
    const f = await fake();
    const r = await run(f);
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://ooo' }] }));
    f.appendLog('default', 'p', 'c', [
      { ts: at(5, 300), line: 'stdout late' },
      { ts: at(5, 100), line: 'stderr early' },
      { ts: at(4, 999), line: 'even earlier' },
      { ts: at(6), line: 'next' },
    ]);
    await until('4 lines', () => r.lines().length === 4);
    expect(r.lines()).toEqual(['stdout late', 'stderr early', 'even earlier', 'next']);
  });

  it('resumes after a disconnect from the cursor: no gap, no duplicate, even for repeated lines at one instant', async () => {
    const f = await fake();
    const r = await run(f);
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://rrr' }] }));
    const sameInstant: LogEntry[] = [
      { ts: at(10), line: 'dup' },
      { ts: at(10), line: 'dup' },
      { ts: at(10), line: 'other' },
    ];
    f.appendLog('default', 'p', 'c', [...entries(0, 5, () => 9), ...sameInstant]);
    await until('8 lines', () => r.lines().length === 8);
    f.dropConnections();
    // Written while disconnected, partly in the same second as the cursor.
    f.appendLog('default', 'p', 'c', [{ ts: at(10), line: 'dup' }, ...entries(100, 3, () => 10), ...entries(200, 3, () => 11)]);
    await until('15 lines', () => r.lines().length === 15);
    await new Promise((res) => setTimeout(res, 200));
    expect(r.lines()).toEqual([
      ...entries(0, 5).map((e) => e.line),
      'dup',
      'dup',
      'other',
      'dup',
      'line 100',
      'line 101',
      'line 102',
      'line 200',
      'line 201',
      'line 202',
    ]);
    const logReqs = f.requests.filter((q) => q.path.endsWith('/log'));
    expect(logReqs.length).toBeGreaterThanOrEqual(2);
    // The cursor is at second 10; the reorder window (2 s) makes the resume ask from second 8.
    expect(logReqs.at(-1)!.query.get('sinceTime')).toBe(at(8).slice(0, 19) + 'Z');
  });

  it('follows a restarted container and reads the crashed instance once (previous=true)', async () => {
    const f = await fake();
    const r = await run(f);
    f.put('pods', podObject({ name: 'crash', containers: [{ name: 'c', id: 'containerd://one' }] }));
    f.appendLog('default', 'crash', 'c', [{ ts: at(1), line: 'starting' }]);
    await until('first line', () => r.lines().length === 1);
    // The crash: the follower is cut before it sees the last words, which only `previous` still has.
    f.dropConnections();
    f.appendLog('default', 'crash', 'c', [{ ts: at(2), line: 'panic: nil map' }]);
    f.restartContainer('default', 'crash', 'c');
    f.put('pods', podObject({ name: 'crash', containers: [{ name: 'c', id: 'containerd://two', restartCount: 1, last: { id: 'containerd://one', reason: 'Error', exitCode: 2 } }] }));
    f.appendLog('default', 'crash', 'c', [{ ts: at(3), line: 'starting again' }]);
    await until('3 lines', () => r.lines().length === 3);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.lines().sort()).toEqual(['panic: nil map', 'starting', 'starting again']);
    const byId = (id: string): string[] => r.got.filter((x) => x.kind === 'pod' && x.target.containerId === id).map((x) => x.line);
    expect(byId('containerd://one')).toEqual(['starting', 'panic: nil map']);
    expect(byId('containerd://two')).toEqual(['starting again']);
    expect(f.requests.some((q) => q.path.endsWith('/log') && q.query.get('previous') === 'true')).toBe(true);
    const status = r.got.filter((x) => x.kind === 'pod_status');
    expect(status.map((s) => s.fields?.reason)).toContain('Error');
  });

  it('reads the previous instance of a crash-looping container found at startup', async () => {
    const f = await fake();
    f.put('pods', podObject({ name: 'loop', containers: [{ name: 'c', id: 'containerd://new', restartCount: 3, last: { id: 'containerd://old', reason: 'OOMKilled', exitCode: 137 } }] }));
    f.appendLog('default', 'loop', 'c', [{ ts: at(1), line: 'old: allocating' }]);
    f.restartContainer('default', 'loop', 'c');
    f.appendLog('default', 'loop', 'c', [{ ts: at(2), line: 'new: starting' }]);
    const r = await run(f);
    await until('2 lines', () => r.lines().length === 2);
    const oom = r.got.find((x) => x.kind === 'pod_status' && x.fields?.reason === 'OOMKilled');
    expect(oom).toMatchObject({ level: 'error', target: { container: 'c', containerId: 'containerd://old' }, fields: { exit_code: '137' } });
  });

  it('a restarted detector resumes from the persisted cursor without duplicates', async () => {
    const f = await fake();
    const store = new MemoryStore();
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://ppp' }] }));
    f.appendLog('default', 'p', 'c', entries(0, 10, () => 20));
    const r1 = await run(f, { stateStore: store });
    await until('10 lines', () => r1.lines().length === 10);
    await r1.stop();
    const saved = await store.get(CursorStore.key('containerd://ppp'));
    expect(saved).not.toBeNull();
    f.appendLog('default', 'p', 'c', [...entries(10, 3, () => 20), ...entries(13, 2, () => 21)]);
    const r2 = await run(f, { stateStore: store });
    await until('5 new lines', () => r2.lines().length === 5);
    await new Promise((res) => setTimeout(res, 200));
    expect(r2.lines()).toEqual(['line 10', 'line 11', 'line 12', 'line 13', 'line 14']);
  });

  it('advances the stored cursor only for acknowledged lines: unacknowledged lines are read again', async () => {
    const f = await fake();
    const store = new MemoryStore();
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://ack' }] }));
    f.appendLog('default', 'p', 'c', entries(0, 4));
    const r1 = await run(f, { stateStore: store }, false);
    await until('4 lines', () => r1.lines().length === 4);
    acknowledge(r1.got.slice(0, 2));
    await r1.stop();
    const r2 = await run(f, { stateStore: store });
    await until('2 lines', () => r2.lines().length === 2);
    await new Promise((res) => setTimeout(res, 150));
    expect(r2.lines()).toEqual(['line 2', 'line 3']);
  });

  it('detects a stream stalled by log rotation, reconnects from the cursor and counts the possible loss', async () => {
    const f = await fake();
    const lostBefore = (await metrics.linesLostToRotation.get()).values[0]?.value ?? 0;
    const r = await run(f, { stallTimeoutMs: 300 });
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://rot' }] }));
    f.appendLog('default', 'p', 'c', entries(0, 3, () => 1));
    await until('3 lines', () => r.lines().length === 3);
    f.rotate('default', 'p', 'c');
    f.appendLog('default', 'p', 'c', entries(3, 2, () => 40));
    await until('lines after rotation', () => r.lines().length === 5, 5000);
    expect(r.lines()).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    const lost = (await metrics.linesLostToRotation.get()).values[0]?.value ?? 0;
    expect(lost).toBe(lostBefore + 1);
  });

  it('reads a finished init container to the end, then stops following it', async () => {
    const f = await fake();
    const r = await run(f, { drainIdleMs: 200 });
    const pod = podObject({ name: 'with-init', containers: [{ name: 'app', id: 'containerd://app' }] });
    const started = new Date(Date.now() - 120_000).toISOString().replace(/\.\d+Z$/, 'Z');
    (pod.status as Record<string, unknown>).initContainerStatuses = [
      { name: 'migrate', containerID: 'containerd://init', restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', containerID: 'containerd://init', startedAt: started, finishedAt: started } } },
    ];
    f.appendLog('default', 'with-init', 'migrate', [{ ts: at(1), line: 'migrating' }, { ts: at(2), line: 'migrated' }]);
    f.put('pods', pod);
    await until('init lines', () => r.lines().length === 2);
    expect(r.got.filter((x) => x.kind === 'pod').map((x) => x.target.container)).toEqual(['migrate', 'migrate']);
    await until('init follower done', () => r.sources.pods.follower('containerd://init') === undefined, 5000);
    expect(r.sources.pods.stats().followers).toBe(1);
  });

  it('stops reading while the downstream is under pressure, without stall reconnects or loss', async () => {
    const f = await fake();
    const pressure = { fill: 0 };
    const r = await run(f, { pressure, stallTimeoutMs: 150 });
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://bp' }] }));
    f.appendLog('default', 'p', 'c', entries(0, 1));
    await until('first line', () => r.lines().length === 1);
    const requestsBefore = f.requests.filter((q) => q.path.endsWith('/log')).length;
    pressure.fill = 1;
    // Checked before lines are handed on: what arrives under pressure waits in the follower.
    f.appendLog('default', 'p', 'c', entries(1, 21));
    await new Promise((res) => setTimeout(res, 600));
    expect(r.lines().length).toBe(1);
    pressure.fill = 0;
    await until('all lines', () => r.lines().length === 22);
    expect(r.lines()).toEqual(entries(0, 22).map((e) => e.line));
    expect(f.requests.filter((q) => q.path.endsWith('/log')).length).toBe(requestsBefore);
  });

  it('caps followed containers and promotes a waiting one when a place frees', async () => {
    const f = await fake();
    const r = await run(f, { maxContainers: 2 });
    for (const n of ['a', 'b', 'c']) {
      f.put('pods', podObject({ name: n, containers: [{ name: 'c', id: `containerd://${n}` }] }));
      f.appendLog('default', n, 'c', [{ ts: at(1), line: `from ${n}` }]);
    }
    await until('2 followed', () => r.lines().length === 2);
    expect(r.sources.pods.stats()).toMatchObject({ followers: 2, pending: 1 });
    expect((await metrics.skippedContainers.get()).values[0]?.value).toBe(1);
    const followedPod = r.got.find((x) => x.kind === 'pod')!.target.pod!;
    f.remove('pods', 'default', followedPod);
    await until('third followed', () => r.lines().length === 3);
    expect(r.sources.pods.stats()).toMatchObject({ followers: 2, pending: 0 });
  });

  it('node-local mode watches only its node (server-side field selector); the detector never tails itself', async () => {
    const f = await fake();
    const r = await run(f, { mode: 'node-local', nodeName: 'node-b' });
    f.put('pods', podObject({ name: 'on-a', node: 'node-a', containers: [{ name: 'c', id: 'containerd://na' }] }));
    f.put('pods', podObject({ name: 'on-b', node: 'node-b', containers: [{ name: 'c', id: 'containerd://nb' }] }));
    f.put('pods', podObject({ name: 'robot-sre-detector-0', node: 'node-b', containers: [{ name: 'c', id: 'containerd://self' }] }));
    f.put('pods', podObject({ name: 'rsd-x', node: 'node-b', labels: { 'app.kubernetes.io/name': 'robot-sre-detector' }, containers: [{ name: 'c', id: 'containerd://self2' }] }));
    for (const p of ['on-a', 'on-b', 'robot-sre-detector-0', 'rsd-x']) f.appendLog('default', p, 'c', [{ ts: at(1), line: p }]);
    await until('on-b', () => r.lines().length >= 1);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.lines()).toEqual(['on-b']);
    expect(f.requests.find((q) => q.path === '/api/v1/pods')!.query.get('fieldSelector')).toBe('spec.nodeName=node-b');
  });

  it('sharded mode: each workload is read by exactly one replica', async () => {
    const f = await fake();
    const a = await run(f, { mode: 'sharded', shardIndex: 0, shardCount: 2 });
    const b = await run(f, { mode: 'sharded', shardIndex: 1, shardCount: 2 });
    for (let i = 0; i < 8; i++) {
      for (const k of [0, 1]) {
        const name = `svc${i}-${k}`;
        f.put('pods', podObject({ name, owner: { kind: 'StatefulSet', name: `svc${i}` }, containers: [{ name: 'c', id: `containerd://s${i}${k}` }] }));
        f.appendLog('default', name, 'c', [{ ts: at(1), line: name }]);
      }
    }
    await until('16 lines', () => a.lines().length + b.lines().length === 16);
    await new Promise((res) => setTimeout(res, 200));
    expect(a.lines().length + b.lines().length).toBe(16);
    expect(a.lines().length).toBeGreaterThan(0);
    expect(b.lines().length).toBeGreaterThan(0);
    for (const l of a.lines()) expect(a.lines()).toContain(l.replace(/-\d$/, (m) => (m === '-0' ? '-1' : '-0')));
  });

  it('pod deletion stops the followers and releases the stored cursor', async () => {
    const f = await fake();
    const store = new MemoryStore();
    const r = await run(f, { stateStore: store });
    f.put('pods', podObject({ name: 'gone', containers: [{ name: 'c', id: 'containerd://gone' }] }));
    f.appendLog('default', 'gone', 'c', [{ ts: at(1), line: 'bye' }]);
    await until('line', () => r.lines().length === 1);
    await until('cursor tracked', () => r.sources.pods.stats().cursors === 1);
    await new Promise((res) => setTimeout(res, 60));
    expect(await store.get(CursorStore.key('containerd://gone'))).not.toBeNull();
    f.remove('pods', 'default', 'gone');
    await until('released', () => r.sources.pods.stats().followers === 0 && r.sources.pods.stats().cursors === 0);
    await until('log stream closed', () => f.followersOf('default', 'gone', 'c') === 0);
    expect(await store.get(CursorStore.key('containerd://gone'))).toBeNull();
  });

  it('emits pod status records for waiting reasons once per change', async () => {
    const f = await fake();
    const r = await run(f);
    const pod = (restarts: number): ReturnType<typeof podObject> =>
      podObject({ name: 'bad', containers: [{ name: 'c', id: 'containerd://b1', state: 'waiting', reason: 'CrashLoopBackOff', restartCount: restarts, last: { id: 'containerd://b0', reason: 'Error', exitCode: 1 } }] });
    f.put('pods', pod(4));
    f.put('pods', { ...pod(4), metadata: { ...pod(4).metadata, labels: { touched: 'yes' } } });
    f.put('pods', pod(5));
    await until('status records', () => r.got.filter((x) => x.kind === 'pod_status' && x.fields?.reason === 'CrashLoopBackOff').length === 2);
    const rec = r.got.find((x) => x.kind === 'pod_status' && x.fields?.reason === 'CrashLoopBackOff')!;
    expect(rec).toMatchObject({ level: 'warn', target: { pod: 'bad', container: 'c' }, fields: { restart_count: '4', last_reason: 'Error', last_exit_code: '1' } });
    expect(rec.line).toContain('CrashLoopBackOff');
  });

  it('a 403 on pods/log names the verb, the resource and the manifest; pod status still flows', async () => {
    const f = await fake();
    f.forbid('get', 'pods/log');
    const r = await run(f);
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://f', state: 'waiting', reason: 'ImagePullBackOff' }] }));
    f.put('pods', podObject({ name: 'q', containers: [{ name: 'c', id: 'containerd://q' }] }));
    await until('status', () => r.got.some((x) => x.kind === 'pod_status'));
    await until('forbidden gauge', () => registry.getSingleMetric('rsd_kube_forbidden') !== undefined);
    const err = await r.sources.api.open({ verb: 'get', resource: 'pods/log', namespace: 'default', path: '/api/v1/namespaces/default/pods/q/log' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/"get" the log subresource of pods in namespace "default"/);
    expect((err as Error).message).toContain('manifests/base/rbac.yaml');
    expect((err as Error).message).toContain('API server said: pods/log is forbidden');
    expect(r.sources.pods.unready()).toBeNull();
  });

  it('an unreachable API server is reported for /readyz and recovered from without gap or duplicate', async () => {
    const f = await fake();
    const r = await run(f);
    f.put('pods', podObject({ name: 'p', containers: [{ name: 'c', id: 'containerd://down' }] }));
    f.appendLog('default', 'p', 'c', entries(0, 3));
    await until('3 lines', () => r.lines().length === 3);
    expect(r.sources.pods.unready()).toBeNull();
    await f.goDown();
    await until('unready', () => r.sources.pods.unready() !== null, 10_000);
    expect(r.sources.pods.unready()).toMatch(/unreachable/);
    f.appendLog('default', 'p', 'c', entries(3, 3));
    await f.comeBack();
    await until('6 lines', () => r.lines().length === 6, 15_000);
    await until('ready', () => r.sources.pods.unready() === null, 10_000);
    expect(r.lines()).toEqual(entries(0, 6).map((e) => e.line));
  }, 30_000);
});
