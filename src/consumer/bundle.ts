/**
 * fetchBundle: the evidence behind a finding, from the detector's bundle server (docs/bundles.md).
 *
 *   import { fetchBundle } from 'robot-sre-detector/consumer';
 *   const bundle = await fetchBundle(finding, token, { url: 'http://robot-sre-detector.robot-sre:8090' });
 *   for await (const r of bundle.records) if (r.type === 'log' && !r.skipped) look(r.line);
 *
 * It sends the request the finding carries (`evidence.bundle`), waits while the server builds
 * (polling the status, honouring 429 + Retry-After while the server is busy), then streams the
 * gzipped NDJSON download record by record: nothing is held whole in memory.
 */
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { BundleRequest, Finding } from '../model/finding.ts';

/** First record of every bundle. */
export interface BundleMetaRecord {
  type: 'meta';
  bundleId: string;
  createdAt: string;
  params: unknown;
  pods?: Array<{ namespace: string; pod: string }>;
  services?: string[];
  [k: string]: unknown;
}

/** A log line, or a record saying why a source gave none (`skipped: true`, `reason`). */
export interface BundleLogRecord {
  type: 'log';
  ts: string;
  line?: string;
  skipped?: boolean;
  reason?: string;
  error?: string;
  /** Kubernetes mode. */
  namespace?: string;
  pod?: string;
  container?: string;
  previous?: boolean;
  /** Standalone mode. */
  service?: string;
  file?: string;
  journal?: string;
  [k: string]: unknown;
}

export interface BundleEventRecord {
  type: 'event';
  ts: string;
  namespace: string;
  reason?: string;
  message?: string;
  firstTs?: string;
  eventType?: string;
  count?: number;
  involvedObject?: { kind: string; namespace?: string; name: string; fieldPath?: string };
  source?: string;
  skipped?: boolean;
  error?: string;
  [k: string]: unknown;
}

export interface BundleMetricsRecord {
  type: 'metrics_text';
  ts: string;
  /** true: scraped, `content` holds the text; false: an anomaly signal, `error` says why. */
  ok?: boolean;
  /** A normal skip (the pod or service exposes no metrics), `reason` says why. */
  skipped?: boolean;
  reason?: string;
  error?: string;
  content?: string;
  namespace?: string;
  pod?: string;
  port?: number;
  path?: string;
  service?: string;
  url?: string;
  [k: string]: unknown;
}

/** Standalone mode: the line budget and what each source contributed. */
export interface BundleLogSummaryRecord {
  type: 'log_summary';
  ts: string;
  lineLimited: boolean;
  matchedLogRecords: number;
  returnedLogRecords: number;
  diagnosticRecords: number;
  sources: unknown[];
  [k: string]: unknown;
}

/**
 * The records of a bundle, told apart by `type`. A record of a type this SDK version does not know
 * (a newer server) is passed through as it came, never dropped: switch with a default branch.
 */
export type BundleRecord = BundleMetaRecord | BundleLogRecord | BundleEventRecord | BundleMetricsRecord | BundleLogSummaryRecord;

export interface FetchBundleOptions {
  /** The bundle server's base URL, e.g. `http://robot-sre-detector.robot-sre:8090`. */
  url: string;
  /** Change the request before it is sent, e.g. drop `metrics` for a token without that capability. */
  adjust?: (request: BundleRequest) => BundleRequest;
  /** Poll interval while the bundle builds (default 1000 ms; the server suggests 1–2 s). */
  pollIntervalMs?: number;
  /** Give up waiting for a busy server and for the build after this long (default 120 000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface FetchedBundle {
  bundleId: string;
  /** Compressed size and record count, as the server reported when the build finished. */
  bytes: number;
  recordCount: number;
  /** The records in bundle order; iterate once. */
  records: AsyncIterable<BundleRecord>;
}

/** The server refused or failed the bundle: `status` is the HTTP status (0 when it never answered). */
export class BundleFetchError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'BundleFetchError';
    this.status = status;
  }
}

