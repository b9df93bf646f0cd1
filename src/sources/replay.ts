import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { LRUCache } from 'lru-cache';
import { Observable } from 'rxjs';
import type { LogRecord, Target } from '../model/log-record.ts';
import { formatEventLine } from '../model/event-line.ts';
import { metrics } from '../metrics.ts';
import { parseRfc3339 } from '../parse/timestamp.ts';
import type { Source } from './types.ts';

export interface ReplayOptions {
  /** Files to read; "-" is standard input. */
  files: string[];
  cluster?: string;
  /** Defaults for plain-text lines. */
  namespace?: string;
  batchSize?: number;
  /** Event time of plain lines that carry no timestamp of their own (default 2024-01-01T00:00:00Z). */
  startTime?: string;
  stdin?: NodeJS.ReadableStream;
}

const LEADING_TS = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))\s/;
const CRI = /^(\S+) (stdout|stderr) ([PF])(?::\S*)? (.*)$/s;

type Json = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

/**
 * Replays plain text, CRI-format lines, or NDJSON records (log lines and Kubernetes events) as
 * LogRecords in file order. Timestamps come from the input, so the same file always produces the
 * same event-time stream — and the same findings.
 */
export class ReplaySource implements Source {
  readonly name = 'replay';
  readonly records$: Observable<LogRecord[]>;
  private readonly cluster: string;
  private readonly namespace: string;
  private lastMs: number;
  private synthetic = 0;
  readonly stats = { lines: 0, bytes: 0, malformed: 0, events: 0 };

  private readonly opts: ReplayOptions;
  /**
   * One Target object per distinct label set, as the Kubernetes source has one per container:
   * detectors cache keys per target object (bounded: a file with more label sets makes new ones).
   */
  private readonly targets = new LRUCache<string, Target>({ max: 10_000 });

  private intern(t: Target): Target {
    const key = `${t.cluster}\u0000${t.namespace}\u0000${t.pod ?? ''}\u0000${t.container ?? ''}\u0000${t.node ?? ''}\u0000${t.workload ?? ''}\u0000${t.app ?? ''}\u0000${t.component ?? ''}\u0000${t.service ?? ''}`;
    const known = this.targets.get(key);
    if (known) return known;
    this.targets.set(key, t);
    return t;
  }

  constructor(opts: ReplayOptions) {
    this.opts = opts;
    this.cluster = opts.cluster ?? 'replay';
    this.namespace = opts.namespace ?? 'default';
    this.lastMs = parseRfc3339(opts.startTime ?? '2024-01-01T00:00:00Z')?.ms ?? 0;
    this.records$ = new Observable<LogRecord[]>((sub) => {
      let stopped = false;
      const run = async () => {
        const size = opts.batchSize ?? 1000;
        let batch: LogRecord[] = [];
        for (const file of opts.files) {
          const input = file === '-' ? (opts.stdin ?? process.stdin) : createReadStream(file);
          const service = file === '-' ? 'stdin' : basename(file).replace(/\.(ndjson|jsonl|log|txt)$/, '');
          const rl = createInterface({ input, crlfDelay: Infinity });
          for await (const raw of rl) {
            if (stopped) return;
            if (raw.length === 0) continue;
            batch.push(this.toRecord(raw, service));
            if (batch.length >= size) {
              sub.next(batch);
              batch = [];
            }
          }
        }
        if (batch.length) sub.next(batch);
        sub.complete();
      };
      run().catch((err: unknown) => sub.error(err));
      return () => {
        stopped = true;
      };
    });
  }

