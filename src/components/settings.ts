/**
 * The sections of the config that configure the process and the engine rather than a source, sink or
 * server: `state`, `pipelines`, `detect`, `server` (health, metrics, tap), `findings`, `log`. They use
 * the components' schema machinery (one place for type, default and doc; errors naming file and field;
 * docs/configuration.md generated), but nothing is built from them: `run` reads their values. Kind
 * `settings`: always read (absent means the defaults), never built.
 */
import { defineComponent, type AnyComponent, type ComponentSpec } from './component.ts';
import { defineSchema, type Schema, type Values } from './schema.ts';

const nothing = async () => ({});

export const stateSchema = defineSchema({
  store: {
    type: 'enum',
    values: ['auto', 'memory', 'file', 'jetstream-kv'],
    default: 'auto',
    doc: '`auto`: JetStream KV if NATS is connected within 5 s of start, else `file`. `file`: files in `dir`. `memory`: lost on restart. `jetstream-kv`: shared by replicas, which sharded mode needs; it requires `nats.servers`',
  },
  dir: { type: 'string', default: '/var/lib/robot-sre-detector', doc: 'directory of the `file` store; if it is not writable, the detector warns and uses memory' },
  bucket: { type: 'string', doc: 'KV bucket name (default `robot_sre_detector_state`; created by `streams apply` or on first use)' },
});

export const pipelinesSchema = defineSchema({
  defaults: { type: 'boolean', default: true, doc: 'load the built-in rule set (`pipelines/default.ts` in the image, with the second stage)' },
  dirs: { type: 'list', default: [], doc: 'directories whose `.ts`/`.js` files are loaded at start (a mounted ConfigMap works; see `manifests/base/pipelines/site.ts`); mounted files may import `robot-sre-detector/pipeline` and `node:` built-ins only' },
  files: { type: 'list', default: [], doc: 'individual pipeline files' },
  rules: { type: 'list', default: [], doc: 'operator rule files (YAML/JSON, data only: match, threshold, window, severity, routing); check one with `robot-sre-detector rules lint FILE`' },
  watch: { type: 'boolean', default: true, doc: 'reload the rules when these files (or the config file) change; SIGHUP reloads either way (docs/rules.md#reloading-rules)' },
});

export const detectSchema = defineSchema({
  allowedLateness: { type: 'duration', default: '10s', min: 0, doc: 'the watermark trails the newest event time by this much; later lines still go to Loki but no longer count in closed windows' },
  maxKeysPerRule: { type: 'integer', default: 10_000, min: 10, doc: 'per-rule bound on keyed state (e.g. one counter per pod); past it the least recently used key is evicted and counted (`rsd_detector_state_evictions_total`)' },
  stateTtl: { type: 'duration', default: '1h', doc: 'idle keyed state is dropped after this long' },
  templates: { type: 'boolean', default: true, doc: 'online log-template mining, needed for `new_error_pattern` findings and template ids in evidence; lines are mined on demand (those a rule or a finding needs the template of)' },
  miner: {
    type: 'mapping',
    doc: 'the template miner',
    fields: {
      maxClusters: { type: 'integer', default: 5000, min: 10, doc: 'bound on mined templates (`rsd_miner_clusters`, `rsd_miner_evicted_clusters_total`)' },
      extraMasks: {
        type: 'mappings',
        doc: 'extra masks applied before mining, e.g. `[{ pattern: "TICKET-[0-9]+", name: ticket }]`',
        fields: {
          pattern: { type: 'string', required: true, doc: 'a regular expression; what it matches becomes one variable' },
          name: { type: 'string', doc: 'the variable’s name in templates' },
        },
      },
    },
  },
});

export const serverSchema = defineSchema({
  host: { type: 'string', default: '0.0.0.0', doc: 'listen address' },
  port: { type: 'integer', default: 8080, min: 0, max: 65535, doc: 'serves `/healthz` (the process answers), `/readyz` (every source is ready and no custom rule has stopped) and `/metrics` (Prometheus text format) (env RSD_PORT)' },
  tap: {
    type: 'mapping',
    doc: '`GET /tap` (`robot-sre-detector tap`) for loopback clients: live records and rule verdicts (docs/rules.md#watching-rules-live-tap)',
    fields: {
      enabled: { type: 'boolean', default: false, doc: 'serve it' },
      maxClients: { type: 'integer', default: 4, min: 1, max: 64, doc: 'concurrent tap clients; more get 429' },
      maxRate: { type: 'integer', default: 200, min: 1, max: 10_000, doc: 'tap messages per second per client at most' },
    },
  },
});

export const findingsSchema = defineSchema({
  stdout: { type: 'boolean', default: false, doc: 'also write findings to stdout as NDJSON (always on without NATS)' },
});

export const logSchema = defineSchema({
  level: { type: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], default: 'info', doc: 'the detector’s own logs are JSON (pino) on stderr (env LOG_LEVEL)' },
});

export type StateSettings = Values<typeof stateSchema>;
export type PipelinesSettings = Values<typeof pipelinesSchema>;
export type DetectSettings = Values<typeof detectSchema>;
export type ServerSettings = Values<typeof serverSchema>;
export type FindingsSettings = Values<typeof findingsSchema>;
export type LogSettings = Values<typeof logSchema>;

/** Whether the document names NATS servers (a list, or a comma-separated string such as NATS_URL's). */
function hasNats(doc: Readonly<Record<string, unknown>>): boolean {
  const nats = doc.nats as { servers?: unknown } | undefined;
  const s = nats?.servers;
  return Array.isArray(s) ? s.length > 0 : typeof s === 'string' && s.trim() !== '';
}

/** A settings section: always read (absent means its defaults), never built. */
function settings<const S extends Schema>(key: string, doc: string, schema: S, validate?: ComponentSpec<S>['validate']): AnyComponent {
  return defineComponent({ key, kind: 'settings', doc, schema, implicit: () => true, enabled: () => true, ...(validate ? { validate } : {}), build: nothing });
}

export const SETTINGS: readonly AnyComponent[] = [
  settings('state', 'Cursors, detector windows, open episodes and miner templates: what must survive a restart.', stateSchema, (o, ctx) => {
    if (o.store === 'jetstream-kv' && !hasNats(ctx.document)) ctx.fail('store', 'jetstream-kv needs nats.servers');
  }),
  settings('pipelines', 'What is detected. This section and the files it names reload without a restart (see below).', pipelinesSchema),
  settings('detect', 'The detection engine.', detectSchema),
  settings('server', 'Health and metrics: started before everything else, so liveness answers from the first second.', serverSchema),
  settings('findings', 'Where findings go besides the findings sinks.', findingsSchema),
  settings('log', 'The detector’s own logs.', logSchema),
];
