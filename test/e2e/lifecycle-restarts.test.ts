/**
 * Findings a consumer can trust across restarts and rollouts. The detector (`node src/cli.ts run`, a
 * child process, state in JetStream KV) watches kwok pods through a real kube-apiserver; an incident
 * is open (its lines keep coming) when the detector is (a) stopped with SIGTERM and started again,
 * (b) killed with SIGKILL and started again, (c) rolled: a new process starts beside the old one, on
 * the same state store, and the old one is then stopped. The incident lines go on through each of
 * these, then stop; the episode must recover.
 *
 * The findings are read the way a consumer that does not use this project's SDK reads them: the NATS
 * client alone (an ordered consumer on OPS_FINDINGS, CloudEvents JSON parsed by hand), grouped by
 * dedupe_key, and each group's lifecycle checked: observed → [observed with a higher severity]* →
 * recovered, each finding_id once. The store is checked too: every line once.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyLayout } from '../../src/nats/streams.ts';
import { shouldSkip } from '../env/binaries.ts';
import { appendCriLines, startKube, type KubeEnv } from '../env/kube.ts';
import { startNats, type NatsServerHandle } from '../env/nats.ts';
import { freePort } from '../env/ports.ts';
import { exactDuplicates, queryLogs, startVictoriaLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';
import { detectorProcess, type DetectorProcess } from './helpers/detector.ts';
import { nextTs, sleep, until } from './helpers/wait.ts';

const skip = shouldSkip('lifecycle across restarts e2e', ['etcd', 'kube-apiserver', 'kubectl', 'kwok', 'victoria-logs', 'nats-server']);
const NS = 'lc';
const CLUSTER = 'lc';
const QUIET_S = 20;


/** A finding as a consumer without the SDK sees it: the CloudEvents envelope's `data`. */
interface WireFinding {
  finding_id: string;
  dedupe_key: string;
  status: 'observed' | 'recovered';
  severity: 'info' | 'warning' | 'error' | 'critical';
  incident_type: string;
  first_seen: string;
  observed_at: string;
  resource_scope: { namespace: string; pod?: string; workload?: string };
}
const RANK = { info: 0, warning: 1, error: 2, critical: 3 } as const;

/** Every finding stored in OPS_FINDINGS, with the NATS client only (ordered consumer, nothing acked). */
async function allFindings(nc: NatsConnection): Promise<WireFinding[]> {
  const consumer = await jetstream(nc).consumers.get('OPS_FINDINGS', { deliver_policy: DeliverPolicy.All });
  const out: WireFinding[] = [];
  for (;;) {
    const batch = await consumer.fetch({ max_messages: 200, expires: 1000 });
    let got = 0;
    let end = false;
    for await (const m of batch) {
      got++;
      const envelope = JSON.parse(new TextDecoder().decode(m.data)) as { specversion: string; data: WireFinding };
      expect(envelope.specversion).toBe('1.0');
      out.push(envelope.data);
      if (m.info.pending === 0) {
        end = true;
        break;
      }
    }
    if (end || got === 0) return out;
  }
}

