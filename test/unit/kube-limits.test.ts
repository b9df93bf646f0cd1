import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/delivery/backoff.ts';
import { StreamLimiter } from '../../src/sources/kube/stream-limiter.ts';
import { abnormalTermination, PodStatusTracker } from '../../src/sources/kube/pod-status.ts';
import { resolveWorkload } from '../../src/sources/kube/workload.ts';
import { resolveKubeOptions } from '../../src/sources/kube/options.ts';

describe('StreamLimiter', () => {
  it('caps streams per node, serves waiters first come first served, and lets aborted waiters go', async () => {
    const l = new StreamLimiter(2, 1000);
    const ac = new AbortController();
    const r1 = (await l.acquire('n1', ac.signal))!;
    const r2 = (await l.acquire('n1', ac.signal))!;
    expect(l.activeOn('n1')).toBe(2);
    const other = await l.acquire('n2', ac.signal);
    expect(other).not.toBeNull();
    const order: string[] = [];
    const gone = new AbortController();
    const w1 = l.acquire('n1', ac.signal).then((r) => (order.push('w1'), r));
    const w2 = l.acquire('n1', gone.signal).then((r) => (order.push(r ? 'w2' : 'w2-aborted'), r));
    const w3 = l.acquire('n1', ac.signal).then((r) => (order.push('w3'), r));
    expect(l.waiting).toBe(3);
    gone.abort();
    await w2;
    r1();
    r1(); // a second release of the same slot is ignored
    await w1;
    expect(l.activeOn('n1')).toBe(2);
    r2();
    await w3;
    expect(order).toEqual(['w2-aborted', 'w1', 'w3']);
    expect(l.waiting).toBe(0);
  });

  it('spaces new connections with a token bucket', async () => {
    const l = new StreamLimiter(100, 20);
    const ac = new AbortController();
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) await l.acquire('n', ac.signal);
    // 20 from the full bucket, 10 more at 20/s ≈ 0.5 s.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
  });
});

describe('Backoff', () => {
  it('draws full jitter under an exponential cap, never below the floor', () => {
    const hi = new Backoff({ baseMs: 100, maxMs: 1000, floorMs: 10, random: () => 0.999999 });
    expect([hi.next(), hi.next(), hi.next(), hi.next(), hi.next()]).toEqual([100, 200, 400, 800, 1000]);
    const lo = new Backoff({ baseMs: 100, maxMs: 1000, floorMs: 10, random: () => 0 });
    expect(lo.next()).toBe(10);
    hi.reset();
    expect(hi.next()).toBe(100);
  });
});

describe('workload and status helpers', () => {
  it('resolves workloads from ownerReferences only', () => {
    const pod = (kind: string, name: string, labels: Record<string, string> = {}) => ({ metadata: { name: 'p', labels, ownerReferences: [{ kind, name, controller: true }] } });
    expect(resolveWorkload(pod('ReplicaSet', 'api-5d8f7', { 'pod-template-hash': '5d8f7' }))).toEqual({ name: 'api', kind: 'Deployment' });
    expect(resolveWorkload(pod('ReplicaSet', 'bare-rs'))).toEqual({ name: 'bare-rs', kind: 'ReplicaSet' });
    expect(resolveWorkload(pod('Job', 'backup-29012345'))).toEqual({ name: 'backup', kind: 'CronJob' });
    expect(resolveWorkload(pod('Job', 'migrate'))).toEqual({ name: 'migrate', kind: 'Job' });
    expect(resolveWorkload(pod('DaemonSet', 'agent'))).toEqual({ name: 'agent', kind: 'DaemonSet' });
    expect(resolveWorkload({ metadata: { name: 'solo' } })).toEqual({ name: 'solo', kind: 'Pod' });
  });

  it('reports init and ephemeral container failures too', () => {
    const t = new PodStatusTracker({ maxAgeMs: 600_000 });
    const now = new Date().toISOString();
    const recs = t.update(
      {
        metadata: { name: 'p', namespace: 'ns', uid: 'u' },
        status: {
          initContainerStatuses: [{ name: 'migrate', containerID: 'c://1', state: { terminated: { exitCode: 1, reason: 'Error', finishedAt: now, containerID: 'c://1' } } }],
          ephemeralContainerStatuses: [{ name: 'debug', state: { waiting: { reason: 'ErrImagePull' } } }],
        },
      },
      { cluster: 'c', namespace: 'ns', pod: 'p' },
    );
    expect(recs.map((r) => [r.target.container, r.fields?.reason, r.fields?.container_type])).toEqual([
      ['migrate', 'Error', 'init'],
      ['debug', 'ErrImagePull', 'ephemeral'],
    ]);
    expect(abnormalTermination({ exitCode: 0, reason: 'Completed' })).toBe(false);
    expect(abnormalTermination({ exitCode: 0, reason: 'OOMKilled' })).toBe(true);
  });

  it('a waiting condition is a state: one record when it starts, none on a re-read, one when it ends or the pod goes', () => {
    const t = new PodStatusTracker({ maxAgeMs: 600_000 });
    const base = { cluster: 'c', namespace: 'ns', pod: 'p' };
    const finished = '2026-12-03T06:00:00Z';
    const looping = {
      metadata: { name: 'p', namespace: 'ns', uid: 'u' },
      status: { containerStatuses: [{ name: 'api', restartCount: 4, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: finished, containerID: 'c://4' } }, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s' } } }] },
    };
    const first = t.update(looping, base).filter((r) => r.fields?.reason === 'CrashLoopBackOff');
    expect(first).toHaveLength(1);
    // Stamped with the end of the instance it waits after: a re-list after a restart yields this same record.
    expect(first[0]!.ts).toBe(finished);
    expect(t.update(looping, base)).toEqual([]);
    const running = { ...looping, status: { containerStatuses: [{ name: 'api', restartCount: 4, state: { running: { startedAt: '2026-12-03T06:05:00Z' } } }] } };
    expect(t.update(running, base).map((r) => [r.line, r.level, r.fields?.ended])).toEqual([['container api no longer waiting: CrashLoopBackOff ended (now running)', 'info', 'CrashLoopBackOff']]);
    expect(t.update(running, base)).toEqual([]);
    t.update(looping, base);
    expect(t.forget(looping, base).map((r) => r.line)).toEqual(['container api no longer waiting: CrashLoopBackOff ended (pod deleted)']);
  });

  it('validates options and derives the shard index from the StatefulSet hostname', () => {
    expect(resolveKubeOptions({ mode: 'sharded', shardCount: 3 }, { HOSTNAME: 'rsd-2' }).shardIndex).toBe(2);
    expect(() => resolveKubeOptions({ mode: 'sharded', shardCount: 2 }, { HOSTNAME: 'rsd-2' })).toThrow(/shardIndex/);
    expect(() => resolveKubeOptions({ mode: 'node-local' }, {})).toThrow(/NODE_NAME/);
    expect(() => resolveKubeOptions({ lookbackSeconds: 7200 }, {})).toThrow(/1 h/);
    expect(resolveKubeOptions({}, { NODE_NAME: 'n' }).maxContainers).toBe(2000);
  });
});
