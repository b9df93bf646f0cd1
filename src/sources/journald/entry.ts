/**
 * One journal entry as `journalctl --output=json --all` prints it → the parts of a LogRecord.
 *
 * journalctl prints a field as a string when it is valid UTF-8 text, as an array of byte values when it
 * is not (binary, invalid UTF-8, control characters), and as an array of those when the entry holds the
 * field more than once. Pure functions: the source and the tests share them.
 */
import type { Level } from '../../model/log-record.ts';

/** A field value as journalctl's JSON has it. */
export type JournalValue = string | number[] | null | Array<string | number[]>;
export type JournalEntry = Readonly<Record<string, JournalValue | undefined>>;

const isByteArray = (v: readonly unknown[]): v is number[] => v.length === 0 || typeof v[0] === 'number';

/**
 * A field as text: a string as is, a byte array decoded as UTF-8 (invalid sequences become U+FFFD,
 * which the parse stage marks `invalid_utf8`), a repeated field by its first value. Null (a value
 * journalctl did not print) and absent fields are undefined.
 */
export function fieldText(v: JournalValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) return String(v);
  if (isByteArray(v)) return Buffer.from(v).toString('utf8');
  const first = v[0];
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : Buffer.from(first).toString('utf8');
}

/** MESSAGE as the record's line: one trailing newline (some writers end messages with it) removed. */
export function messageOf(e: JournalEntry): string | undefined {
  const m = fieldText(e.MESSAGE);
  if (m === undefined) return undefined;
  if (m.endsWith('\r\n')) return m.slice(0, -2);
  return m.endsWith('\n') ? m.slice(0, -1) : m;
}

/**
 * syslog PRIORITY → level: 0 emerg, 1 alert, 2 crit → fatal; 3 err → error; 4 warning → warn;
 * 5 notice, 6 info → info; 7 debug → debug. Absent or other: unknown (the parse stage looks at the line).
 */
export function levelOf(priority: string | undefined): Level {
  switch (priority) {
    case '0':
    case '1':
    case '2':
      return 'fatal';
    case '3':
      return 'error';
    case '4':
      return 'warn';
    case '5':
    case '6':
      return 'info';
    case '7':
      return 'debug';
    default:
      return 'unknown';
  }
}

/** Syslog priority names journalctl's --priority accepts, in order 0 … 7. */
export const PRIORITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

/** Checks a `priority` option: a name or 0–7, or a range `a..b` of those. Returns the reason when invalid. */
export function checkPriority(p: string): string | null {
  const one = (x: string) => (PRIORITIES as readonly string[]).includes(x) || /^[0-7]$/.test(x);
  const parts = p.split('..');
  if (parts.length > 2 || !parts.every(one)) return `must be one of ${PRIORITIES.join(', ')} or 0–7, or a range like err..emerg`;
  return null;
}

/**
 * The `service` (Loki `service_name`, detector scope) of an entry, kept low-cardinality:
 * - `_SYSTEMD_UNIT` `nginx.service` → `nginx`; a template instance `getty@tty1.service` → `getty`
 *   (instances vary, the template is the service);
 * - other unit types keep their name (`docker.socket`, `backup.timer`), except transient scopes and
 *   slices (`session-42.scope`, `docker-<id>.scope`, `user-1000.slice`), one per login or container:
 *   those fall through to the identifier;
 * - no (usable) unit: `SYSLOG_IDENTIFIER` (the kernel's is `kernel`), else `_COMM`.
 */
export function serviceOf(unit: string | undefined, identifier: string | undefined, comm?: string): string | undefined {
  if (unit) {
    if (unit.endsWith('.service')) {
      const base = unit.slice(0, -'.service'.length);
      const at = base.indexOf('@');
      const name = at > 0 ? base.slice(0, at) : base;
      if (name) return name;
    } else if (!unit.endsWith('.scope') && !unit.endsWith('.slice')) return unit;
  }
  return identifier || comm || undefined;
}

/** `__REALTIME_TIMESTAMP` (microseconds since the epoch, a decimal string) → RFC3339Nano and epoch ms. */
export function timestampOf(realtimeUs: string | undefined): { ts: string; ms: number } | null {
  if (!realtimeUs || !/^\d{1,19}$/.test(realtimeUs)) return null;
  const us = BigInt(realtimeUs);
  const ms = Number(us / 1000n);
  const subUs = Number(us % 1000n);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return null;
  return { ts: `${d.toISOString().slice(0, 23)}${String(subUs).padStart(3, '0')}000Z`, ms };
}

/** Cuts `line` to at most `maxBytes` UTF-8 bytes (not inside a character). */
export function capLine(line: string, maxBytes: number): { line: string; truncated: boolean } {
  if (line.length <= maxBytes / 3) return { line, truncated: false };
  const buf = Buffer.from(line, 'utf8');
  if (buf.length <= maxBytes) return { line, truncated: false };
  let end = maxBytes;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // back to a character boundary
  return { line: buf.subarray(0, end).toString('utf8'), truncated: true };
}
