import { afterEach, describe, expect, it } from 'vitest';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { createKubeSources, type KubeSourceOptions, type KubeSources } from '../../src/sources/kube/index.ts';
import { containerFromFieldPath, eventLine, occurrences } from '../../src/sources/kube/event-record.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { eventObject, FakeKube, podObject } from './kube-fake-apiserver.ts';
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

async function run(f: FakeKube, opts: Partial<KubeSourceOptions> = {}): Promise<{ s: KubeSources; got: LogRecord[]; stop: () => Promise<void> }> {
  const s = createKubeSources({ api: f.api(), cluster: 'test', stateStore: new MemoryStore(), cursorFlushMs: 20, batchMaxWaitMs: 5, ...opts });
  const got: LogRecord[] = [];
  s.events.records$.subscribe((b) => {
    got.push(...b);
    acknowledge(b);
  });
  await s.events.start();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await s.events.stop();
    await s.api.close();
  };
  cleanups.push(stop);
  return { s, got, stop };
}

const settle = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('event records', () => {
  it('counts occurrences from count or series.count and formats a logfmt line', () => {
    const ev = eventObject({ name: 'e', reason: 'BackOff', count: 7, message: 'Back-off restarting failed container' }) as never;
    expect(occurrences(ev)).toBe(7);
    expect(occurrences(eventObject({ name: 'e', reason: 'X', count: 0, seriesCount: 4 }) as never)).toBe(4);
    expect(eventLine(ev, 6)).toBe('type=Warning reason=BackOff kind=Pod name=default/web-1 fieldPath=spec.containers{app} count=6 total=7 source=kubelet host=node-a msg="Back-off restarting failed container"');
    expect(containerFromFieldPath('spec.initContainers{init-db}')).toBe('init-db');
  });
});

