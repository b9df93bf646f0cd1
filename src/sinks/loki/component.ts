/**
 * `loki:` in the config: the log sink every line goes to. Its YAML names are the documented ones
 * (`batchSize`, `memoryQueue`…); the sink's API names (`batchBytes`, `memoryQueueBytes`…) are mapped
 * here and nowhere else, and the defaults are LOKI_DEFAULTS' (options.ts), written once.
 */
import { defineComponent, type BuildContext, type Built } from '../../components/component.ts';
import { defineSchema, readSecret, type Values } from '../../components/schema.ts';
import { LOKI_DEFAULTS, resolveLokiOptions, type LokiSinkOptions } from './options.ts';

/** Loki's rule for tenant (org) IDs: up to 150 of these characters, and not "." or "..". */
const TENANT = /^[A-Za-z0-9!\-_.*'()]{1,150}$/;

export const lokiSchema = defineSchema({
  url: { type: 'string', doc: 'base URL of Loki, e.g. `http://loki.robot-sre-detector.svc:3100` (`/loki/api/v1/push` is appended; `user:pass@` in it becomes basic auth and is removed from the URL); without it lines are analysed but not stored, with a warning (env LOKI_URL)' },
  tenant: { type: 'string', doc: '`X-Scope-OrgID` (env LOKI_TENANT); Loki with `auth_enabled: false` ignores it' },
  format: { type: 'enum', values: ['protobuf', 'json'], default: LOKI_DEFAULTS.format, doc: 'push encoding: protobuf + snappy (what Promtail and Alloy send) or JSON' },
  batchSize: { type: 'bytes', default: LOKI_DEFAULTS.batchBytes, doc: 'a batch is sent when it holds this many payload bytes' },
  batchWait: { type: 'duration', default: LOKI_DEFAULTS.batchWaitMs, min: 1, doc: '…or when its oldest line has waited this long' },
  maxLineSize: { type: 'bytes', default: LOKI_DEFAULTS.maxLineBytes, doc: 'longer lines are cut and marked `truncated=true` in structured metadata (Loki’s max_line_size is 256 KB)' },
  memoryQueue: { type: 'bytes', default: LOKI_DEFAULTS.memoryQueueBytes, doc: 'payload bytes held in memory; past it the oldest batches go to the spool, or are dropped and counted without one (the shipped config uses 16MiB)' },
  spool: {
    type: 'mapping',
    doc: 'disk tier behind the memory queue: what does not fit and what is unsent at shutdown (replayed by the next start)',
    fields: {
      dir: { type: 'string', doc: 'directory of the spool segments (writable: the manifests put it on an emptyDir); no spool without it' },
      maxSize: { type: 'bytes', default: '512MiB', doc: 'past it the oldest segments are deleted and counted (`rsd_dropped_total{component="loki",reason="spool_full"}`; the shipped config uses 256MiB)' },
    },
  },
  tenantRate: { type: 'bytes', default: LOKI_DEFAULTS.tenantRateBytes, doc: 'client-side token bucket per tenant, bytes/s, so the detector slows down before Loki answers 429: match Loki’s ingestion_rate_mb' },
  streamRate: { type: 'bytes', default: LOKI_DEFAULTS.streamRateBytes, doc: 'client-side token bucket per stream, bytes/s: match Loki’s per_stream_rate_limit' },
  basicAuth: {
    type: 'mapping',
    doc: 'HTTP basic auth (not with bearerTokenFile)',
    fields: {
      username: { type: 'string', doc: 'user name' },
      passwordFile: { type: 'string', doc: 'file holding the password (a mounted Secret)' },
    },
  },
  bearerTokenFile: { type: 'string', doc: 'file holding a bearer token (a mounted Secret)' },
  tls: {
    type: 'mapping',
    doc: 'TLS for an https URL',
    fields: {
      caFile: { type: 'string', doc: 'CA bundle to verify Loki’s certificate' },
      insecureSkipVerify: { type: 'boolean', default: false, doc: 'skip certificate verification (logs a warning, counted in rsd_loki_insecure_tls_total)' },
    },
  },
});

export type LokiValues = Values<typeof lokiSchema>;

/** The sink's options from a `loki:` section; secrets are read from their files here. */
export function lokiSinkOptions(o: LokiValues): LokiSinkOptions {
  const password = readSecret(o.basicAuth.passwordFile, 'loki.basicAuth.passwordFile');
  const bearer = readSecret(o.bearerTokenFile, 'loki.bearerTokenFile');
  return {
    url: o.url!,
    format: o.format,
    tls: { ...(o.tls.caFile ? { caFile: o.tls.caFile } : {}), insecureSkipVerify: o.tls.insecureSkipVerify },
    ...(o.tenant ? { tenant: o.tenant } : {}),
    ...(o.basicAuth.username ? { basicAuth: { username: o.basicAuth.username, password: password ?? '' } } : {}),
    ...(bearer ? { bearerToken: bearer } : {}),
    batchBytes: o.batchSize,
    batchWaitMs: o.batchWait,
    maxLineBytes: o.maxLineSize,
    memoryQueueBytes: o.memoryQueue,
    ...(o.spool.dir ? { spool: { dir: o.spool.dir, maxBytes: o.spool.maxSize } } : {}),
    tenantRateBytes: o.tenantRate,
    streamRateBytes: o.streamRate,
  };
}

export const lokiComponent = defineComponent({
  key: 'loki',
  kind: 'log-sink',
  doc: 'Push every line to Grafana Loki (protobuf + snappy, or JSON): batches by size and wait, retries 429/5xx with jittered backoff, keeps under Loki’s limits with client-side token buckets, acknowledges lines to their source only once Loki took them (in write order), bounded memory queue then disk spool. Backoff, the label-cardinality cap and timeouts have fixed defaults: see docs/loki-sink.md.',
  schema: lokiSchema,
  enabled: (o) => o.url !== undefined,
  validate(o, ctx) {
    if (o.url !== undefined) {
      let ok = false;
      try {
        const u = new URL(o.url);
        ok = u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        ok = false;
      }
      if (!ok) ctx.fail('url', 'must be an http(s) URL');
    }
    if (o.tenant !== undefined && (!TENANT.test(o.tenant) || o.tenant === '.' || o.tenant === '..')) ctx.fail('tenant', "must be 1–150 of A-Z a-z 0-9 ! - _ . * ' ( ) (Loki's tenant ID rule)");
    if (o.basicAuth.passwordFile && !o.basicAuth.username) ctx.fail('basicAuth.username', 'required with basicAuth.passwordFile');
    if (o.basicAuth.username && o.bearerTokenFile) ctx.fail('bearerTokenFile', 'set basicAuth or bearerTokenFile, not both');
  },
  build: (o, ctx) => buildLokiSink(o, ctx),
});

async function buildLokiSink(o: LokiValues, ctx: BuildContext): Promise<Built> {
  const options = lokiSinkOptions(o); // reads the secrets: a missing file fails here, also in --check
  if (ctx.checkOnly) {
    resolveLokiOptions(options);
    return {};
  }
  const { LokiSink } = await import('./sink.ts');
  return { logSink: new LokiSink(options) };
}
