/**
 * What to do with a push response. Fragments come from Loki v3 validate.go / distributor.go
 * (tech brief §1.4); matching is by substring because Loki groups several errors in one body.
 */
import { jitteredDelay } from '../../delivery/backoff.ts';
export type Outcome =
  | { kind: 'delivered' }
  /**
   * Some or all entries were refused for good (400): never retried; the accepted ones are in.
   * `reason`/`count` name the most frequent refusal; `reasons` has every one Loki listed.
   */
  | { kind: 'rejected'; reason: string; count: number; reasons: Array<{ reason: string; count: number }> }
  /** The request itself is refused (auth, path, size): nothing was ingested, retrying will not help. */
  | { kind: 'failed'; reason: string }
  | { kind: 'retry'; reason: string; retryAfterMs: number | undefined };

const REJECT_REASONS: ReadonlyArray<readonly [string, string]> = [
  ['max entry size', 'line_too_long'],
  ['timestamp too old', 'greater_than_max_sample_age'],
  ['timestamp too new', 'too_far_in_future'],
  ['entry too far behind', 'too_far_behind'],
  ['entry out of order', 'out_of_order'],
  ['label names; limit', 'max_label_names_per_series'],
  ['label value too long', 'label_value_too_long'],
  ['label name too long', 'label_name_too_long'],
  ['at least one label pair is required', 'missing_labels'],
  ['error parsing labels', 'invalid_labels'],
  ['structured metadata', 'structured_metadata'],
];

function countOf(body: string, fragment: string): number {
  let n = 0;
  let i = body.indexOf(fragment);
  while (i >= 0) {
    n++;
    i = body.indexOf(fragment, i + fragment.length);
  }
  return n;
}

/**
 * The streams a Loki error body names (`entry for stream '{…}'`, `for stream: {…}`, `error parsing
 * labels '{…}'`), at most `max`, so the log says which workload's lines were refused.
 */
export function streamsOf(body: string, max = 5): string[] {
  const out = new Set<string>();
  const re = /(?:for stream[: ]\s*'?|error parsing labels ')(\{[^}]*\})/g;
  for (let m = re.exec(body); m && out.size < max; m = re.exec(body)) out.add(m[1]!);
  return [...out];
}

/** Parses Retry-After (delay-seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export function classify(status: number, body: string, retryAfter: string | undefined): Outcome {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 429) {
    const b = body.toLowerCase();
    const reason = b.includes('per stream rate limit') ? 'per_stream_rate_limit' : b.includes('stream limit') || b.includes('streams limit') ? 'stream_limit' : 'rate_limited';
    return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(retryAfter) };
  }
  if (status >= 500) return { kind: 'retry', reason: `http_${status}`, retryAfterMs: parseRetryAfter(retryAfter) };
  if (status === 400) {
    // One body may list several kinds of refusal (too old, too new, out of order): count each.
    const reasons: Array<{ reason: string; count: number }> = [];
    for (const [fragment, reason] of REJECT_REASONS) {
      const count = countOf(body, fragment);
      if (count > 0) reasons.push({ reason, count });
    }
    if (reasons.length === 0) reasons.push({ reason: 'bad_request', count: 1 });
    const top = reasons.reduce((a, b) => (b.count > a.count ? b : a));
    return { kind: 'rejected', reason: top.reason, count: top.count, reasons };
  }
  if (status === 413) return { kind: 'failed', reason: 'request_too_large' };
  if (status === 401 || status === 403) return { kind: 'failed', reason: 'unauthorized' };
  if (status === 408) return { kind: 'retry', reason: 'http_408', retryAfterMs: parseRetryAfter(retryAfter) };
  return { kind: 'failed', reason: `http_${status}` };
}

/** A chunk's retry delay (src/delivery/backoff.ts) in [min, cap]: attempt 0 → min, the cap doubling to maxMs. */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  return jitteredDelay(attempt, { baseMs: minMs, maxMs, floorMs: minMs, random });
}
