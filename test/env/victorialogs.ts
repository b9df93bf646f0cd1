/**
 * A real VictoriaLogs (single binary) as the Loki-protocol log store of the tests: loopback, a free
 * port, its own data dir. The collector pushes to its Loki endpoint (`/insert/loki/api/v1/push`,
 * protobuf+snappy or JSON); tests read back through VictoriaLogs' own LogsQL API.
 *
 * How Loki's data model lands there (read from app/vlinsert/loki of the pinned version):
 * - stream labels become the stream fields (`_stream`, and each label as a field);
 * - structured metadata becomes ordinary fields;
 * - the line is `_msg` (started with -loki.disableMessageParsing, so a JSON line is kept as is and
 *   not split into fields); the entry's timestamp is `_time`, nanoseconds kept.
 * Differences from Loki that tests must account for: VictoriaLogs stores an exact duplicate entry
 * twice (Loki drops it), answers 2xx where Loki refuses (too old, out of order, rate limits: the
 * fault proxy in loki-answers.ts plays those), and keeps the newest ~second of ingested data in memory
 * (queries call /internal/force_flush first; a SIGKILL loses what was not flushed yet, so outage tests
 * stop it with SIGTERM, which flushes).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaries, requireBinary } from './binaries.ts';
import { ensureOrThrow } from './ensure.ts';
import { freePort } from './ports.ts';
import { managedProcess } from './process.ts';

export interface VictoriaLogsOptions {
  port?: number;
  /** Extra command-line flags. */
  args?: string[];
  readyTimeoutMs?: number;
}

export interface VictoriaLogsHandle {
  /** Base URL, e.g. http://127.0.0.1:34567. */
  url: string;
  /** What a Loki client is pointed at (the LokiSink appends /loki/api/v1/push to loki.url: use lokiUrl). */
  pushUrl: string;
  /** The `loki.url` to configure: the sink pushes to `${lokiUrl}/loki/api/v1/push`. */
  lokiUrl: string;
  port: number;
  dataDir: string;
  logFile: string;
  /** SIGTERM (flushes), wait, remove the data dir. */
  stop(): Promise<void>;
  /** SIGKILL; the data dir stays. Data not flushed yet (about the last second) is lost: VictoriaLogs has no WAL. */
  kill(): Promise<void>;
  /** SIGTERM and start again on the same port with the same data dir. */
  restart(): Promise<void>;
  /** Stop (SIGTERM) without removing the data; start() brings it back. */
  pause(): Promise<void>;
  start(): Promise<void>;
  logTail(bytes?: number): string;
}