  private toRecord(raw: string, service: string): LogRecord {
    this.stats.lines++;
    this.stats.bytes += raw.length;
    metrics.linesIn.inc({ source: 'replay' });
    if (raw.charCodeAt(0) === 123 /* { */) {
      let obj: unknown;
      try {
        obj = JSON.parse(raw);
      } catch {
        obj = undefined;
      }
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const o = obj as Json;
        if (o.kind === 'event' || (o.involvedObject && o.reason)) return this.eventRecord(o);
        if (typeof o.line === 'string') return this.ndjsonLog(o);
      }
    }
    return this.plainRecord(raw, service);
  }

  private time(ts: string | undefined): { ts: string; ms: number } {
    const p = ts ? parseRfc3339(ts) : null;
    if (p && ts) {
      this.lastMs = p.ms;
      return { ts, ms: p.ms };
    }
    // No timestamp: 1 ms after the previous record keeps order and determinism.
    const ms = this.lastMs + ++this.synthetic;
    return { ts: new Date(ms).toISOString(), ms };
  }

  private plainRecord(raw: string, service: string): LogRecord {
    let line = raw;
    let tsStr: string | undefined;
    let stream: LogRecord['stream'] = 'unknown';
    const cri = CRI.exec(raw);
    if (cri && parseRfc3339(cri[1]!)) {
      tsStr = cri[1]!;
      stream = cri[2] as 'stdout' | 'stderr';
      line = cri[4]!;
    } else {
      const m = LEADING_TS.exec(raw);
      if (m) tsStr = m[1]!.replace(' ', 'T');
    }
    const t = this.time(tsStr);
    return {
      ts: t.ts,
      tsMs: t.ms,
      line,
      stream,
      kind: 'replay',
      level: 'unknown',
      target: this.intern({ cluster: this.cluster, namespace: this.namespace, service, container: service }),
    };
  }

  private ndjsonLog(o: Json): LogRecord {
    const labels = (o.labels && typeof o.labels === 'object' ? o.labels : {}) as Json;
    const t = this.time(str(o.ts) ?? str(o.time) ?? str(o.timestamp));
    const target: Target = { cluster: str(labels.cluster) ?? this.cluster, namespace: str(labels.namespace) ?? this.namespace };
    for (const k of ['pod', 'container', 'node', 'workload', 'app', 'component', 'service'] as const) {
      const v = str(labels[k]);
      if (v !== undefined) target[k] = v;
    }
    const stream = o.stream === 'stdout' || o.stream === 'stderr' ? o.stream : 'unknown';
    return { ts: t.ts, tsMs: t.ms, line: o.line as string, stream, kind: 'replay', level: 'unknown', target: this.intern(target) };
  }

  private eventRecord(o: Json): LogRecord {
    this.stats.events++;
    const inv = (o.involvedObject && typeof o.involvedObject === 'object' ? o.involvedObject : {}) as Json;
    const source = (o.source && typeof o.source === 'object' ? o.source : {}) as Json;
    const t = this.time(str(o.ts) ?? str(o.lastTimestamp) ?? str(o.eventTime) ?? str(o.firstTimestamp));
    const kind = str(inv.kind) ?? 'Pod';
    const name = str(inv.name) ?? 'unknown';
    const namespace = str(inv.namespace) ?? str(o.namespace) ?? 'default';
    const count = typeof o.count === 'number' && o.count > 0 ? o.count : 1;
    const message = str(o.message) ?? str(o.note) ?? '';
    const node = str(o.node) ?? str(source.host) ?? (kind === 'Node' ? name : undefined);
    const target: Target = { cluster: this.cluster, namespace };
    if (kind === 'Pod') target.pod = name;
    if (node) target.node = node;
    const workload = str(o.workload);
    if (workload) target.workload = workload;
    const event = {
      uid: str((o.metadata as Json | undefined)?.uid) ?? str(o.uid) ?? `${namespace}/${name}/${str(o.reason)}`,
      type: str(o.type) ?? 'Normal',
      reason: str(o.reason) ?? '',
      count,
      involvedObject: { kind, name, namespace },
      ...(str(source.component) ? { reportingComponent: str(source.component)! } : {}),
    };
    return { ts: t.ts, tsMs: t.ms, line: formatEventLine(event, message), message, stream: 'unknown', kind: 'event', level: 'unknown', target: this.intern(target), event };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  unready(): string | null {
    return null;
  }
}
