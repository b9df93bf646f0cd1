/** `alertmanager:` in the config: findings as alerts on one or more Alertmanagers (an HA pair). */
import { defineComponent } from '../../components/component.ts';
import { defineSchema, readSecret } from '../../components/schema.ts';

const schema = defineSchema({
  enabled: { type: 'boolean', default: true, doc: 'post findings to the Alertmanagers below (the section is off when absent)' },
  urls: { type: 'list', required: true, doc: 'Alertmanager base URLs, e.g. `http://alertmanager:9093`; every URL gets every alert (HA pairs deduplicate by gossip)' },
  resendInterval: { type: 'duration', default: '1m', min: 1000, doc: 'open episodes are re-posted this often, with `endsAt` 4 × this ahead (as Prometheus does)' },
  resolvedRetention: { type: 'duration', default: '15m', doc: 'a recovery is re-posted for this long, so a restarted Alertmanager still learns of it' },
  timeout: { type: 'duration', default: '10s', min: 100, doc: 'per request' },
  maxRetries: { type: 'integer', default: 3, min: 0, doc: 'retries of a failed batch (backoff with jitter), then it is dropped and counted; the next resend heals open alerts' },
  maxQueue: { type: 'integer', default: 10000, min: 1, doc: 'distinct alerts waiting per Alertmanager; a newer state replaces a queued one, past the bound the oldest is dropped' },
  maxAlerts: { type: 'integer', default: 10000, min: 1, doc: 'episodes tracked for resending; past it the oldest recovered, then the oldest open, is forgotten (counted)' },
  maxBatch: { type: 'integer', default: 256, min: 1, doc: 'alerts per POST' },
  bearerTokenFile: { type: 'string', doc: 'file holding a bearer token (e.g. a mounted Secret)' },
  basicAuth: {
    type: 'mapping',
    doc: 'HTTP basic auth',
    fields: {
      username: { type: 'string', doc: 'user name' },
      passwordFile: { type: 'string', doc: 'file holding the password' },
    },
  },
  grafanaUrl: { type: 'string', doc: 'Grafana base URL: alerts get a `grafana_explore_url` annotation and `generatorURL` running the finding’s LogQL' },
  grafanaDatasource: { type: 'string', default: 'loki', doc: 'UID of the Loki data source in that Grafana' },
});

export const alertmanagerComponent = defineComponent({
  key: 'alertmanager',
  kind: 'findings-sink',
  doc: 'Findings as alerts on Prometheus Alertmanager’s v2 API: firing while the episode is open, resolved on recovery; routing, grouping, silences and receivers are Alertmanager’s.',
  schema,
  enabled: (o) => o.enabled,
  validate(o, ctx) {
    if (o.urls.length === 0) ctx.fail('urls', 'at least one URL is needed');
    o.urls.forEach((u, i) => {
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        return ctx.fail(`urls[${i}]`, 'not a URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.fail(`urls[${i}]`, 'must be http:// or https://');
      if (url.username || url.password) ctx.fail(`urls[${i}]`, 'credentials in the URL would be logged with it: use basicAuth.passwordFile');
    });
    if (o.bearerTokenFile && o.basicAuth.username) ctx.fail('bearerTokenFile', 'set either bearerTokenFile or basicAuth, not both');
    if (o.basicAuth.passwordFile && !o.basicAuth.username) ctx.fail('basicAuth.username', 'required with basicAuth.passwordFile');
    if (o.grafanaUrl) {
      try {
        new URL(o.grafanaUrl);
      } catch {
        ctx.fail('grafanaUrl', 'not a URL');
      }
    }
  },
  async build(o, ctx) {
    // Secrets are read now, so `run --check` reports an unreadable file; they go into headers only.
    const headers: Record<string, string> = {};
    const token = readSecret(o.bearerTokenFile, 'alertmanager.bearerTokenFile');
    if (token) headers.authorization = `Bearer ${token}`;
    if (o.basicAuth.username) {
      const password = readSecret(o.basicAuth.passwordFile, 'alertmanager.basicAuth.passwordFile') ?? '';
      headers.authorization = `Basic ${Buffer.from(`${o.basicAuth.username}:${password}`).toString('base64')}`;
    }
    if (ctx.checkOnly) return {};
    const { AlertmanagerSink } = await import('./sink.ts');
    const sink = new AlertmanagerSink({
      urls: o.urls,
      resendIntervalMs: o.resendInterval,
      resolvedRetentionMs: o.resolvedRetention,
      timeoutMs: o.timeout,
      maxRetries: o.maxRetries,
      maxQueue: o.maxQueue,
      maxAlerts: o.maxAlerts,
      maxBatch: o.maxBatch,
      headers,
      links: { ...(o.grafanaUrl ? { grafanaUrl: o.grafanaUrl } : {}), grafanaDatasource: o.grafanaDatasource },
      logger: ctx.log,
    });
    ctx.log.info({ urls: o.urls.length, resendIntervalMs: o.resendInterval }, 'alertmanager sink built');
    return { findingSinks: [sink] };
  },
});
