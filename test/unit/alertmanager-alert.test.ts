import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { buildComponents } from '../../src/components/configure.ts';
import { createLogger } from '../../src/logger.ts';
import type { Finding } from '../../src/model/finding.ts';
import { alertLabels, exploreUrl, labelName, toAlert } from '../../src/sinks/alertmanager/alert.ts';
import { AlertmanagerSink, alertsEndpoint } from '../../src/sinks/alertmanager/sink.ts';
import { registry } from '../../src/metrics.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';

const finding: Finding = {
  schema_version: '1.0',
  finding_id: 'f1',
  source: 'robot-sre-detector/c1',
  domain: 'infrastructure',
  incident_type: 'dependency_unreachable',
  severity: 'error',
  confidence: 0.9,
  summary: 'shop/api cannot reach postgres',
  evidence: {
    lines: [{ ts: '2026-11-20T09:00:01Z', line: 'dial tcp 10.0.0.5:5432: connect: connection refused', pod: 'api-1' }],
    templates: [{ template: 'dial tcp <IP>:<NUM>: connect: connection refused', count: 7 }],
    loki: { query: '{namespace="shop", app="api"} |= "connection refused"', start: '2026-11-20T08:55:00Z', end: '2026-11-20T09:05:00Z' },
  },
  resource_scope: { cluster: 'c1', namespace: 'shop', workload: 'api', pod: 'api-1', container: 'app', node: 'n1' },
  dedupe_key: 'abc123',
  observed_at: '2026-11-20T09:00:02Z',
  rule: { id: 'dependency_unreachable', version: '1' },
  status: 'observed',
  first_seen: '2026-11-20T09:00:01Z',
  last_seen: '2026-11-20T09:00:02Z',
  count: 7,
  labels: { team: 'payments', 'runbook.url': 'https://runbooks/x', severity: 'info' },
};

describe('finding → Alertmanager alert', () => {
  it('labels are what routing needs and stable for the episode: no pod, no count; rule labels cannot override', () => {
    expect(alertLabels(finding)).toEqual({
      alertname: 'dependency_unreachable',
      severity: 'error',
      domain: 'infrastructure',
      cluster: 'c1',
      namespace: 'shop',
      workload: 'api',
      rule_id: 'dependency_unreachable',
      dedupe_key: 'abc123',
      team: 'payments',
      runbook_url: 'https://runbooks/x',
    });
    expect(alertLabels({ ...finding, resource_scope: { cluster: 'c1', namespace: '', node: 'n1' } })).toMatchObject({ node: 'n1' });
  });

  it('label names Alertmanager would refuse are made valid', () => {
    expect(labelName('app.kubernetes.io/name')).toBe('app_kubernetes_io_name');
    expect(labelName('1st')).toBe('_1st');
    expect(labelName('ok_name')).toBe('ok_name');
  });

  it('firing: endsAt ahead by validFor; recovered: endsAt is the recovery time', () => {
    const now = Date.parse('2026-11-20T09:10:00Z');
    const firing = toAlert(finding, now, 240_000, {});
    expect(firing).toMatchObject({ startsAt: finding.first_seen, endsAt: '2026-11-20T09:14:00.000Z' });
    expect(firing.annotations).toMatchObject({ summary: finding.summary, logql: finding.evidence.loki.query, pod: 'api-1', runbook_url: 'https://runbooks/x', count: '7' });
    expect(firing.annotations.description).toBe('2026-11-20T09:00:01Z api-1: dial tcp 10.0.0.5:5432: connect: connection refused');
    expect(firing.generatorURL).toBeUndefined();
    const resolved = toAlert({ ...finding, status: 'recovered', observed_at: '2026-11-20T09:20:00Z' }, now, 240_000, {});
    expect(resolved.endsAt).toBe('2026-11-20T09:20:00Z');
  });

  it('a Grafana URL gives an Explore link that runs the LogQL over the window', () => {
    const url = exploreUrl(finding, { grafanaUrl: 'https://grafana.example.org/', grafanaDatasource: 'loki-uid' })!;
    expect(url.startsWith('https://grafana.example.org/explore?')).toBe(true);
    const panes = JSON.parse(new URL(url).searchParams.get('panes')!) as { a: { queries: Array<{ expr: string; datasource: { uid: string } }>; range: { from: string; to: string } } };
    expect(panes.a.queries[0]).toMatchObject({ expr: finding.evidence.loki.query, datasource: { uid: 'loki-uid' } });
    expect(panes.a.range).toEqual({ from: String(Date.parse('2026-11-20T08:55:00Z')), to: String(Date.parse('2026-11-20T09:05:00Z')) });
    expect(toAlert(finding, 0, 1, { grafanaUrl: 'https://g' }).generatorURL).toContain('https://g/explore');
  });

  it('the endpoint is the v2 alerts path of the base URL', () => {
    expect(alertsEndpoint('http://am:9093')).toBe('http://am:9093/api/v2/alerts');
    expect(alertsEndpoint('http://am:9093/api/v2/alerts')).toBe('http://am:9093/api/v2/alerts');
    expect(alertsEndpoint('http://am:9093/prefix/')).toBe('http://am:9093/prefix/api/v2/alerts');
  });
});

