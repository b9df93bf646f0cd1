import { LRUCache } from 'lru-cache';
import type { LogRecord } from '../../model/log-record.ts';
import { lokiEvents } from '../../internal-events/loki.ts';

/** A name/value pair, used for both stream labels and structured metadata. */
export type Pair = readonly [name: string, value: string];


const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Loki's default max_label_value_length is 2048; structured metadata values are kept shorter still. */
const MAX_LABEL_VALUE = 1024;
const MAX_METADATA_VALUE = 1024;

export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}

/** Escapes a value for the LogQL selector string Loki parses from StreamAdapter.labels. */
export function quoteLabelValue(v: string): string {
  let out = '"';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += v[i];
  }
  return `${out}"`;
}

/** `{a="1",b="2"}` with names sorted, so the same set always gives the same stream key. */
export function formatLabels(labels: readonly Pair[]): string {
  const sorted = [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${sorted.map(([n, v]) => `${n}=${quoteLabelValue(v)}`).join(',')}}`;
}

const TRACE_KEYS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['trace_id', ['trace_id', 'traceId', 'traceID', 'trace.id']],
  ['span_id', ['span_id', 'spanId', 'spanID', 'span.id']],
  ['request_id', ['request_id', 'requestId', 'requestID', 'req_id', 'x_request_id']],
];

function clip(v: string, max: number): string {
  return v.length > max ? v.slice(0, max) : v;
}

/** Labels whose values come from a closed set we control; never demoted. */
const UNGUARDED = new Set(['cluster', 'source']);

/**
 * Builds the stream labels and structured metadata of a record, and keeps label cardinality
 * bounded: each guarded label name remembers at most `maxValues` distinct values (LRU with a TTL,
 * so values of long-gone pods age out); a value beyond the cap is demoted to structured metadata.
 */
export class LabelBuilder {
  private readonly maxValues: number;
  private readonly ttlMs: number;
  private readonly seen = new Map<string, LRUCache<string, true>>();
  private lastPurge = 0;

  constructor(maxValues: number, ttlMs = 3_600_000) {
    this.maxValues = maxValues;
    this.ttlMs = ttlMs;
  }

  build(r: LogRecord): { labels: Pair[]; metadata: Pair[] } {
    const t = r.target;
    const labels: Pair[] = [];
    const metadata: Pair[] = [];
    const add = (name: string, value: string | undefined): void => {
      if (!value) return; // Loki treats an empty value as an absent label.
      if (UNGUARDED.has(name)) {
        labels.push([name, clip(value, MAX_LABEL_VALUE)]);
        return;
      }
      const reason = value.length > MAX_LABEL_VALUE ? 'too_long' : this.admit(name, value) ? null : 'cardinality';
      if (reason) {
        lokiEvents.labelDemoted({ label: name, reason }, 1, { maxValues: this.maxValues });
        metadata.push([name, clip(value, MAX_METADATA_VALUE)]);
      } else {
        labels.push([name, value]);
      }
    };
    add('cluster', t.cluster);
    add('namespace', t.namespace);
    add('app', t.app ?? t.workload);
    add('component', t.component);
    add('service_name', t.service);
    add('container', t.container);
    add('source', r.kind);

    const meta = (name: string, value: string | undefined): void => {
      if (value) metadata.push([name, clip(value, MAX_METADATA_VALUE)]);
    };
    meta('pod', t.pod);
    meta('node', t.node);
    // The file a line came from (file source): metadata, never a label (one stream per file would not scale).
    meta('filename', t.file);
    if (r.level !== 'unknown') meta('level', r.level);
    if (r.stream !== 'unknown') meta('stream', r.stream);
    const f = r.fields;
    if (f) {
      for (const [name, keys] of TRACE_KEYS) {
        for (const k of keys) {
          const v = f[k];
          if (v) {
            meta(name, v);
            break;
          }
        }
      }
    }
    return { labels, metadata };
  }

  private admit(name: string, value: string): boolean {
    let values = this.seen.get(name);
    if (!values) {
      values = new LRUCache<string, true>({ max: this.maxValues + 1, ttl: this.ttlMs, updateAgeOnHas: true });
      this.seen.set(name, values);
    }
    if (values.has(value)) return true;
    if (values.size >= this.maxValues) {
      // Stale values free their slots lazily; purging is O(cap), so do it at most every 10 s.
      const now = Date.now();
      if (now - this.lastPurge > 10_000) {
        this.lastPurge = now;
        for (const v of this.seen.values()) v.purgeStale();
      }
      if (values.size >= this.maxValues) return false;
    }
    values.set(value, true);
    return true;
  }
}
