/**
 * JSON and logfmt field extraction. Only string-able top-level values are kept, with a cap on
 * field count and value length, so a hostile line cannot blow up memory.
 */

const MAX_FIELDS = 32;
const MAX_VALUE = 1024;

export type ParseOutcome =
  | { fields: Record<string, string>; message?: string }
  | { error: 'broken_json' }
  | null;

const MESSAGE_KEYS = ['msg', 'message', 'log', 'MESSAGE', 'Message', 'error', 'err'];

function toStr(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v.length > MAX_VALUE ? v.slice(0, MAX_VALUE) : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** The human message, with the error attached when it is a separate field ("publish failed: nats: timeout"). */
function withMessage(fields: Record<string, string>): { fields: Record<string, string>; message?: string } {
  let message: string | undefined;
  for (const k of MESSAGE_KEYS) {
    if (fields[k] !== undefined) {
      message = fields[k];
      break;
    }
  }
  if (message === undefined) return { fields };
  const err = fields.err ?? fields.error;
  if (err !== undefined && err !== message && !message.includes(err)) message = `${message}: ${err}`;
  return { fields, message };
}

export function parseJsonLine(line: string): ParseOutcome {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return { error: 'broken_json' };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return null;
  const fields: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (n >= MAX_FIELDS) break;
    const s = toStr(v);
    if (s !== undefined) {
      fields[k] = s;
      n++;
    } else if (v && typeof v === 'object' && (k === 'error' || k === 'err')) {
      // Nested error objects (pino's err) carry the message an operator needs.
      const msg = toStr((v as Record<string, unknown>).message);
      if (msg !== undefined) fields[k] = msg;
    }
  }
  return withMessage(fields);
}

// key=value, key="quoted value", key= (empty). Keys: letters, digits, _ . - /
const LOGFMT_PAIR = /([A-Za-z_][A-Za-z0-9_.\-/]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)/g;

/** Parse a logfmt line. Returns null unless the line looks like logfmt (≥ 2 pairs, starts with a pair). */
export function parseLogfmtLine(line: string): ParseOutcome {
  const head = line.length > 4096 ? line.slice(0, 4096) : line;
  if (!/^[A-Za-z_][A-Za-z0-9_.\-/]*=/.test(head)) return null;
  const fields: Record<string, string> = {};
  let n = 0;
  LOGFMT_PAIR.lastIndex = 0;
  for (const m of head.matchAll(LOGFMT_PAIR)) {
    if (n >= MAX_FIELDS) break;
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    fields[m[1]!] = v.length > MAX_VALUE ? v.slice(0, MAX_VALUE) : v;
    n++;
  }
  if (n < 2) return null;
  return withMessage(fields);
}

/** Pick the parser by the first character: cheap for the common unstructured case. */
export function parseStructured(line: string): ParseOutcome {
  const c = line.charCodeAt(0);
  if (c === 123 /* { */) {
    // Only lines that also end like an object are JSON candidates; others are plain text with a brace.
    const last = line.charCodeAt(line.length - 1);
    if (last === 125 /* } */ || line.trimEnd().endsWith('}')) return parseJsonLine(line);
    return line.length > 1 && line[1] === '"' ? { error: 'broken_json' } : null;
  }
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95) {
    // logfmt lines start with key=; test the first 40 chars before running the full parser.
    const eq = line.indexOf('=');
    if (eq > 0 && eq < 40 && line.indexOf(' ') > eq) return parseLogfmtLine(line);
  }
  return null;
}
