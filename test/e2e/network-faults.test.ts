/**
 * Network faults on the Kubernetes path, through a real Toxiproxy: the real pods source reads kwok
 * pods' CRI files through a real kube-apiserver (RBAC-authorized ServiceAccount), and the real Loki sink
 * pushes to the real store (VictoriaLogs); acknowledgements advance the cursors as in `run`. Faults:
 * the API server's connections reset, then stalled (no bytes, socket open); the store slowed to 2 s
 * latency and 64 KiB/s so the sources must pause. What the store finally holds is compared with what
 * was written, line for line.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/model/log-record.ts';
import { registry } from '../../src/metrics.ts';
import { metrics } from '../../src/metrics.ts';
import { createKubeSources, type KubeSources } from '../../src/sources/kube/index.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { shouldSkip } from '../env/binaries.ts';
import { appendCriLines, startKube, type KubeEnv } from '../env/kube.ts';
import { startToxiproxy, type Proxy, type ToxiproxyHandle } from '../env/toxiproxy.ts';
import { exactDuplicates, queryLogs, startVictoriaLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';
import { nextTs as ts, sleep, until } from './helpers/wait.ts';

const skip = shouldSkip('network faults (kube path)', ['etcd', 'kube-apiserver', 'kubectl', 'kwok', 'toxiproxy-server', 'victoria-logs']);
const NS = 'faults';
/** The sink's memory bound: pausing at 0.9 of it leaves room for one batch in the source's batcher and one slice per stream. */
const QUEUE = 256 * 1024;
const record = (s: string) => process.stderr.write(`[network-faults e2e] ${s}\n`);

async function lokiDropped(): Promise<number> {
  const snap = await registry.getSingleMetric('rsd_dropped_total')?.get();
  return (snap?.values ?? []).filter((v) => v.labels.component === 'loki').reduce((n, v) => n + v.value, 0);
}