/** The request a finding carries, or an error saying why there is none. */
export function findingBundleRequest(finding: Finding): BundleRequest {
  const r = finding.evidence.bundle;
  if (!r) throw new BundleFetchError(`finding ${finding.finding_id} names no pod or service (no evidence.bundle)`, 0);
  return r;
}

interface StatusAnswer {
  bundleId: string;
  status: 'building' | 'done' | 'failed';
  records?: number;
  bytes?: number;
  error?: string;
  downloadUrl?: string;
}

export async function fetchBundle(finding: Finding, token: string, opts: FetchBundleOptions): Promise<FetchedBundle> {
  const request = (opts.adjust ?? ((r: BundleRequest) => r))(structuredClone(findingBundleRequest(finding)));
  const doFetch = opts.fetch ?? fetch;
  const base = opts.url.replace(/\/+$/, '');
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const poll = opts.pollIntervalMs ?? 1000;
  const headers = { authorization: `Bearer ${token}` };
  const call = async (path: string, init: RequestInit = {}): Promise<Response> => {
    try {
      return await doFetch(`${base}${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) }, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new BundleFetchError(`bundle server ${base} unreachable: ${(err as Error).message}`, 0);
    }
  };
  const fail = async (res: Response, what: string): Promise<never> => {
    const text = await res.text().catch(() => '');
    let msg = text.slice(0, 500);
    try {
      msg = (JSON.parse(text) as { error?: string }).error ?? msg;
    } catch {
      /* not JSON: keep the text */
    }
    throw new BundleFetchError(`${what}: HTTP ${res.status}${msg ? `: ${msg}` : ''}`, res.status);
  };

  // Create: a busy or full server answers 429 with Retry-After; wait and try again until the deadline.
  let created: { bundleId: string };
  for (;;) {
    const res = await call('/v1/bundles', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    if (res.status === 202) {
      created = (await res.json()) as { bundleId: string };
      break;
    }
    if (res.status !== 429) return fail(res, 'create bundle');
    const retryMs = Math.max(poll, Number(res.headers.get('retry-after') ?? '1') * 1000 || poll);
    await res.body?.cancel().catch(() => {});
    if (Date.now() + retryMs > deadline) throw new BundleFetchError(`create bundle: server busy (429) until the ${opts.timeoutMs ?? 120_000} ms timeout`, 429);
    await sleep(retryMs, opts.signal);
  }

  // Wait for the build.
  let status: StatusAnswer;
  for (;;) {
    const res = await call(`/v1/bundles/${encodeURIComponent(created.bundleId)}`);
    if (res.status !== 200) return fail(res, `bundle ${created.bundleId} status`);
    status = (await res.json()) as StatusAnswer;
    if (status.status === 'done') break;
    if (status.status === 'failed') throw new BundleFetchError(`bundle ${created.bundleId} failed: ${status.error ?? 'unknown error'}`, 200);
    if (Date.now() + poll > deadline) throw new BundleFetchError(`bundle ${created.bundleId} still building after ${opts.timeoutMs ?? 120_000} ms`, 0);
    await sleep(poll, opts.signal);
  }

  const res = await call(status.downloadUrl ?? `/v1/bundles/${encodeURIComponent(created.bundleId)}/download`);
  if (res.status !== 200 || !res.body) return fail(res, `bundle ${created.bundleId} download`);
  return { bundleId: created.bundleId, bytes: status.bytes ?? 0, recordCount: status.records ?? 0, records: readRecords(res.body) };
}

/** Gunzip and split the download; a line that is not a JSON object is an error, not a silent skip. */
async function* readRecords(body: ReadableStream<Uint8Array>): AsyncGenerator<BundleRecord> {
  const gunzip = Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]).pipe(createGunzip());
  const lines = createInterface({ input: gunzip, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new BundleFetchError(`bundle record ${n} is not JSON`, 200);
      }
      if (!v || typeof v !== 'object' || typeof (v as { type?: unknown }).type !== 'string') throw new BundleFetchError(`bundle record ${n} has no type`, 200);
      yield v as BundleRecord;
    }
  } finally {
    lines.close();
    gunzip.destroy();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