export async function startVictoriaLogs(opts: VictoriaLogsOptions = {}): Promise<VictoriaLogsHandle> {
  if (!binaries().victoriaLogs.path) await ensureOrThrow('victorialogs');
  const bin = requireBinary(binaries().victoriaLogs);
  const port = opts.port ?? (await freePort());
  const dataDir = await mkdtemp(join(tmpdir(), 'rsd-vlogs-'));
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(dataDir, 'victoria-logs.log');
  const proc = managedProcess({
    name: 'victoria-logs',
    command: bin,
    args: [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${join(dataDir, 'data')}`,
      // Tests replay fixed dates (the sample incident, corpora): keep everything.
      '-retentionPeriod=100y',
      '-futureRetention=100y',
      '-loki.disableMessageParsing',
      '-inmemoryDataFlushInterval=1s',
      '-loggerLevel=WARN',
      ...(opts.args ?? []),
    ],
    logFile,
    cwd: dataDir,
    ready: { url: `${url}/health` },
    readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
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
    pushUrl: `${url}/insert/loki/api/v1/push`,
    lokiUrl: `${url}/insert`,
    port,
    dataDir,
    logFile,
    async stop() {
      await proc.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    kill: () => proc.kill(),
    restart: () => proc.restart(),
    pause: () => proc.stop(),
    start: () => proc.start(),
    logTail: (bytes?: number) => proc.tail(bytes),
  };
}

export interface StoredEntry {
  /** Stream labels (the stream fields of `_stream`). */
  labels: Record<string, string>;
  /** Nanoseconds since the epoch, as a decimal string (as Loki returns timestamps). */
  ts: string;
  line: string;
  /** Every other field: Loki's structured metadata. */
  structuredMetadata: Record<string, string>;
}

export interface QueryOptions {
  /** Lower time bound (RFC3339 or a Date); default: all time. */
  start?: Date | string;
  end?: Date | string;
  /** Default 10,000. */
  limit?: number;
  /** VictoriaLogs tenant (AccountID:ProjectID); default 0:0. */
  tenant?: string;
}

/** `{k="v",k2="v2"}` → record. Values are Go-quoted strings. */
export function parseStreamLabels(stream: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_.]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(stream); m; m = re.exec(stream)) out[m[1]!] = JSON.parse(`"${m[2]!}"`) as string;
  return out;
}

/** RFC3339 with up to 9 fractional digits → nanoseconds since the epoch, exactly. */
export function rfc3339ToNs(t: string): string {
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(t);
  if (!m) throw new Error(`not an RFC3339 time: ${t}`);
  const secs = BigInt(Math.floor(Date.parse(`${m[1]}${m[3]}`) / 1000));
  return (secs * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))).toString();
}

const flushed = new Map<string, number>();

/** Makes everything ingested so far searchable (VictoriaLogs buffers the newest rows in memory). */
export async function forceFlush(url: string): Promise<void> {
  const res = await fetch(`${url}/internal/force_flush`);
  if (!res.ok) throw new Error(`VictoriaLogs force_flush ${res.status}: ${await res.text()}`);
  flushed.set(url, Date.now());
}

/**
 * A LogsQL query (e.g. `{cluster="c1"} "level=error"`), returned as entries sorted by timestamp
 * (ties in store order). Stream labels and structured metadata are told apart by `_stream`.
 */
export async function queryLogs(url: string, logsql: string, opts: QueryOptions = {}): Promise<StoredEntry[]> {
  await forceFlush(url);
  const params = new URLSearchParams({ query: logsql, limit: String(opts.limit ?? 10_000) });
  if (opts.start) params.set('start', typeof opts.start === 'string' ? opts.start : opts.start.toISOString());
  if (opts.end) params.set('end', typeof opts.end === 'string' ? opts.end : opts.end.toISOString());
  const headers: Record<string, string> = {};
  if (opts.tenant) {
    const [account, project] = opts.tenant.split(':');
    headers.AccountID = account ?? '0';
    headers.ProjectID = project ?? '0';
  }
  const res = await fetch(`${url}/select/logsql/query?${params}`, { headers });
  const text = await res.text();
  if (!res.ok) throw new Error(`VictoriaLogs query ${res.status} for ${logsql}: ${text.slice(0, 500)}`);
  const entries: StoredEntry[] = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    const row = JSON.parse(raw) as Record<string, string>;
    const labels = parseStreamLabels(row._stream ?? '{}');
    const structuredMetadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(row)) if (!k.startsWith('_') && !(k in labels)) structuredMetadata[k] = v;
    entries.push({ labels, ts: rfc3339ToNs(row._time!), line: row._msg ?? '', structuredMetadata });
  }
  // Stable sort: rows of equal timestamps keep the order the store returned them in.
  return entries.sort((a, b) => (BigInt(a.ts) < BigInt(b.ts) ? -1 : BigInt(a.ts) > BigInt(b.ts) ? 1 : 0));
}

/** Poll queryLogs until `predicate` holds; throws with the last answer when it does not in time. */
export async function waitForLogs(url: string, logsql: string, predicate: (entries: StoredEntry[]) => boolean, opts: QueryOptions & { timeoutMs?: number } = {}): Promise<StoredEntry[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const last = await queryLogs(url, logsql, opts);
    if (predicate(last)) return last;
    if (Date.now() > deadline) throw new Error(`VictoriaLogs: condition not met for ${logsql} within ${opts.timeoutMs ?? 15_000} ms; last ${last.length} entries: ${JSON.stringify(last.slice(0, 5))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Entries whose (labels, ts, line) occur more than once: what Loki would have dropped as exact duplicates. */
export function exactDuplicates(entries: readonly StoredEntry[]): StoredEntry[] {
  const seen = new Set<string>();
  const dups: StoredEntry[] = [];
  for (const e of entries) {
    const k = `${JSON.stringify(Object.entries(e.labels).sort())}\u0000${e.ts}\u0000${e.line}`;
    if (seen.has(k)) dups.push(e);
    else seen.add(k);
  }
  return dups;
}
