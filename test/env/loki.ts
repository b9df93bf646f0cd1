/**
 * A real Grafana Loki (single binary, -target=all) for tests: loopback, free HTTP + gRPC ports,
 * filesystem storage in a temp dir, tsdb/v13 schema (structured metadata needs it), in-memory ring.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { binaries, requireBinary } from './binaries.ts';
import { ensureOrThrow } from './ensure.ts';
import { freePorts } from './ports.ts';
import { managedProcess } from './process.ts';

export interface LokiOptions {
  /** Merged into limits_config (e.g. { ingestion_rate_mb: 0.01, ingestion_burst_size_mb: 0.01 } to provoke 429). */
  limits?: Record<string, unknown>;
  /** HTTP port; a free one by default. */
  port?: number;
  /** Multi-tenant mode (X-Scope-OrgID required). Default false (tenant "fake"). */
  authEnabled?: boolean;
  /** Extra top-level config sections, shallow-merged over the defaults (tests only). */
  extraConfig?: Record<string, unknown>;
  readyTimeoutMs?: number;
}

export interface LokiHandle {
  /** Base URL, e.g. http://127.0.0.1:34567 (push: `${url}/loki/api/v1/push`). */
  url: string;
  port: number;
  grpcPort: number;
  dataDir: string;
  configFile: string;
  logFile: string;
  /** SIGTERM, wait, remove the data dir. */
  stop(): Promise<void>;
  /** SIGKILL; the data dir stays (restart() replays the WAL). */
  kill(): Promise<void>;
  /** Stop (if running) and start again on the same ports with the same data dir. */
  restart(): Promise<void>;
  /** Last bytes of Loki's log, for assertion messages. */
  logTail(bytes?: number): string;
}

