/**
 * Options of the Loki sink. Every default is chosen to stay inside Loki's own default limits
 * (v3.x `limits_config`), so a stock monolithic Loki never has to reject us for volume.
 */
export interface LokiSinkOptions {
  /** Base URL of Loki (`http://loki:3100`); `/loki/api/v1/push` is appended unless the URL already ends with it. */
  url: string;
  /** Sent as `X-Scope-OrgID`. Loki with `auth_enabled: false` ignores it (tenant "fake"). */
  tenant?: string;
  basicAuth?: { username: string; password: string };
  bearerToken?: string;
  tls?: { caFile?: string; insecureSkipVerify?: boolean };
  /** Default 'protobuf' (snappy block-compressed, what Promtail and Alloy send); 'json' is the fallback. */
  format?: 'protobuf' | 'json';
  /** A batch is sent when it holds this many payload bytes. Default 1 MiB. */
  batchBytes?: number;
  /** …or when its oldest entry has waited this long. Default 1000 ms. */
  batchWaitMs?: number;
  /** Lines longer than this (UTF-8 bytes) are truncated with a marker. Default 255 000 (Loki's max_line_size is 256KB = 256 000). */
  maxLineBytes?: number;
  /** Bound of the in-memory queue, in payload bytes. Default 64 MiB. */
  memoryQueueBytes?: number;
  /** Optional disk spool for what does not fit in memory; survives a restart. */
  spool?: { dir: string; maxBytes: number };
  /**
   * Delivered batches whose acknowledgement waits for an older batch (after an outage, live
   * batches overtake the backlog), in payload bytes. Past it the oldest is never acknowledged
   * (its lines are re-read after a restart, not lost). Default max(4 MiB, memoryQueueBytes / 4).
   */
  heldAckBytes?: number;
  /** Client token bucket per tenant, bytes/s. Default 4 MiB/s (Loki ingestion_rate_mb 4). */
  tenantRateBytes?: number;
  /** Default 6 MiB (Loki ingestion_burst_size_mb 6). */
  tenantBurstBytes?: number;
  /** Client token bucket per stream, bytes/s. Default 3 MB/s (Loki per_stream_rate_limit 3MB). */
  streamRateBytes?: number;
  /** Default 15 MB (Loki per_stream_rate_limit_burst 15MB). */
  streamBurstBytes?: number;
  /** Retry backoff for 429/5xx/network errors. Defaults 500 ms → 300 000 ms, full jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Distinct values kept per label name before new values are demoted to structured metadata. Default 500. */
  maxLabelValues?: number;
  /** Per-request timeout. Default 10 000 ms. */
  timeoutMs?: number;
  /** A chunk older than this counts as backlog: live chunks are then interleaved with it. Default 10 000 ms. */
  liveWindowMs?: number;
  /**
   * Live-first interleaving is only used while the oldest backlog entry is younger than this;
   * beyond it, newer pushes would make Loki refuse the backlog as too_far_behind (its window is
   * max_chunk_age/2 = 1 h by default), so catch-up goes strictly oldest first. Default 50 min.
   */
  outOfOrderWindowMs?: number;
  /** Consecutive 429s on one batch before it is split in two (a batch above Loki's burst can never pass). Default 2. */
  splitAfter429?: number;
  /** Value of the `sink` label on the shared metrics. Default 'loki'. */
  name?: string;
}

export interface ResolvedLokiOptions {
  pushUrl: URL;
  tenant: string | undefined;
  basicAuth: { username: string; password: string } | undefined;
  bearerToken: string | undefined;
  tls: { caFile?: string; insecureSkipVerify?: boolean };
  format: 'protobuf' | 'json';
  batchBytes: number;
  batchWaitMs: number;
  maxLineBytes: number;
  memoryQueueBytes: number;
  spool: { dir: string; maxBytes: number } | undefined;
  heldAckBytes: number;
  tenantRateBytes: number;
  tenantBurstBytes: number;
  streamRateBytes: number;
  streamBurstBytes: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  maxLabelValues: number;
  timeoutMs: number;
  liveWindowMs: number;
  outOfOrderWindowMs: number;
  splitAfter429: number;
  name: string;
}

export const LOKI_DEFAULTS = {
  format: 'protobuf',
  batchBytes: 1024 * 1024,
  batchWaitMs: 1000,
  maxLineBytes: 255_000,
  memoryQueueBytes: 64 * 1024 * 1024,
  tenantRateBytes: 4 * 1024 * 1024,
  tenantBurstBytes: 6 * 1024 * 1024,
  streamRateBytes: 3_000_000,
  streamBurstBytes: 15_000_000,
  minBackoffMs: 500,
  maxBackoffMs: 300_000,
  maxLabelValues: 500,
  timeoutMs: 10_000,
  liveWindowMs: 10_000,
  outOfOrderWindowMs: 3_000_000,
  splitAfter429: 2,
  name: 'loki',
} as const;

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`loki sink: ${name} must be a positive number, got ${String(v)}`);
  return v;
}