describe.skipIf(skip)('network faults on the Kubernetes path (Toxiproxy)', () => {
  let env: KubeEnv;
  let store: VictoriaLogsHandle;
  let toxi: ToxiproxyHandle;
  let apiProxy: Proxy;
  let storeProxy: Proxy;
  let kubeconfig = '';
  let sources: KubeSources;
  let sink: LokiSink;
  const written = new Map<string, string[]>();
  const files = new Map<string, string>();

  async function podWithLogs(name: string): Promise<void> {
    const file = join(env.dir, `${name}-${randomUUID().slice(0, 8)}.log`);
    await appendCriLines(file, []);
    await env.createPod({ name, namespace: NS, labels: { app: 'shop' } });
    await env.setPodLogs(NS, name, { logsFile: file });
    files.set(name, file);
    written.set(name, []);
  }

  let seq = 0;
  async function append(pod: string, n: number): Promise<void> {
    const lines = Array.from({ length: n }, () => `seq=${seq++} ${pod} ${'x'.repeat(180)}`);
    for (const line of lines) {
      await appendCriLines(files.get(pod)!, [{ ts: ts(), line }]);
      written.get(pod)!.push(line);
    }
  }

  async function stored(pod: string): Promise<string[]> {
    const all = await queryLogs(store.url, `{namespace="${NS}"} pod:="${pod}"`, { limit: 100_000 });
    expect(exactDuplicates(all), `${pod}: duplicates in the store`).toEqual([]);
    return all.map((e) => e.line);
  }

  async function expectExactly(pod: string, timeoutMs = 60_000): Promise<void> {
    const want = written.get(pod)!;
    let got: string[] = [];
    await until(`${want.length} lines of ${pod} stored`, async () => (got = await stored(pod)).length >= want.length, timeoutMs).catch((err: unknown) => {
      throw new Error(`${String(err)}: stored ${got.length}/${want.length}`);
    });
    expect(got).toEqual(want);
  }

  beforeAll(async () => {
    [env, store, toxi] = await Promise.all([startKube(), startVictoriaLogs(), startToxiproxy()]);
    await env.createNode('node-a');
    await env.createNamespace(NS);
    const token = await env.grantClusterRole({ role: 'rsd-faults', namespace: 'rsd', serviceAccount: 'detector', probe: `/api/v1/namespaces/${NS}/pods` });
    // The detector reaches the API server only through the proxy (the server's certificate is for 127.0.0.1).
    apiProxy = await toxi.createProxy('apiserver', new URL(env.server).host);
    storeProxy = await toxi.createProxy('store', `127.0.0.1:${store.port}`);
    const direct = await env.writeKubeconfig(token, 'detector');
    kubeconfig = direct.replace(/\.kubeconfig$/, '-proxied.kubeconfig');
    await writeFile(kubeconfig, (await readFile(direct, 'utf8')).replace(env.server, `https://${apiProxy.listen}`));

    await podWithLogs('api-0');
    await podWithLogs('api-1');
    sink = new LokiSink({ url: `${storeProxy.url()}/insert`, name: 'faults', batchBytes: 16 * 1024, batchWaitMs: 100, memoryQueueBytes: QUEUE, minBackoffMs: 100, maxBackoffMs: 1000, timeoutMs: 20_000 });
    sources = createKubeSources({
      kubeconfigPath: kubeconfig,
      cluster: 'faults',
      namespaces: [NS],
      stateStore: new MemoryStore(),
      cursorFlushMs: 200,
      batchMaxWaitMs: 20,
      // Records in flight between two pressure checks (one batch) must fit the test's small queue; the
      // production queue (64 MiB) dwarfs the default 500.
      batchMaxRecords: 64,
      stallTimeoutMs: 3_000,
      podStatus: false,
      events: { enabled: false },
      pressure: sink.pressure,
    });
    // As in the pipeline: every line to the sink; cursors advance only on its acknowledgement (record.ack).
    sink.register([sources.pods.acks]);
    sources.pods.records$.subscribe((b: LogRecord[]) => sink.write(b));
    await sources.pods.start();
    await until('pods synced', () => sources.pods.unready() === null);
  });

  afterAll(async () => {
    await sources?.pods.stop().catch(() => undefined);
    await sink?.close(5_000).catch(() => undefined);
    await Promise.allSettled([env?.stop(), store?.stop(), toxi?.stop()]);
  });

  it('the API server connections reset mid-stream: streams resume from their cursors, no gap, no duplicate', async () => {
    await append('api-0', 50);
    await expectExactly('api-0');
    await apiProxy.addToxic({ name: 'reset', type: 'reset_peer', attributes: { timeout: 0 } });
    await append('api-0', 30); // written while every connection to the API server is being reset
    await sleep(2_000);
    await apiProxy.removeToxic('reset');
    await append('api-0', 20);
    await expectExactly('api-0');
    record(`API server reset: written ${written.get('api-0')!.length}, stored ${(await stored('api-0')).length}, duplicates 0`);
  }, 120_000);

  it('a stalled API server (no bytes, sockets open): the stall is detected, streams reconnect, no gap, no duplicate', async () => {
    await append('api-1', 20);
    await expectExactly('api-1');
    // timeout 0: data stops flowing on every connection (new ones too) and the sockets stay open.
    await apiProxy.addToxic({ name: 'stall', type: 'timeout', attributes: { timeout: 0 } });
    await append('api-1', 20);
    await sleep(5_000); // longer than the stall threshold (3 s): the followers give up on the silent streams
    await apiProxy.removeToxic('stall');
    await append('api-1', 20);
    await expectExactly('api-1', 90_000);
    record(`API server stall: written ${written.get('api-1')!.length}, stored ${(await stored('api-1')).length}, duplicates 0`);
  }, 150_000);

  it('2 s latency and 64 KiB/s to the store: the sink queue fills, the pod streams pause, memory stays bounded, nothing is lost', async () => {
    await storeProxy.addToxic({ name: 'latency', type: 'latency', stream: 'downstream', attributes: { latency: 2000, jitter: 0 } });
    await storeProxy.addToxic({ name: 'bandwidth', type: 'bandwidth', stream: 'upstream', attributes: { rate: 64 } });
    let maxPaused = 0;
    let maxMemory = 0;
    const watch = setInterval(() => {
      void metrics.kubeLogStreamsPaused.get().then((g) => (maxPaused = Math.max(maxPaused, g.values.reduce((n, v) => n + v.value, 0))));
      maxMemory = Math.max(maxMemory, sink.queued().memoryBytes);
    }, 50);
    try {
      // ~700 KB of lines: several times the 256 KiB queue, at 64 KiB/s.
      for (let i = 0; i < 15; i++) await Promise.all([append('api-0', 100), append('api-1', 100)]);
      await until('a pod stream paused by back-pressure', () => maxPaused > 0, 30_000);
      await sleep(2_000);
    } finally {
      await storeProxy.removeToxic('latency');
      await storeProxy.removeToxic('bandwidth');
    }
    await expectExactly('api-0', 120_000);
    await expectExactly('api-1', 120_000);
    clearInterval(watch);
    record(`slow store: written ${written.get('api-0')!.length + written.get('api-1')!.length} lines, all stored once; streams paused at most ${maxPaused}; memory queue peak ${maxMemory} of ${QUEUE} bytes, dropped ${await lokiDropped()}`);
    expect(maxPaused).toBeGreaterThan(0);
    expect(maxMemory).toBeLessThanOrEqual(QUEUE);
    expect(await lokiDropped()).toBe(0);
  }, 240_000);
});
