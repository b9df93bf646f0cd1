/**
 * Timestamps of the pod log API (`timestamps=true`): the kubelet prefixes each logical line with
 * `2006-01-02T15:04:05.000000000Z07:00` — a fixed 9-digit fraction, `Z` for containerd, a numeric
 * offset for CRI-O — then one space.
 *
 * Cursors compare timestamps as "keys": the UTC instant rendered with a fixed 9-digit fraction, which
 * sorts lexicographically. The original string stays on the record (Loki gets it verbatim).
 */

export interface ParsedTs {
  /** The timestamp as written by the server. */
  raw: string;
  /** UTC, fixed 9 digits, `Z`: sortable as a string. */
  key: string;
  /** Epoch milliseconds. */
  ms: number;
}

const FIXED_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;
const GENERAL = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

export function parseTs(raw: string): ParsedTs | null {
  if (raw.length === 30 && FIXED_UTC.test(raw)) {
    const ms = Date.parse(raw.slice(0, 19) + 'Z');
    if (Number.isNaN(ms)) return null;
    return { raw, key: raw, ms: ms + Number(raw.slice(20, 23)) };
  }
  const m = GENERAL.exec(raw);
  if (!m?.[1] || !m[3]) return null;
  const secMs = Date.parse(m[1] + m[3]);
  if (Number.isNaN(secMs)) return null;
  const frac = (m[2] ?? '').padEnd(9, '0');
  const key = new Date(secMs).toISOString().slice(0, 19) + '.' + frac + 'Z';
  return { raw, key, ms: secMs + Number(frac.slice(0, 3)) };
}

/** Splits `<ts> <message>`; null when the line carries no parseable timestamp. */
export function splitTimestamp(line: string): { ts: ParsedTs; message: string } | null {
  const sp = line.indexOf(' ');
  const tsText = sp < 0 ? line : line.slice(0, sp);
  if (tsText.length < 20 || tsText.length > 40) return null;
  const ts = parseTs(tsText);
  if (!ts) return null;
  return { ts, message: sp < 0 ? '' : line.slice(sp + 1) };
}

/** `sinceTime` has whole-second precision: ask from the start of the key's second. */
export function floorToSecond(key: string): string {
  return key.slice(0, 19) + 'Z';
}

/** A key for an epoch-ms instant. */
export function keyFromMs(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23) + '000000Z';
}

/** A key for any RFC3339 time (second or fractional precision), or null. */
export function keyFromRfc3339(s: string | undefined | null): string | null {
  if (!s) return null;
  return parseTs(s)?.key ?? null;
}