export function resolveLokiOptions(o: LokiSinkOptions): ResolvedLokiOptions {
  let pushUrl: URL;
  try {
    pushUrl = new URL(o.url);
  } catch {
    throw new Error('loki sink: url is not a valid URL');
  }
  if (pushUrl.protocol !== 'http:' && pushUrl.protocol !== 'https:') throw new Error('loki sink: url must be http(s)');
  if (!pushUrl.pathname.endsWith('/loki/api/v1/push')) {
    pushUrl.pathname = `${pushUrl.pathname.replace(/\/+$/, '')}/loki/api/v1/push`;
  }
  let basicAuth = o.basicAuth;
  // Credentials in the URL become basic auth so they never travel in a logged URL.
  if (!basicAuth && (pushUrl.username || pushUrl.password)) {
    basicAuth = { username: decodeURIComponent(pushUrl.username), password: decodeURIComponent(pushUrl.password) };
  }
  pushUrl.username = '';
  pushUrl.password = '';
  if (basicAuth && o.bearerToken) throw new Error('loki sink: set basicAuth or bearerToken, not both');
  if (o.tenant !== undefined && (o.tenant.length === 0 || o.tenant.length > 150 || !/^[A-Za-z0-9!\-_.*'()]+$/.test(o.tenant))) {
    throw new Error('loki sink: tenant must be 1-150 characters of [A-Za-z0-9!-_.*\'()]');
  }
  const format = o.format ?? LOKI_DEFAULTS.format;
  if (format !== 'protobuf' && format !== 'json') throw new Error(`loki sink: format must be protobuf or json`);
  const minBackoffMs = positive('minBackoffMs', o.minBackoffMs, LOKI_DEFAULTS.minBackoffMs);
  const maxBackoffMs = positive('maxBackoffMs', o.maxBackoffMs, LOKI_DEFAULTS.maxBackoffMs);
  if (maxBackoffMs < minBackoffMs) throw new Error('loki sink: maxBackoffMs < minBackoffMs');
  const batchBytes = positive('batchBytes', o.batchBytes, LOKI_DEFAULTS.batchBytes);
  const memoryQueueBytes = positive('memoryQueueBytes', o.memoryQueueBytes, LOKI_DEFAULTS.memoryQueueBytes);
  let spool: ResolvedLokiOptions['spool'];
  if (o.spool) {
    if (!o.spool.dir) throw new Error('loki sink: spool.dir is required');
    spool = { dir: o.spool.dir, maxBytes: positive('spool.maxBytes', o.spool.maxBytes, 1) };
  }
  return {
    pushUrl,
    tenant: o.tenant,
    basicAuth,
    bearerToken: o.bearerToken,
    tls: o.tls ?? {},
    format,
    batchBytes,
    batchWaitMs: positive('batchWaitMs', o.batchWaitMs, LOKI_DEFAULTS.batchWaitMs),
    maxLineBytes: Math.max(64, positive('maxLineBytes', o.maxLineBytes, LOKI_DEFAULTS.maxLineBytes)),
    memoryQueueBytes,
    spool,
    heldAckBytes: positive('heldAckBytes', o.heldAckBytes, Math.max(4 * 1024 * 1024, memoryQueueBytes / 4)),
    tenantRateBytes: positive('tenantRateBytes', o.tenantRateBytes, LOKI_DEFAULTS.tenantRateBytes),
    tenantBurstBytes: positive('tenantBurstBytes', o.tenantBurstBytes, LOKI_DEFAULTS.tenantBurstBytes),
    streamRateBytes: positive('streamRateBytes', o.streamRateBytes, LOKI_DEFAULTS.streamRateBytes),
    streamBurstBytes: positive('streamBurstBytes', o.streamBurstBytes, LOKI_DEFAULTS.streamBurstBytes),
    minBackoffMs,
    maxBackoffMs,
    maxLabelValues: Math.floor(positive('maxLabelValues', o.maxLabelValues, LOKI_DEFAULTS.maxLabelValues)),
    timeoutMs: positive('timeoutMs', o.timeoutMs, LOKI_DEFAULTS.timeoutMs),
    liveWindowMs: positive('liveWindowMs', o.liveWindowMs, LOKI_DEFAULTS.liveWindowMs),
    outOfOrderWindowMs: positive('outOfOrderWindowMs', o.outOfOrderWindowMs, LOKI_DEFAULTS.outOfOrderWindowMs),
    splitAfter429: Math.floor(positive('splitAfter429', o.splitAfter429, LOKI_DEFAULTS.splitAfter429)),
    name: o.name ?? LOKI_DEFAULTS.name,
  };
}
