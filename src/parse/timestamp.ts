/**
 * RFC3339(Nano) timestamps. Loki needs the exact nanoseconds, windows need milliseconds;
 * Date.parse drops precision past milliseconds and is slow on 9-digit fractions, so parse by hand.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})$/;

export interface ParsedTimestamp {
  /** Epoch milliseconds (floor). */
  ms: number;
  /** Nanoseconds within the millisecond (0..999999). */
  subMsNanos: number;
}

export function parseRfc3339(ts: string): ParsedTimestamp | null {
  const m = RFC3339.exec(ts);
  if (!m) return null;
  let ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (Number.isNaN(ms)) return null;
  const frac = (m[7] ?? '').padEnd(9, '0');
  const nanos = frac.length ? +frac : 0;
  ms += Math.floor(nanos / 1e6);
  const tz = m[8]!;
  if (tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    ms -= sign * (+digits.slice(0, 2) * 60 + +digits.slice(2, 4)) * 60_000;
  }
  return { ms, subMsNanos: nanos % 1e6 };
}

/** Epoch ms → RFC3339Nano in UTC with millisecond precision (what Date gives). */
export function msToRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** Nanosecond epoch as a decimal string (Loki JSON push wants a string). */
export function rfc3339ToNanosString(ts: string): string | null {
  const p = parseRfc3339(ts);
  if (!p) return null;
  return (BigInt(p.ms) * 1_000_000n + BigInt(p.subMsNanos)).toString();
}

/** Parse a duration like "90s", "5m", "1h30m", "250ms", or a number of milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration ${value}`);
    return value;
  }
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  let total = 0;
  let consumed = 0;
  for (const m of value.trim().matchAll(re)) {
    const n = parseFloat(m[1]!);
    const unit = m[2]!;
    total += n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000);
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== value.trim().length) throw new Error(`invalid duration "${value}" (use e.g. 30s, 5m, 1h)`);
  return total;
}