export async function startLoki(opts: LokiOptions = {}): Promise<LokiHandle> {
  if (!binaries().loki.path) await ensureOrThrow('loki');
  const bin = requireBinary(binaries().loki);
  const [httpFree, grpcPort] = await freePorts(2);
  if (httpFree === undefined || grpcPort === undefined) throw new Error('no free ports');
  const port = opts.port ?? httpFree;
  const dataDir = await mkdtemp(join(tmpdir(), 'rsd-loki-'));
  const config: Record<string, unknown> = {
    target: 'all',
    auth_enabled: opts.authEnabled ?? false,
    server: {
      http_listen_address: '127.0.0.1',
      http_listen_port: port,
      grpc_listen_address: '127.0.0.1',
      grpc_listen_port: grpcPort,
      log_level: 'warn',
      grpc_server_max_concurrent_streams: 1000,
    },
    common: {
      instance_addr: '127.0.0.1',
      path_prefix: dataDir,
      storage: { filesystem: { chunks_directory: join(dataDir, 'chunks'), rules_directory: join(dataDir, 'rules') } },
      replication_factor: 1,
      ring: { instance_addr: '127.0.0.1', kvstore: { store: 'inmemory' } },
    },
    // The default 15 s wait after the ring is healthy only slows tests down.
    ingester: { lifecycler: { min_ready_duration: '0s' } },
    // The query frontend only turns ready once it found the scheduler, polled every 10 s by default.
    frontend: { scheduler_dns_lookup_period: '500ms' },
    frontend_worker: { dns_lookup_duration: '500ms' },
    schema_config: {
      configs: [{ from: '2020-10-24', store: 'tsdb', object_store: 'filesystem', schema: 'v13', index: { prefix: 'index_', period: '24h' } }],
    },
    query_range: { results_cache: { cache: { embedded_cache: { enabled: true, max_size_mb: 50 } } } },
    pattern_ingester: { enabled: false },
    analytics: { reporting_enabled: false },
    // Loki 3 adds a service_name label and detected_level metadata on its own; off by default so tests
    // see exactly what the collector sent (pass them in `limits` to get upstream defaults back).
    limits_config: { allow_structured_metadata: true, discover_service_name: [], discover_log_levels: false, ...opts.limits },
    ...opts.extraConfig,
  };
  const configFile = join(dataDir, 'loki.yaml');
  await writeFile(configFile, stringify(config));
  const logFile = join(dataDir, 'loki.log');
  const url = `http://127.0.0.1:${port}`;
  const proc = managedProcess({
    name: 'loki',
    command: bin,
    args: [`-config.file=${configFile}`, '-target=all'],
    logFile,
    cwd: dataDir,
    ready: { url: `${url}/ready` },
    readyTimeoutMs: opts.readyTimeoutMs ?? 90_000,
    stopTimeoutMs: 15_000,
  });
  try {
    await proc.start();
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    grpcPort,
    dataDir,
    configFile,
    logFile,
    async stop() {
      await proc.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    kill: () => proc.kill(),
    restart: () => proc.restart(),
    logTail: (bytes?: number) => proc.tail(bytes),
  };
}

export interface LokiEntry {
  /** Stream labels (indexed labels only; structured metadata is separate). */
  labels: Record<string, string>;
  /** Nanoseconds since the epoch, as Loki returns it. */
  ts: string;
  line: string;
  structuredMetadata: Record<string, string>;
  /** Labels extracted by parser stages in the query (| json, | logfmt …). */
  parsed: Record<string, string>;
}

export type LokiTime = Date | bigint | number | string;

export interface QueryRangeOptions {
  /** Inclusive; default now − 1h. Numbers are ms since the epoch, strings are passed through. */
  start?: LokiTime;
  /** Exclusive; default now + 1 min. */
  end?: LokiTime;
  limit?: number;
  direction?: 'forward' | 'backward';
  tenant?: string;
}

function toNs(t: LokiTime): string {
  if (t instanceof Date) return `${BigInt(t.getTime()) * 1_000_000n}`;
  if (typeof t === 'bigint') return t.toString();
  if (typeof t === 'number') return `${BigInt(Math.round(t)) * 1_000_000n}`;
  return t;
}

interface CategorizedMeta {
  structuredMetadata?: Record<string, string>;
  parsed?: Record<string, string>;
}

interface StreamsResponse {
  status: string;
  data?: { resultType: string; result: { stream: Record<string, string>; values: [string, string, CategorizedMeta?][] }[] };
}

/**
 * query_range for a log query, flattened to entries in `direction` order across streams.
 * Sends `X-Loki-Response-Encoding-Flags: categorize-labels` so structured metadata comes back
 * separately from the stream labels instead of being merged into them.
 */
export async function queryRange(url: string, logql: string, opts: QueryRangeOptions = {}): Promise<LokiEntry[]> {
  const direction = opts.direction ?? 'forward';
  const params = new URLSearchParams({
    query: logql,
    start: toNs(opts.start ?? new Date(Date.now() - 3_600_000)),
    end: toNs(opts.end ?? new Date(Date.now() + 60_000)),
    limit: String(opts.limit ?? 1000),
    direction,
  });
  const headers: Record<string, string> = { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' };
  if (opts.tenant) headers['X-Scope-OrgID'] = opts.tenant;
  const res = await fetch(`${url}/loki/api/v1/query_range?${params}`, { headers });
  const text = await res.text();
  if (!res.ok) throw new Error(`Loki query_range ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as StreamsResponse;
  if (body.status !== 'success' || !body.data) throw new Error(`Loki query_range failed: ${text.slice(0, 500)}`);
  if (body.data.resultType !== 'streams') throw new Error(`expected a log query (streams), got ${body.data.resultType}`);
  const entries: LokiEntry[] = [];
  for (const s of body.data.result) {
    for (const [ts, line, meta] of s.values) {
      entries.push({ labels: s.stream, ts, line, structuredMetadata: meta?.structuredMetadata ?? {}, parsed: meta?.parsed ?? {} });
    }
  }
  const sign = direction === 'forward' ? 1 : -1;
  entries.sort((a, b) => {
    const d = BigInt(a.ts) - BigInt(b.ts);
    return d === 0n ? 0 : d > 0n ? sign : -sign;
  });
  return entries;
}

/** Poll queryRange until `predicate` holds (ingestion → queryable is not instantaneous). */
export async function waitForEntries(
  url: string,
  logql: string,
  predicate: (entries: LokiEntry[]) => boolean,
  opts: QueryRangeOptions & { timeoutMs?: number } = {},
): Promise<LokiEntry[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last: LokiEntry[] = [];
  for (;;) {
    last = await queryRange(url, logql, opts);
    if (predicate(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`Loki: condition not met for ${logql} within ${opts.timeoutMs ?? 15_000} ms; last ${last.length} entries: ${JSON.stringify(last.slice(0, 5))}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
