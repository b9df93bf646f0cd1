/**
 * The Alertmanager sink against a real Alertmanager HA pair (built by test/env from
 * github.com/prometheus/alertmanager) routing to a webhook receiver on loopback. The findings are
 * the real engine's, from the bundled incident sample; the sinks are built from a config section
 * exactly as `run` builds them. Two sinks play two detector replicas.
 *
 * The lifecycle runs against one Alertmanager: an HA pair can, by design, re-notify "firing" after
 * "resolved" when a flush that began before the recovery ends its peer wait after the other replica
 * notified the recovery (a race the 1 s group interval of a test makes frequent and the usual 5 m
 * makes rare). The pair is tested for what its gossip guarantees: one notification for an alert
 * both replicas receive from both detectors.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { buildComponents } from '../../src/components/configure.ts';
import { loadRules } from '../../src/detect/rulesets.ts';
import { createLogger } from '../../src/logger.ts';
import { registry } from '../../src/metrics.ts';
import type { Finding } from '../../src/model/finding.ts';
import { findings$, detectionEngine } from '../../src/pipeline.ts';
import type { FindingSink } from '../../src/sinks/types.ts';
import { ReplaySource } from '../../src/sources/replay.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { shouldSkip } from '../env/binaries.ts';
import { startAlertmanager, startWebhook, type AlertmanagerHandle, type Webhook, type WebhookNotification } from '../env/alertmanager.ts';

const skip = shouldSkip('alertmanager sink', ['alertmanager']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sinksFrom(yaml: string, n: number): Promise<FindingSink[]> {
  const cfg = parseConfig(yaml, 'alertmanager-test.yaml', {});
  const out: FindingSink[] = [];
  for (let i = 0; i < n; i++) {
    const { built } = await buildComponents(cfg.components, { cluster: 'c', store: new MemoryStore(), pressure: { fill: 0 }, file: 'alertmanager-test.yaml', checkOnly: false }, createLogger('silent'));
    out.push(...built.flatMap((b) => b.built.findingSinks ?? []));
  }
  return out;
}

async function droppedOf(reason: string): Promise<number> {
  const snap = await registry.getSingleMetric('rsd_dropped_total')?.get();
  return snap?.values.find((x) => x.labels.component === 'alertmanager' && x.labels.reason === reason)?.value ?? 0;
}

const groupOf = (n: WebhookNotification) => `${n.groupLabels.alertname}/${n.groupLabels.namespace}`;

describe.skipIf(skip)('Alertmanager sink (real Alertmanager)', () => {
  let am: AlertmanagerHandle;
  let ha: AlertmanagerHandle;
  let hook: Webhook;
  let findings: Finding[];
  let replicas: FindingSink[];

  beforeAll(async () => {
    hook = await startWebhook();
    am = await startAlertmanager({ webhookUrl: hook.url, groupBy: ['alertname', 'namespace'] });
    ha = await startAlertmanager({ webhookUrl: hook.url, replicas: 2, groupBy: ['alertname', 'namespace'] });
    const rules = await loadRules({ defaults: true, pipelines: [], rules: [] });
    const engine = detectionEngine({ rules });
    findings = await lastValueFrom(findings$({ sources: [new ReplaySource({ files: ['samples/incident.ndjson'] })], engine }).pipe(toArray()));
    engine.close();
    replicas = await sinksFrom(`alertmanager:\n  urls: [${am.urls[0]}]\n  resendInterval: 1s\n`, 2);
    expect(replicas).toHaveLength(2);
  });

  afterAll(async () => {
    await Promise.allSettled(replicas?.map((s) => s.close(2000)) ?? []);
    await am?.stop();
    await ha?.stop();
    await hook?.close();
  });

  /** An incident type of the sample with an observed and a recovered finding, not used by another test. */
  const used = new Set<string>();
  function episode(): { observed: Finding; recovered: Finding } {
    for (const o of findings) {
      if (o.status !== 'observed' || used.has(o.incident_type)) continue;
      const r = findings.find((f) => f.status === 'recovered' && f.dedupe_key === o.dedupe_key);
      if (!r) continue;
      used.add(o.incident_type);
      return { observed: o, recovered: r };
    }
    throw new Error('the sample has no further incident type with a recovery');
  }

  it('an observed finding from two detector replicas fires once, grouped by the route; its recovery arrives resolved, once', async () => {
    const { observed, recovered } = episode();
    const from = hook.received.length;
    for (const s of replicas) s.publish(observed);
    const firing = await hook.waitFor((n) => n.status === 'firing' && n.groupLabels.alertname === observed.incident_type, 20_000, from);
    expect(firing.groupLabels).toEqual({ alertname: observed.incident_type, namespace: observed.resource_scope.namespace });
    expect(firing.alerts).toHaveLength(1);
    const a = firing.alerts[0]!;
    expect(a.labels).toMatchObject({ alertname: observed.incident_type, severity: observed.severity, namespace: observed.resource_scope.namespace, cluster: observed.resource_scope.cluster, domain: observed.domain, dedupe_key: observed.dedupe_key });
    expect(a.annotations.summary).toBe(observed.summary);
    expect(a.annotations.logql).toBe(observed.evidence.loki.query);
    expect(a.annotations.description).toContain(observed.evidence.lines[0]!.line);
    // Both replicas re-post it every second: one alert, one notification.
    await sleep(5000);
    const forGroup = (status: string) => hook.received.slice(from).filter((n) => n.status === status && groupOf(n) === groupOf(firing));
    expect(forGroup('firing')).toHaveLength(1);
    expect((await am.alerts()).filter((x) => x.labels.dedupe_key === observed.dedupe_key).map((x) => x.status.state)).toEqual(['active']);

    for (const s of replicas) s.publish(recovered);
    const resolved = await hook.waitFor((n) => n.status === 'resolved' && groupOf(n) === groupOf(firing), 20_000, from);
    expect(resolved.alerts[0]!.labels.dedupe_key).toBe(observed.dedupe_key);
    expect(Date.parse(resolved.alerts[0]!.endsAt)).toBe(Date.parse(recovered.observed_at));
    await sleep(5000);
    expect(forGroup('resolved')).toHaveLength(1);
    expect(forGroup('firing')).toHaveLength(1);
  }, 90_000);

  it('an HA pair receiving the alert from two detectors (each posting to both) notifies once', async () => {
    const { observed } = episode();
    const both = await sinksFrom(`alertmanager:\n  urls: [${ha.urls.join(', ')}]\n  resendInterval: 1s\n`, 2);
    const from = hook.received.length;
    for (const s of both) s.publish(observed);
    await hook.waitFor((n) => n.status === 'firing' && n.groupLabels.alertname === observed.incident_type, 20_000, from);
    for (const i of [0, 1]) expect((await ha.alerts(i)).filter((x) => x.labels.dedupe_key === observed.dedupe_key).map((x) => x.status.state)).toEqual(['active']);
    // Past the peer timeout (5 s) the second replica would have notified too, had the gossiped
    // notification log not said the first one did.
    await sleep(12_000);
    expect(hook.received.slice(from).filter((n) => n.groupLabels.alertname === observed.incident_type)).toHaveLength(1);
    await Promise.all(both.map((s) => s.close(2000)));
  }, 60_000);

  it('a silence created through Alertmanager’s API suppresses the alert: no notification, state suppressed', async () => {
    const { observed } = episode();
    const id = await am.silence({ alertname: observed.incident_type }, 10 * 60_000);
    const from = hook.received.length;
    for (const s of replicas) s.publish(observed);
    let state: { state: string; silencedBy: string[] } | undefined;
    for (let i = 0; i < 50 && !state; i++) {
      state = (await am.alerts()).find((x) => x.labels.dedupe_key === observed.dedupe_key)?.status;
      if (!state) await sleep(200);
    }
    expect(state).toEqual(expect.objectContaining({ state: 'suppressed', silencedBy: [id] }));
    await sleep(8000);
    expect(hook.received.slice(from).filter((n) => n.groupLabels.alertname === observed.incident_type)).toEqual([]);
  }, 60_000);

  it('an escalation ends the lower-severity alert instead of leaving it firing beside the new one', async () => {
    const { observed } = episode();
    const [sink] = await sinksFrom(`alertmanager:\n  urls: [${am.urls[0]}]\n  resendInterval: 1s\n`, 1);
    const higher: Finding = { ...observed, severity: observed.severity === 'critical' ? 'error' : 'critical', finding_id: `${observed.finding_id}-esc` };
    const [first, second] = observed.severity === 'critical' ? [higher, observed] : [observed, higher];
    sink!.publish(first);
    await sleep(1500);
    sink!.publish(second);
    await sleep(1500);
    const active = (await am.alerts(0)).filter((x) => x.labels.dedupe_key === observed.dedupe_key);
    expect(active.map((x) => x.labels.severity)).toEqual(['critical']);
    await sink!.close(2000);
  }, 30_000);

  it('while Alertmanager is down the queue holds at most maxQueue distinct alerts, drops the oldest and counts them; the rest arrive', async () => {
    const [sink] = await sinksFrom(`alertmanager:\n  urls: [${am.urls[0]}]\n  resendInterval: 1m\n  maxQueue: 5\n  maxRetries: 1000\n  timeout: 500ms\n`, 1);
    const base = findings.find((f) => f.status === 'observed')!;
    await am.processes[0]!.stop();
    const before = await droppedOf('queue_full');
    // Retries of the in-flight batch continue while 12 more distinct alerts queue behind it.
    const keys = Array.from({ length: 13 }, (_, i) => `bounded-${i}`);
    for (const k of keys) sink!.publish({ ...base, incident_type: 'queue_bound_test', dedupe_key: k, finding_id: k });
    expect((await droppedOf('queue_full')) - before).toBe(7);
    await am.processes[0]!.start();
    await sink!.flush(20_000);
    const arrived = (await am.alerts(0)).filter((x) => x.labels.alertname === 'queue_bound_test').map((x) => x.labels.dedupe_key).sort();
    // The first (in flight when the queue filled) and the newest five.
    expect(arrived).toEqual(['bounded-0', 'bounded-10', 'bounded-11', 'bounded-12', 'bounded-8', 'bounded-9']);
    await sink!.close(2000);
  }, 90_000);
});
