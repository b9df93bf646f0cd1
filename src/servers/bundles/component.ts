/** `bundles:` in the config: the evidence-bundle server for agents (off by default, its own port). */
import { defineComponent } from '../../components/component.ts';
import { ConfigError, defineSchema } from '../../components/schema.ts';

const schema = defineSchema({
  enabled: { type: 'boolean', default: false, doc: 'serve the bundle API (docs/bundles.md); off unless set' },
  host: { type: 'string', default: '0.0.0.0', doc: 'listen address' },
  port: { type: 'integer', default: 8090, min: 0, max: 65535, doc: 'listen port (its own, not the admin port)' },
  jwtSecretEnv: { type: 'string', default: 'RSD_BUNDLES_JWT_SECRET', doc: 'environment variable holding the HS256 secret (≥ 32 characters; feed it from a Secret); the server refuses to start without it' },
  clockSkew: { type: 'duration', default: '30s', max: 300_000, doc: 'tolerated clock difference for `exp`/`nbf`' },
  legacyFullAccess: { type: 'boolean', default: false, doc: 'a valid token with no scope claim (allowedNamespaces, allowedServices, capabilities, admin) gets full access; off: it gets none' },
  dir: { type: 'string', default: '/tmp/rsd-bundles', doc: 'directory for bundle files (an emptyDir); emptied at start' },
  ttl: { type: 'duration', default: '60m', min: 1000, doc: 'a bundle is deleted this long after it was created' },
  maxBundles: { type: 'integer', default: 50, min: 1, doc: 'bundles kept; past it the oldest finished one is deleted' },
  maxDiskBytes: { type: 'bytes', default: '1GiB', doc: 'compressed bytes of all bundles; room is made by deleting the oldest finished ones' },
  maxBundleBytes: { type: 'bytes', default: '128MiB', doc: 'compressed bytes of one bundle; past it the bundle fails' },
  maxConcurrentBuilds: { type: 'integer', default: 2, min: 1, doc: 'bundles built at once; more requests get 429 with Retry-After' },
  buildTimeout: { type: 'duration', default: '2m', min: 1000, doc: 'a bundle still building after this long fails (status `failed`, error says why)' },
  maxBodyBytes: { type: 'bytes', default: '64KiB', doc: 'largest request body (413 past it)' },
  maxPods: { type: 'integer', default: 20, min: 1, max: 1000, doc: 'pods per bundle (requests may ask fewer)' },
  maxMetricsPods: { type: 'integer', default: 20, min: 0, doc: 'pods scraped for metrics per bundle' },
  maxTotalLogLines: { type: 'integer', default: 50000, min: 1, doc: 'log lines per bundle (requests may ask fewer)' },
  maxWindow: { type: 'duration', default: '1h', min: 1000, doc: 'longest time window (sinceSeconds or end − start)' },
  metricsTimeout: { type: 'duration', default: '2s', min: 100, doc: 'default metrics scrape timeout per pod (requests may ask up to 5× this)' },
  maxLineBytes: { type: 'bytes', default: '16KiB', doc: 'a longer log line or event message is truncated' },
  maxMetricsBytes: { type: 'bytes', default: '1MiB', doc: 'metrics text kept per pod' },
  maxEvents: { type: 'integer', default: 10000, min: 1, doc: 'events per bundle' },
  maxDiscoveryPods: { type: 'integer', default: 500, min: 1, doc: 'items of one GET /v1/pods answer' },
  kubeconfig: { type: 'string', doc: 'kubeconfig for the API (default: $KUBECONFIG, ~/.kube/config, then the in-cluster ServiceAccount)' },
  context: { type: 'string', doc: 'kubeconfig context' },
});

export const bundlesComponent = defineComponent({
  key: 'bundles',
  kind: 'server',
  doc: 'A read-only evidence gateway for agents: JWT-scoped pod discovery and gzipped NDJSON bundles of pod logs, events and metrics (docs/bundles.md).',
  schema,
  enabled: (o) => o.enabled,
  validate(o, ctx) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.jwtSecretEnv)) ctx.fail('jwtSecretEnv', 'must be an environment variable name');
    if (!o.dir.startsWith('/')) ctx.fail('dir', 'must be an absolute path');
    if (o.maxBundleBytes > o.maxDiskBytes) ctx.fail('maxBundleBytes', 'must not exceed maxDiskBytes');
  },
  async build(o, ctx) {
    const secret = process.env[o.jwtSecretEnv];
    // The message names the variable, never its content.
    if (!secret) throw new ConfigError(ctx.file, 'bundles.jwtSecretEnv', `environment variable ${o.jwtSecretEnv} is not set (the bundle server needs its JWT secret)`);
    const { MIN_SECRET_CHARS, Authenticator } = await import('./auth.ts');
    if (secret.length < MIN_SECRET_CHARS) throw new ConfigError(ctx.file, 'bundles.jwtSecretEnv', `the secret in ${o.jwtSecretEnv} is shorter than ${MIN_SECRET_CHARS} characters`);
    if (ctx.checkOnly) return {};
    const [{ KubeApi }, { ApiKubeReader }, { BundleStore }, { BundleServer }] = await Promise.all([import('../../sources/kube/api.ts'), import('./kube.ts'), import('./store.ts'), import('./server.ts')]);
    const api = new KubeApi({ ...(o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) });
    const server = new BundleServer({
      host: o.host,
      port: o.port,
      auth: new Authenticator({ secret, clockSkewSeconds: Math.round(o.clockSkew / 1000), legacyFullAccess: o.legacyFullAccess }),
      reader: new ApiKubeReader(api),
      store: new BundleStore({ dir: o.dir, ttlMs: o.ttl, maxBundles: o.maxBundles, maxDiskBytes: o.maxDiskBytes, maxBundleBytes: o.maxBundleBytes, maxConcurrentBuilds: o.maxConcurrentBuilds, buildTimeoutMs: o.buildTimeout }),
      limits: {
        maxPods: o.maxPods,
        maxMetricsPods: o.maxMetricsPods,
        maxTotalLogLines: o.maxTotalLogLines,
        maxSinceSeconds: Math.floor(o.maxWindow / 1000),
        metricsTimeoutMs: o.metricsTimeout,
        maxMetricsTimeoutMs: o.metricsTimeout * 5,
      },
      maxBodyBytes: o.maxBodyBytes,
      maxLineBytes: o.maxLineBytes,
      maxMetricsBytes: o.maxMetricsBytes,
      maxEvents: o.maxEvents,
      maxDiscoveryPods: o.maxDiscoveryPods,
      ttlMs: o.ttl,
      log: ctx.log,
    });
    ctx.log.info({ port: o.port, legacyFullAccess: o.legacyFullAccess }, 'bundle server built');
    return {
      services: [
        {
          name: 'bundles',
          start: () => server.start(),
          stop: async () => {
            await server.stop();
            await api.close();
          },
          unready: () => server.unready(),
        },
      ],
    };
  },
});