describe('alertmanager config section', () => {
  it.each([
    ['alertmanager:\n  urls: []\n', 'field alertmanager.urls: at least one URL is needed'],
    ['alertmanager:\n  urls: [am:9093]\n', 'field alertmanager.urls[0]: must be http:// or https://'],
    ['alertmanager:\n  urls: [http://u:p@am:9093]\n', 'field alertmanager.urls[0]: credentials in the URL'],
    ['alertmanager:\n  urls: [http://am:9093]\n  resendInterval: 10ms\n', 'field alertmanager.resendInterval'],
    ['alertmanager:\n  urls: [http://am:9093]\n  bearerTokenFile: /t\n  basicAuth: {username: u}\n', 'field alertmanager.bearerTokenFile: set either'],
    ['alertmanager:\n  urls: [http://am:9093]\n  maxQeue: 3\n', 'field alertmanager.maxQeue: unknown field'],
  ])('rejects %j with file, field and reason', (yaml, message) => {
    expect(() => parseConfig(yaml, 'c.yaml', {})).toThrow(`c.yaml: ${message}`);
  });

  it('is off when absent or enabled: false; run --check reports an unreadable token file', async () => {
    const keys = (text: string) => parseConfig(text, 'c.yaml', {}).components.map((c) => c.spec.key);
    // The Kubernetes API source is on by default; no alertmanager unless configured and enabled.
    expect(keys('cluster: x\n')).toEqual(['kubernetes']);
    expect(keys('alertmanager:\n  enabled: false\n  urls: [http://am:9093]\n')).toEqual(['kubernetes']);
    const cfg = parseConfig('alertmanager:\n  urls: [http://am:9093]\n  bearerTokenFile: /nonexistent/token\n', 'c.yaml', {});
    const { errors } = await buildComponents(cfg.components, { cluster: 'c', store: new MemoryStore(), pressure: { fill: 0 }, file: 'c.yaml', checkOnly: true }, createLogger('silent'));
    expect(errors.map((e) => e.error.message)).toEqual(['/nonexistent/token: field alertmanager.bearerTokenFile: cannot read secret file: ENOENT']);
  });
});

describe('alertmanager sink bounds', () => {
  const dropped = async (reason: string) =>
    (await registry.getSingleMetric('rsd_dropped_total')?.get())?.values.find((v) => v.labels.component === 'alertmanager' && v.labels.reason === reason)?.value ?? 0;

  it('past maxAlerts the oldest recovered episode is forgotten first, then the oldest open one, each counted; unreachable batches are dropped after their retries', async () => {
    // Nothing listens on port 1: posts fail at once and are dropped after 0 retries (counted apart).
    const sink = new AlertmanagerSink({ urls: ['http://127.0.0.1:1'], maxAlerts: 2, maxRetries: 0, resendIntervalMs: 3_600_000, logger: createLogger('silent') });
    const before = await dropped('alerts_limit');
    const unreachableBefore = await dropped('retries_exhausted');
    const f = (k: string, status: 'observed' | 'recovered' = 'observed'): Finding => ({ ...finding, dedupe_key: k, finding_id: `${k}-${status}`, status });
    sink.publish(f('a'));
    sink.publish(f('b'));
    sink.publish(f('a', 'recovered'));
    expect(sink.counts()).toEqual({ firing: 1, resolved: 1 });
    sink.publish(f('c'));
    // The recovered "a" went first.
    expect(sink.counts()).toEqual({ firing: 2, resolved: 0 });
    sink.publish(f('d'));
    expect(sink.counts()).toEqual({ firing: 2, resolved: 0 });
    expect((await dropped('alerts_limit')) - before).toBe(2);
    // Every batch to the unreachable Alertmanager was dropped after its retries, and counted.
    await sink.flush(5000);
    expect((await dropped('retries_exhausted')) - unreachableBefore).toBeGreaterThan(0);
    await sink.close(2000);
  });
});
