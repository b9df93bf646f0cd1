import type { LogRecord } from '../../model/log-record.ts';
import { metrics } from '../../metrics.ts';
import { formatLabels, type LabelBuilder, type Pair } from './labels.ts';
import { recordTime, type LokiTime } from './timestamp.ts';

/** One line as Loki will receive it. */
export interface Entry {
  /** LogQL selector string of the stream's labels: the stream key. */
  readonly stream: string;
  readonly time: LokiTime;
  readonly line: string;
  readonly metadata: readonly Pair[];
  /** UTF-8 bytes of line + structured metadata: what Loki's rate limiters count. */
  readonly bytes: number;
}


export const TRUNCATION_MARKER = ' …[truncated by robot-sre-detector]';
const MARKER_BYTES = Buffer.byteLength(TRUNCATION_MARKER);

/** Cuts a line to at most maxBytes UTF-8 bytes (marker included), never inside a code point. */
export function truncateLine(line: string, maxBytes: number): { line: string; truncated: boolean } {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short lines skip the byte count.
  if (line.length * 3 <= maxBytes) return { line, truncated: false };
  const buf = Buffer.from(line, 'utf8');
  if (buf.length <= maxBytes) return { line, truncated: false };
  let end = Math.max(0, maxBytes - MARKER_BYTES);
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return { line: buf.toString('utf8', 0, end) + TRUNCATION_MARKER, truncated: true };
}

/** Selector strings by label content: formatting (sort + quote) per line would cost more than the push. */
const selectorCache = new Map<string, string>();

function selectorOf(labels: readonly Pair[]): string {
  let key = '';
  for (const [n, v] of labels) key += `${n}\u0000${v}\u0001`;
  let sel = selectorCache.get(key);
  if (sel === undefined) {
    if (selectorCache.size >= 10_000) selectorCache.clear();
    sel = formatLabels(labels);
    selectorCache.set(key, sel);
  }
  return sel;
}

function pairsBytes(pairs: readonly Pair[]): number {
  let n = 0;
  for (const [k, v] of pairs) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

export function toEntry(r: LogRecord, labels: LabelBuilder, maxLineBytes: number): Entry {
  const built = labels.build(r);
  const t = truncateLine(r.line, maxLineBytes);
  if (t.truncated) metrics.lokiTruncatedLines.inc();
  const metadata = t.truncated ? [...built.metadata, ['truncated', 'true'] as const] : built.metadata;
  return {
    stream: selectorOf(built.labels),
    time: recordTime(r.ts, r.tsMs),
    line: t.line,
    metadata,
    bytes: Buffer.byteLength(t.line) + pairsBytes(metadata),
  };
}
