import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { AnyComponent, ConfiguredComponent } from './components/component.ts';
import { readComponents } from './components/configure.ts';
import { COMPONENTS } from './components/registry.ts';
import { SETTINGS, type DetectSettings, type FindingsSettings, type LogSettings, type PipelinesSettings, type ServerSettings, type StateSettings } from './components/settings.ts';
import type { KubernetesValues } from './sources/kube/component.ts';
import type { LokiValues } from './sinks/loki/component.ts';
import type { NatsValues } from './nats/component.ts';
import { ConfigError, configErrorOf, readSecret } from './components/schema.ts';

export { ConfigError, readSecret };

/**
 * One typed, validated configuration: a YAML/JSON file plus environment overrides. Every error
 * names the file, the field and the reason. Secrets are read from files or the environment,
 * never from the config file itself, so a ConfigMap never holds one.
 */

export interface Config {
  cluster: string;
  /** The enabled `kubernetes:` component's options (src/sources/kube/component.ts), if any. */
  kubernetes: KubernetesValues | undefined;
  /** The enabled `loki:` component's options (src/sinks/loki/component.ts), if any. */
  loki: LokiValues | undefined;
  /** The enabled `nats:` component's options (src/nats/component.ts), if any. */
  nats: NatsValues | undefined;
  /** The process's own sections (src/components/settings.ts): always present, defaults filled in. */
  state: StateSettings;
  pipelines: PipelinesSettings;
  detect: DetectSettings;
  server: ServerSettings;
  findings: FindingsSettings;
  log: LogSettings;
  /** Registered components (src/components/registry.ts) whose sections are present and enabled. */
  components: ConfiguredComponent[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** Environment overrides, applied onto the parsed document before validation. */
const ENV_OVERRIDES: Array<[string, string, 'string' | 'list' | 'int' | 'bool']> = [
  ['RSD_CLUSTER', 'cluster', 'string'],
  ['LOKI_URL', 'loki.url', 'string'],
  ['LOKI_TENANT', 'loki.tenant', 'string'],
  ['NATS_URL', 'nats.servers', 'list'],
  ['NATS_CREDS', 'nats.credsFile', 'string'],
  ['NODE_NAME', 'kubernetes.nodeName', 'string'],
  ['SHARD_COUNT', 'kubernetes.shardCount', 'int'],
  ['RSD_NAMESPACES', 'kubernetes.namespaces', 'list'],
  ['RSD_PORT', 'server.port', 'int'],
  ['LOG_LEVEL', 'log.level', 'string'],
];

function setPath(root: Obj, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    if (!isObj(cur[p])) cur[p] = {};
    cur = cur[p] as Obj;
  }
  cur[parts.at(-1)!] = value;
}

export function parseConfig(text: string | null, file: string, env: NodeJS.ProcessEnv = process.env, components: readonly AnyComponent[] = COMPONENTS): Config {
  const { config, errors } = readConfig(text, file, env, components);
  if (errors.length) throw configErrorOf(errors);
  return config;
}

/**
 * The config with every mistake collected instead of stopping at the first (`run --check` reports
 * them all; a field in error reads as its default). A document that is not YAML/JSON, or not a
 * mapping, still throws: there is nothing to read further.
 */
export function readConfig(text: string | null, file: string, env: NodeJS.ProcessEnv = process.env, components: readonly AnyComponent[] = COMPONENTS): { config: Config; errors: ConfigError[] } {
  let doc: unknown = {};
  if (text !== null && text.trim()) {
    try {
      doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new ConfigError(file, '(document)', `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
    }
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isObj(doc)) throw new ConfigError(file, '(root)', 'must be a mapping');
  const root = structuredClone(doc);
  for (const [name, path, kind] of ENV_OVERRIDES) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (kind === 'int') {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new ConfigError(`env ${name}`, path, 'must be an integer');
      setPath(root, path, n);
    } else setPath(root, path, kind === 'list' ? v.split(',').map((s) => s.trim()) : v);
  }
  const errors: ConfigError[] = [];
  const known = ['cluster', ...SETTINGS.map((c) => c.key), ...components.map((c) => c.key)];
  for (const k of Object.keys(root)) if (!known.includes(k)) errors.push(new ConfigError(file, k, `unknown field (allowed: ${known.join(', ')})`));
  let cluster = 'default';
  if (root.cluster !== undefined && root.cluster !== null) {
    if (typeof root.cluster === 'string' && root.cluster.length > 0) cluster = root.cluster;
    else errors.push(new ConfigError(file, 'cluster', 'must be a non-empty string'));
  }
  // Each section is read on its own, so one section's mistake does not hide another's; a section in
  // error reads as its defaults (the rest of the config is still checked).
  const settings = new Map<string, unknown>();
  for (const spec of SETTINGS) {
    try {
      settings.set(spec.key, readComponents(root, file, [spec])[0]!.options);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
      settings.set(spec.key, readComponents({}, file, [spec])[0]!.options);
    }
  }
  const configured: ConfiguredComponent[] = [];
  for (const spec of components) {
    try {
      configured.push(...readComponents(root, file, [spec]));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
    }
  }
  const of = <T>(key: string): T | undefined => configured.find((c) => c.spec.key === key)?.options as T | undefined;
  const cfg: Config = {
    cluster,
    kubernetes: of<KubernetesValues>('kubernetes'),
    loki: of<LokiValues>('loki'),
    nats: of<NatsValues>('nats'),
    state: settings.get('state') as StateSettings,
    pipelines: settings.get('pipelines') as PipelinesSettings,
    detect: settings.get('detect') as DetectSettings,
    server: settings.get('server') as ServerSettings,
    findings: settings.get('findings') as FindingsSettings,
    log: settings.get('log') as LogSettings,
    components: configured,
  };
  return { config: cfg, errors };
}

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (!file) return parseConfig(null, '(defaults)', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, '(file)', `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(text, file, env);
}

/** Read a secret from a file (trimmed); the value is never logged. */
