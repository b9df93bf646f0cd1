import type { LogRecord } from '../model/log-record.ts';
import { metrics } from '../metrics.ts';
import { detectLevel } from './level.ts';
import { parseStructured } from './structured.ts';

/** Lines longer than this are parsed and matched on their head only: bounded cost per line. */
export const MAX_PARSE_BYTES = 64 * 1024;

// I1120 09:15:00.000000       1 ldap.go:142] message
const KLOG_HEADER = /^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\s\]]+:\d+\] /;

/**
 * The parse stage: structured fields, level, message. Never throws and never drops a record:
 * a line that cannot be parsed cleanly is marked `malformed`, counted, and passed through as is.
 */
export function parseRecord(r: LogRecord): LogRecord {
  if (r.kind === 'event' || r.kind === 'pod_status') {
    if (r.level === 'unknown') r.level = r.event?.type === 'Warning' || r.kind === 'pod_status' ? 'warn' : 'info';
    return r;
  }
  let line = r.line;
  if (line.length > MAX_PARSE_BYTES) {
    line = line.slice(0, MAX_PARSE_BYTES);
    markMalformed(r, 'oversized');
  }
  if (line.includes('\uFFFD')) markMalformed(r, 'invalid_utf8');
  const parsed = parseStructured(line);
  if (parsed) {
    if ('error' in parsed) markMalformed(r, parsed.error);
    else {
      r.fields = parsed.fields;
      if (parsed.message !== undefined) r.message = parsed.message;
    }
  }
  if (r.level === 'unknown') r.level = detectLevel(line, r.fields);
  const c0 = line.charCodeAt(0);
  if (r.message === undefined && (c0 === 73 || c0 === 87 || c0 === 69 || c0 === 70) /* I W E F */) {
    // klog and similar headers vary per line; the template miner should see the message after them.
    const k = KLOG_HEADER.exec(line);
    if (k) r.message = line.slice(k[0].length);
  }
  return r;
}

function markMalformed(r: LogRecord, reason: string): void {
  if (r.malformed === undefined) r.malformed = reason;
  metrics.malformed.inc({ reason });
}