describe('kube events source (fake API server)', () => {
  it('emits listed and watched events; a recurrence 1 → 7 is one record standing for 6 occurrences', async () => {
    const f = await fake();
    f.put('pods', podObject({ name: 'web-1', owner: { kind: 'StatefulSet', name: 'web' }, labels: { app: 'web' }, containers: [] }));
    f.put('events', eventObject({ name: 'e1', reason: 'Pulled', type: 'Normal' }));
    const r = await run(f);
    await r.s.pods.start(); // shares the pods informer: events learn their pod's workload
    await until('listed event', () => r.got.length === 1);
    f.put('events', eventObject({ name: 'e2', reason: 'BackOff', count: 1 }));
    await until('watched event', () => r.got.length === 2);
    f.put('events', eventObject({ name: 'e2', reason: 'BackOff', count: 7 }));
    await until('recurrence', () => r.got.length === 3);
    await settle();
    expect(r.got.map((e) => [e.event?.reason, e.event?.count])).toEqual([
      ['Pulled', 1],
      ['BackOff', 1],
      ['BackOff', 6],
    ]);
    const last = r.got[2]!;
    expect(last).toMatchObject({ kind: 'event', level: 'warn', target: { cluster: 'test', namespace: 'default', pod: 'web-1', container: 'app', node: 'node-a' }, event: { type: 'Warning', involvedObject: { kind: 'Pod', name: 'web-1' }, reportingComponent: 'kubelet' } });
    await until('pod workload known', () => r.s.pods.stats().pods === 1);
    f.put('events', eventObject({ name: 'e3', reason: 'Unhealthy' }));
    await until('4th', () => r.got.length === 4);
    expect(r.got[3]!.target).toMatchObject({ workload: 'web', workloadKind: 'StatefulSet', app: 'web' });
    await r.s.pods.stop();
  });

  it('re-lists after 410 Gone without emitting events already processed', async () => {
    const f = await fake();
    f.put('events', eventObject({ name: 'a', reason: 'A' }));
    f.put('events', eventObject({ name: 'b', reason: 'B', count: 2 }));
    const r = await run(f);
    await until('2 events', () => r.got.length === 2);
    const lists = (): number => f.requests.filter((q) => q.path === '/api/v1/events' && !q.query.get('watch')).length;
    expect(lists()).toBe(1);
    f.compact();
    f.put('events', eventObject({ name: 'b', reason: 'B', count: 3 })); // changed while the watch was gone
    f.put('events', eventObject({ name: 'c', reason: 'C' }));
    await until('re-list', () => lists() === 2);
    await until('new records', () => r.got.length === 4);
    await settle();
    expect(r.got.map((e) => `${e.event?.reason}:${e.event?.count}`)).toEqual(['A:1', 'B:2', 'B:1', 'C:1']);
    const restarts = (await metrics.watchRestarts.get()).values.find((v) => v.labels.resource === 'events' && v.labels.reason === 'gone');
    expect(restarts?.value).toBeGreaterThanOrEqual(1);
  });

  it('a restarted detector does not re-emit acknowledged events, and emits only what happened meanwhile', async () => {
    const f = await fake();
    const store = new MemoryStore();
    f.put('events', eventObject({ name: 'a', reason: 'A', count: 2 }));
    const r1 = await run(f, { stateStore: store });
    await until('1 event', () => r1.got.length === 1);
    await settle(60);
    await r1.stop();
    const later = new Date(Date.now() + 2000).toISOString().replace(/\.\d+Z$/, 'Z');
    f.put('events', eventObject({ name: 'a', reason: 'A', count: 5, lastTimestamp: later }));
    f.put('events', eventObject({ name: 'n', reason: 'N', lastTimestamp: later }));
    const r2 = await run(f, { stateStore: store });
    await until('2 events', () => r2.got.length === 2);
    await settle();
    expect(r2.got.map((e) => `${e.event?.reason}:${e.event?.count}`).sort()).toEqual(['A:3', 'N:1']);
  });

  it('leaves history older than the lookback window out on first start', async () => {
    const f = await fake();
    const old = new Date(Date.now() - 3_000_000).toISOString().replace(/\.\d+Z$/, 'Z');
    f.put('events', eventObject({ name: 'old', reason: 'Old', lastTimestamp: old }));
    f.put('events', eventObject({ name: 'new', reason: 'New' }));
    const r = await run(f, { lookbackSeconds: 600 });
    await until('1 event', () => r.got.length === 1);
    await settle();
    expect(r.got.map((e) => e.event?.reason)).toEqual(['New']);
  });

  it('exports seconds since the last event or bookmark', async () => {
    const f = await fake();
    const r = await run(f);
    await until('synced', () => r.s.events.unready() === null);
    await settle(1200);
    expect(r.s.events.idleSeconds()).toBeGreaterThan(1);
    f.bookmark('events');
    await until('bookmark seen', () => r.s.events.idleSeconds() < 0.5);
    await settle(1100);
    const g = (await metrics.secondsSinceEvent.get()).values[0]?.value ?? -1;
    expect(g).toBeGreaterThanOrEqual(0);
    expect(g).toBeLessThan(2.5);
  });

  it('a 403 on events is reported clearly and does not make the detector unready; pods still flow', async () => {
    const f = await fake();
    f.forbid('list', 'events');
    const r = await run(f);
    await r.s.pods.start();
    await until('pods synced', () => r.s.pods.unready() === null);
    await settle(200);
    expect(r.s.events.unready()).toBeNull();
    expect((await metrics.kubeForbidden.get()).values.find((v) => v.labels.verb === 'list' && v.labels.resource === 'events')?.value).toBe(1);
    const err = await r.s.api.json({ verb: 'list', resource: 'events', path: '/api/v1/events' }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/RBAC forbids the detector to "list" events at cluster scope/);
    expect((err as Error).message).toContain('manifests/base/rbac.yaml');
    f.allow('list', 'events');
    f.put('events', eventObject({ name: 'x', reason: 'X' }));
    await until('event after the fix', () => r.got.length === 1, 20_000);
    const gauge = (await metrics.kubeForbidden.get()).values.find((v) => v.labels.verb === 'list' && v.labels.resource === 'events');
    expect(gauge?.value).toBe(0);
    await r.s.pods.stop();
  }, 30_000);
});
