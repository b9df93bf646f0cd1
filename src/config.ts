import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from './parse/timestamp.ts';
import type { AnyComponent, ConfiguredComponent } from './components/component.ts';
import { readComponents } from './components/configure.ts';
import { COMPONENTS } from './components/registry.ts';
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
  state: { store: 'auto' | 'memory' | 'file' | 'jetstream-kv'; dir: string; bucket?: string };
  pipelines: { defaults: boolean; dirs: string[]; files: string[]; rules: string[]; watch: boolean };
  detect: { allowedLatenessMs: number; maxKeysPerRule: number; stateTtlMs: number; templates: boolean; minerMaxClusters: number; extraMasks: Array<{ pattern: string; name?: string }> };
  server: { host: string; port: number; tap: { enabled: boolean; maxClients: number; maxRate: number } };
  findingsToStdout: boolean;
  logLevel: string;
  /** Registered components (src/components/registry.ts) whose sections are present and enabled. */
  components: ConfiguredComponent[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

class Reader {
  private readonly file: string;
  private readonly root: Obj;
  /** Every mistake found, so one run names them all; the value read is then the default. */
  readonly errors: ConfigError[] = [];
  constructor(file: string, root: Obj) {
    this.file = file;
    this.root = root;
  }
  private get(path: string): unknown {
    let cur: unknown = this.root;
    for (const part of path.split('.')) {
      if (!isObj(cur)) return undefined;
      cur = cur[part];
    }
    return cur;
  }
  /** Records a mistake and gives up on the field (the caller then uses its default). */
  fail(path: string, reason: string): undefined {
    this.errors.push(new ConfigError(this.file, path, reason));
    return undefined;
  }
  str(path: string): string | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v.length === 0) return this.fail(path, 'must be a non-empty string');
    return v;
  }
  bool(path: string, dflt: boolean): boolean {
    const v = this.get(path);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') return this.fail(path, 'must be true or false') ?? dflt;
    return v;
  }
  int(path: string, opts: { min?: number; max?: number } = {}): number | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.fail(path, 'must be an integer');
    if (opts.min !== undefined && v < opts.min) return this.fail(path, `must be ≥ ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) return this.fail(path, `must be ≤ ${opts.max}`);
    return v;
  }
  bytes(path: string): number | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' && v > 0) return v;
    const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(v) : null;
    if (!m) return this.fail(path, 'must be a size like 64MiB or a number of bytes');
    const unit = (m[2] ?? 'B').toLowerCase();
    const mult: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };
    return Math.floor(parseFloat(m[1]!) * mult[unit]!);
  }
  duration(path: string): number | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    try {
      return parseDuration(v as string | number);
    } catch (err) {
      return this.fail(path, (err as Error).message);
    }
  }
  list(path: string): string[] | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return this.fail(path, 'must be a list of strings');
    return v as string[];
  }
  oneOf<T extends string>(path: string, allowed: readonly T[], dflt: T): T {
    const v = this.get(path);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string' || !allowed.includes(v as T)) return this.fail(path, `must be one of ${allowed.join(', ')}`) ?? dflt;
    return v as T;
  }
  /** Unknown keys are mistakes (a typo silently ignored is a production outage). */
  known(path: string, keys: string[]): void {
    const v = path ? this.get(path) : this.root;
    if (v === undefined || v === null) return;
    if (!isObj(v)) return void this.fail(path || '(root)', 'must be a mapping');
    for (const k of Object.keys(v)) if (!keys.includes(k)) this.fail(path ? `${path}.${k}` : k, `unknown field (allowed: ${keys.join(', ')})`);
  }
}

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
  const r = new Reader(file, root);
  r.known('', ['cluster', 'state', 'pipelines', 'detect', 'server', 'findings', 'log', ...components.map((c) => c.key)]);
  r.known('state', ['store', 'dir', 'bucket']);
  r.known('pipelines', ['defaults', 'dirs', 'files', 'rules', 'watch']);
  r.known('detect', ['allowedLateness', 'maxKeysPerRule', 'stateTtl', 'templates', 'miner']);
  r.known('detect.miner', ['maxClusters', 'extraMasks']);
  r.known('server', ['host', 'port', 'tap']);
  r.known('server.tap', ['enabled', 'maxClients', 'maxRate']);
  r.known('findings', ['stdout']);
  r.known('log', ['level']);

  const extraMasksRaw = (root.detect as Obj | undefined)?.miner as Obj | undefined;
  const extraMasks = extraMasksRaw?.extraMasks;
  if (extraMasks !== undefined && !(Array.isArray(extraMasks) && extraMasks.every((m) => isObj(m) && typeof m.pattern === 'string'))) {
    r.fail('detect.miner.extraMasks', 'must be a list of { pattern, name }');
  }
  const cfg: Config = {
    cluster: r.str('cluster') ?? 'default',
    kubernetes: undefined,
    loki: undefined,
    nats: undefined,
    state: { store: r.oneOf('state.store', ['auto', 'memory', 'file', 'jetstream-kv'] as const, 'auto'), dir: r.str('state.dir') ?? '/var/lib/robot-sre-detector' },
    pipelines: {
      defaults: r.bool('pipelines.defaults', true),
      dirs: r.list('pipelines.dirs') ?? [],
      files: r.list('pipelines.files') ?? [],
      rules: r.list('pipelines.rules') ?? [],
      watch: r.bool('pipelines.watch', true),
    },
    detect: {
      allowedLatenessMs: r.duration('detect.allowedLateness') ?? 10_000,
      maxKeysPerRule: r.int('detect.maxKeysPerRule', { min: 10 }) ?? 10_000,
      stateTtlMs: r.duration('detect.stateTtl') ?? 3_600_000,
      templates: r.bool('detect.templates', true),
      minerMaxClusters: r.int('detect.miner.maxClusters', { min: 10 }) ?? 5000,
      extraMasks: (extraMasks as Array<{ pattern: string; name?: string }>) ?? [],
    },
    server: {
      host: r.str('server.host') ?? '0.0.0.0',
      port: r.int('server.port', { min: 0, max: 65535 }) ?? 8080,
      tap: { enabled: r.bool('server.tap.enabled', false), maxClients: r.int('server.tap.maxClients', { min: 1, max: 64 }) ?? 4, maxRate: r.int('server.tap.maxRate', { min: 1, max: 10_000 }) ?? 200 },
    },
    findingsToStdout: r.bool('findings.stdout', false),
    logLevel: r.oneOf('log.level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const, 'info'),
    components: [],
  };
  // Each registered section is read on its own, so one component's mistake does not hide another's.
  for (const spec of components) {
    try {
      cfg.components.push(...readComponents(root, file, [spec]));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      r.errors.push(err);
    }
  }
  const of = <T>(key: string): T | undefined => cfg.components.find((c) => c.spec.key === key)?.options as T | undefined;
  cfg.kubernetes = of<KubernetesValues>('kubernetes');
  cfg.loki = of<LokiValues>('loki');
  cfg.nats = of<NatsValues>('nats');
  const opt = <T>(v: T | undefined, set: (v: T) => void) => v !== undefined && set(v);
  opt(r.str('state.bucket'), (v) => (cfg.state.bucket = v));
  if (cfg.state.store === 'jetstream-kv' && !cfg.nats) r.fail('state.store', 'jetstream-kv needs nats.servers');
  return { config: cfg, errors: r.errors };
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