/** The lifecycle of one dedupe_key, as a consumer checks it; returns the reasons it is not well-formed. */
function lifecycleProblems(group: WireFinding[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  let open = false;
  let top = -1;
  for (const f of group) {
    if (ids.has(f.finding_id)) problems.push(`finding_id ${f.finding_id} twice`);
    ids.add(f.finding_id);
    if (f.status === 'observed') {
      if (open && RANK[f.severity] <= top) problems.push(`observed again at ${f.observed_at} without a higher severity (${f.severity})`);
      open = true;
      top = Math.max(top, RANK[f.severity]);
    } else {
      if (!open) problems.push(`recovered at ${f.observed_at} with no open episode`);
      open = false;
      top = -1;
    }
  }
  if (open) problems.push('never recovered');
  return problems;
}

describe.skipIf(skip)('findings lifecycle across restarts and a rollout (real apiserver + kwok, store, JetStream KV)', () => {
  let kube: KubeEnv;
  let store: VictoriaLogsHandle;
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let dir = '';
  let configFile = '';
  let kubeconfig = '';
  const written = new Map<string, string[]>();
  const files = new Map<string, string>();
  const detectors: DetectorProcess[] = [];
  let current: DetectorProcess;

  async function newDetector(): Promise<DetectorProcess> {
    const port = await freePort();
    const d = detectorProcess({ configFile, port, logFile: join(dir, `detector-${detectors.length}.log`), env: { POD_NAME: `rsd-${detectors.length}`, RSD_PORT: String(port) } });
    detectors.push(d);
    await d.start();
    return d;
  }

  async function podWithLogs(name: string): Promise<void> {
    const file = join(dir, `${name}-${randomUUID().slice(0, 8)}.log`);
    await appendCriLines(file, []);
    files.set(name, file);
    written.set(name, []);
    await kube.createPod({ name, namespace: NS, labels: { app: name } });
    await kube.setPodLogs(NS, name, { logsFile: file });
  }

  async function append(pod: string, lines: string[]): Promise<void> {
    await appendCriLines(files.get(pod)!, lines.map((line) => ({ ts: nextTs(), line })));
    written.get(pod)!.push(...lines);
  }

  /** Incident lines every second for `seconds` (the episode stays open: far inside its 20 s quiet period). */
  async function incident(pod: string, seconds: number): Promise<void> {
    for (let i = 0; i < seconds; i++) {
      await append(pod, [`ERROR payment call failed: dial tcp 10.0.0.5:5432: connect: connection refused (attempt ${i})`, `request served in ${i} ms`]);
      await sleep(1000);
    }
  }

  /** Exact copies of a pod's lines in the store now (printed after each step, to see which one re-sent). */
  async function copies(step: string): Promise<void> {
    const parts: string[] = [];
    for (const pod of written.keys()) {
      const all = await queryLogs(store.url, `{namespace="${NS}"} pod:="${pod}"`, { limit: 100_000 });
      parts.push(`${pod} ${all.length}/${written.get(pod)!.length} (${exactDuplicates(all).length} copies)`);
    }
    process.stderr.write(`[lifecycle e2e] after ${step}: ${parts.join(', ')}\n`);
  }

  const ofPod = (fs: WireFinding[], pod: string) => fs.filter((f) => f.resource_scope.pod === pod || f.resource_scope.workload === pod);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-lifecycle-'));
    [kube, store, nats] = await Promise.all([startKube(), startVictoriaLogs(), startNats()]);
    await kube.createNode('node-a');
    await kube.createNamespace(NS);
    const token = await kube.grantClusterRole({ role: 'rsd-lc', namespace: 'rsd', serviceAccount: 'detector', probe: `/api/v1/namespaces/${NS}/pods` });
    kubeconfig = await kube.writeKubeconfig(token, 'detector');
    nc = await connect({ servers: nats.url });
    await applyLayout(nc);
    const rules = join(dir, 'rules.yaml');
    await writeFile(rules, [
      'rules:',
      '  - name: db-refused',
      '    source: logs',
      `    selector: { namespace: [${NS}] }`,
      "    match: { contains: ['connection refused'] }",
      '    severity: error',
      '    incident_type: dependency_unreachable',
      '    domain: application',
      '    suppression: 30m',
      `    recovery: ${QUIET_S}s`,
      '',
    ].join('\n'));
    configFile = join(dir, 'config.yaml');
    await writeFile(configFile, [
      `cluster: ${CLUSTER}`,
      'kubernetes:',
      `  kubeconfig: ${kubeconfig}`,
      `  namespaces: [${NS}]`,
      '  events: { enabled: false }',
      'loki:',
      `  url: ${store.lokiUrl}`,
      'nats:',
      `  servers: [${nats.url}]`,
      'state: { store: jetstream-kv }',
      'pipelines:',
      '  defaults: false',
      `  rules: [${rules}]`,
      'server: { host: 127.0.0.1 }',
      '',
    ].join('\n'));
    for (const p of ['sigterm', 'sigkill', 'rollout']) await podWithLogs(p);
    current = await newDetector();
  });

  afterAll(async () => {
    await Promise.allSettled(detectors.map((d) => d.stop()));
    await nc?.close().catch(() => undefined);
    await Promise.allSettled([kube?.stop(), store?.stop(), nats?.stop()]);
    if (dir && !failed) await rm(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`lifecycle e2e failed: detector logs kept in ${dir}\n`);
  });
  let failed = false;
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });

  async function openIncident(pod: string): Promise<void> {
    await incident(pod, 3);
    await until(`the ${pod} incident observed`, async () => ofPod(await allFindings(nc), pod).some((f) => f.status === 'observed'));
  }

  it('(a) SIGTERM and start with the incident open: the same episode goes on, one observed, then one recovered', async () => {
    await openIncident('sigterm');
    await current.stop();
    await append('sigterm', ['ERROR payment call failed: dial tcp 10.0.0.5:5432: connect: connection refused (while stopped)']);
    current = await newDetector();
    await incident('sigterm', 3);
    await sleep(3000);
    await copies('SIGTERM restart');
  }, 120_000);

  it('(b) SIGKILL and start with the incident open: no second observed (state at most 2 s old)', async () => {
    await openIncident('sigkill');
    await sleep(2500); // the last lifecycle change is saved (2 s debounce)
    await current.kill();
    await append('sigkill', ['ERROR payment call failed: dial tcp 10.0.0.5:5432: connect: connection refused (while killed)']);
    current = await newDetector();
    await incident('sigkill', 3);
    await sleep(3000);
    await copies('SIGKILL restart');
  }, 120_000);

  it('(c) a rollout: the new detector starts beside the old one on the same state, the old one stops', async () => {
    await openIncident('rollout');
    const old = current;
    current = await newDetector();
    await incident('rollout', 2);
    await old.stop();
    await incident('rollout', 3);
    await sleep(3000);
    await copies('rollout');
  }, 120_000);

  it('every episode recovers once its lines stop; per dedupe_key one observed and one recovered; each finding_id once', async () => {
    await until('the three episodes recovered', async () => {
      const fs = await allFindings(nc);
      return ['sigterm', 'sigkill', 'rollout'].every((p) => ofPod(fs, p).some((f) => f.status === 'recovered'));
    }, (QUIET_S + 40) * 1000);
    await sleep(3000); // anything late would have arrived by now
    const fs = await allFindings(nc);
    const ids = fs.map((f) => f.finding_id);
    expect(ids.length - new Set(ids).size, 'duplicate finding_ids in the stream').toBe(0);
    const byKey = new Map<string, WireFinding[]>();
    for (const f of fs) byKey.set(f.dedupe_key, [...(byKey.get(f.dedupe_key) ?? []), f]);
    const report: string[] = [];
    for (const pod of ['sigterm', 'sigkill', 'rollout']) {
      const keys = [...new Set(ofPod(fs, pod).map((f) => f.dedupe_key))];
      expect(keys, `${pod}: one dedupe_key`).toHaveLength(1);
      const group = byKey.get(keys[0]!)!;
      expect(lifecycleProblems(group), pod).toEqual([]);
      expect(group.map((f) => f.status), pod).toEqual(['observed', 'recovered']);
      report.push(`${pod}: ${group.map((f) => `${f.status}@${f.observed_at}`).join(' → ')}`);
    }
    process.stderr.write(`[lifecycle e2e] ${fs.length} findings, ${byKey.size} dedupe keys, 0 duplicate ids\n  ${report.join('\n  ')}\n`);
  }, 180_000);

  it('the store holds every line once (exact copies from the overlap of the rollout counted apart)', async () => {
    const copiesOf = new Map<string, number>();
    for (const [pod, lines] of written) {
      let got: string[] = [];
      let copies = 0;
      await until(`${lines.length} lines of ${pod}`, async () => {
        const all = await queryLogs(store.url, `{namespace="${NS}"} pod:="${pod}"`, { limit: 100_000 });
        const dups = new Set(exactDuplicates(all));
        copies = dups.size;
        got = all.filter((e) => !dups.has(e)).map((e) => e.line);
        return got.length >= lines.length;
      });
      expect(got, pod).toEqual(lines);
      copiesOf.set(pod, copies);
      process.stderr.write(`[lifecycle e2e] ${pod}: ${lines.length} written, ${got.length} stored, ${copies} exact copies (a Loki keeps one)\n`);
    }
    expect(copiesOf.get('sigterm'), 'sigterm: exact copies').toBe(0);
  }, 120_000);
});
