/**
 * RFC3339Nano → (seconds, nanos) without going through a float: a double cannot hold epoch
 * nanoseconds, and Loki deduplicates on the exact timestamp, so a retry or a replay must produce
 * the very same nanoseconds as the first push.
 */
export interface LokiTime {
  /** Whole seconds since the epoch (may be negative before 1970). */
  sec: number;
  /** 0 … 999 999 999 */
  nanos: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/** Parses an RFC3339 / RFC3339Nano timestamp; null when the string is not one. */
export function parseRfc3339Nano(ts: string): LokiTime | null {
  const m = RFC3339.exec(ts);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (!Number.isFinite(ms)) return null;
  let sec = ms / 1000;
  if (!z && sign) {
    const off = Number(oh) * 3600 + Number(om) * 60;
    sec += sign === '+' ? -off : off;
  }
  const nanos = frac ? Number(frac.padEnd(9, '0')) : 0;
  return { sec, nanos };
}

/** Falls back to the millisecond value when the string is missing or malformed. */
export function recordTime(ts: string, tsMs: number): LokiTime {
  const t = parseRfc3339Nano(ts);
  if (t) return t;
  const ms = Number.isFinite(tsMs) ? Math.trunc(tsMs) : Date.now();
  const sec = Math.floor(ms / 1000);
  return { sec, nanos: (ms - sec * 1000) * 1_000_000 };
}

/** Unix epoch nanoseconds as a decimal string (the JSON push format requires a string). */
export function toNanoString(t: LokiTime): string {
  return (BigInt(t.sec) * 1_000_000_000n + BigInt(t.nanos)).toString();
}

export function compareTime(a: LokiTime, b: LokiTime): number {
  return a.sec - b.sec || a.nanos - b.nanos;
}
