/**
 * `bundles:` in the config: the evidence-bundle server for agents (off by default, its own port).
 * Mode (`mode: auto`): standalone when `services:` lists services and `kubernetes.enabled` is not true
 * (a host without Kubernetes), else Kubernetes. Kubernetes mode connects with `bundles.kubeconfig` /
 * `bundles.context` when set, else with the `kubernetes:` section's, else the usual search.
 */
import { hostname } from 'node:os';
import type { BuildContext } from '../../components/component.ts';
import { defineComponent } from '../../components/component.ts';
import { ConfigError, defineSchema } from '../../components/schema.ts';
import type { StandaloneConfig } from './standalone.ts';

const schema = defineSchema({
  enabled: { type: 'boolean', default: false, doc: 'serve the bundle API (docs/bundles.md); off unless set' },
  mode: {
    type: 'enum',
    values: ['auto', 'kubernetes', 'standalone'],
    default: 'auto',
    doc: 'what the bundles hold: `kubernetes` (pods), `standalone` (the services of `services:`); `auto`: standalone when `services:` lists services and `kubernetes.enabled` is not true, else kubernetes',
  },
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
  kubeconfig: { type: 'string', doc: 'kubeconfig for the API, overriding `kubernetes.kubeconfig` (default: that, else $KUBECONFIG, ~/.kube/config, then the in-cluster ServiceAccount)' },
  context: { type: 'string', doc: 'kubeconfig context, overriding `kubernetes.context`' },
});

/** The `kubernetes:` settings the bundle server reuses (the core section, not a component). */
interface KubeSettings {
  enabled?: boolean;
  kubeconfig?: string;
  context?: string;
}
/** The `services:` options (src/sources/services/component.ts) standalone mode serves. */
interface ServicesOptions {
  host?: string;
  journalDirectory?: string;
  journalctl: string;
  list: Array<{ name: string; files: string[]; units: string[]; metricsUrl?: string }>;
}

/**
 * `kubernetes:` is read by config.ts, not by a component, so `optionsOf('kubernetes')` may not answer:
 * validate() (which sees the whole document, environment overrides applied) records the section's
 * connection settings for build(), keyed by this section's options object.
 */
const seenKube = new WeakMap<object, KubeSettings>();

function kubeSettingsOf(v: unknown): KubeSettings {
  if (!v || typeof v !== 'object') return {};
  const k = v as Record<string, unknown>;
  return {
    ...(typeof k.enabled === 'boolean' ? { enabled: k.enabled } : {}),
    ...(typeof k.kubeconfig === 'string' && k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
    ...(typeof k.context === 'string' && k.context ? { context: k.context } : {}),
  };
}

function kubeSettings(o: object, optionsOf: BuildContext['optionsOf']): KubeSettings {
  const fromCtx = optionsOf('kubernetes');
  return fromCtx && typeof fromCtx === 'object' ? kubeSettingsOf(fromCtx) : (seenKube.get(o) ?? {});
}

/** The API connection of Kubernetes mode: the bundles fields, else the kubernetes: section's (else the loader's search). */
export function bundleConnection(o: { kubeconfig?: string | undefined; context?: string | undefined }, optionsOf: BuildContext['optionsOf']): { kubeconfig?: string; context?: string } {
  const kube = kubeSettings(o, optionsOf);
  const kubeconfig = o.kubeconfig ?? kube.kubeconfig;
  const context = o.context ?? kube.context;
  return { ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) };
}

/** The mode a bundles section resolves to, with the services it would serve. */
export function bundleMode(o: { mode: 'auto' | 'kubernetes' | 'standalone' }, optionsOf: BuildContext['optionsOf']): ResolvedMode {
  const services = optionsOf('services') as ServicesOptions | undefined;
  return resolveMode(o.mode, !!services && services.list.length > 0, kubeSettings(o, optionsOf).enabled);
}

export type ResolvedMode = 'kubernetes' | 'standalone';

/** The mode rule (docs/bundles.md): `auto` → standalone when services are listed and Kubernetes is not enabled. */
export function resolveMode(mode: 'auto' | 'kubernetes' | 'standalone', servicesListed: boolean, kubernetesEnabled: boolean | undefined): ResolvedMode {
  if (mode !== 'auto') return mode;
  return servicesListed && kubernetesEnabled !== true ? 'standalone' : 'kubernetes';
}

export const bundlesComponent = defineComponent({
  key: 'bundles',
  kind: 'server',
  doc: 'A read-only evidence gateway for agents: JWT-scoped pod discovery and gzipped NDJSON bundles of pod logs, events and metrics; on a host without Kubernetes (standalone mode), of its services’ log files, journal units and metrics (docs/bundles.md).',
  schema,
  enabled: (o) => o.enabled,
  validate(o, ctx) {
    seenKube.set(o, kubeSettingsOf(ctx.document.kubernetes));
    const services = ctx.document.services as { list?: unknown } | undefined;
    const listed = !!services && Array.isArray(services.list) && services.list.length > 0;
    if (o.mode === 'standalone' && !listed) ctx.fail('mode', 'standalone needs a services: section that lists services');
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
    const services = ctx.optionsOf('services') as ServicesOptions | undefined;
    const mode = bundleMode(o, ctx.optionsOf);
    if (mode === 'standalone' && !services?.list.length) throw new ConfigError(ctx.file, 'bundles.mode', 'standalone needs a services: section that lists services');
    const standalone: StandaloneConfig | undefined =
      mode === 'standalone'
        ? {
            host: services!.host ?? process.env.NODE_NAME ?? hostname(),
            journalctl: services!.journalctl,
            ...(services!.journalDirectory ? { journalDirectory: services!.journalDirectory } : {}),
            services: services!.list.map((s) => ({ name: s.name, files: [...s.files], units: [...s.units], ...(s.metricsUrl ? { metricsUrl: s.metricsUrl } : {}) })),
          }
        : undefined;
    if (ctx.checkOnly) return {};
    const [{ KubeApi }, { ApiKubeReader }, { BundleStore }, { BundleServer }] = await Promise.all([import('../../sources/kube/api.ts'), import('./kube.ts'), import('./store.ts'), import('./server.ts')]);
    // The bundles fields override the kubernetes: section's; one Deployment configures the API once.
    const { kubeconfig, context } = bundleConnection(o, ctx.optionsOf);
    const api = mode === 'kubernetes' ? new KubeApi({ ...(kubeconfig ? { kubeconfigPath: kubeconfig } : {}), ...(context ? { context } : {}) }) : undefined;
    const server = new BundleServer({
      host: o.host,
      port: o.port,
      auth: new Authenticator({ secret, clockSkewSeconds: Math.round(o.clockSkew / 1000), legacyFullAccess: o.legacyFullAccess }),
      ...(api ? { reader: new ApiKubeReader(api) } : {}),
      ...(standalone ? { standalone } : {}),
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
    ctx.log.info({ port: o.port, mode, legacyFullAccess: o.legacyFullAccess, ...(standalone ? { services: standalone.services.length } : {}) }, 'bundle server built');
    return {
      services: [
        {
          name: 'bundles',
          start: () => server.start(),
          stop: async () => {
            await server.stop();
            await api?.close();
          },
          unready: () => server.unready(),
        },
      ],
    };
  },
});
