import { readdirSync } from 'node:fs';

/**
 * A small Prometheus client: counters, gauges and histograms with labels, exposed in the text
 * format (version 0.0.4) that Prometheus, Grafana Alloy and every scraper read.
 *
 * Why not prom-client: importing it (with its default metrics, push gateway, t-digest, OpenTelemetry
 * hooks) costs ~19 MiB of resident memory measured on Node 24, more than this detector's whole
 * detection state on a small cluster. The API is the subset of prom-client's the detector uses, so
 * call sites read the same: `new Counter({ name, help, labelNames, registers })`, `inc(labels?, n?)`,
 * `set`, `observe`, `startTimer`, async `get()` and `registry.metrics()`.
 */

export type Labels = Record<string, string | number>;

export interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: MetricValue[];
}

interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registers?: Registry[];
  /** Called before each read (scrape or `get()`), to set gauges from the process state. */
  collect?: () => void;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: MetricSnapshot['type'];
  private readonly collectFn: (() => void) | undefined;

  constructor(o: MetricOptions) {
    if (!NAME_RE.test(o.name)) throw new Error(`invalid metric name: ${o.name}`);
    for (const l of o.labelNames ?? []) if (!LABEL_RE.test(l) || l === 'le') throw new Error(`invalid label name ${l} on ${o.name}`);
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames ?? [];
    this.collectFn = o.collect;
    for (const r of o.registers ?? [defaultRegistry]) r.register(this);
  }

  /** The key of a label set: values in labelNames order (unknown label names are an error, as in prom-client). */
  protected keyOf(labels: Labels | undefined): string {
    if (this.labelNames.length === 0) {
      if (labels && Object.keys(labels).length) throw new Error(`${this.name} has no labels, got ${Object.keys(labels).join(',')}`);
      return '';
    }
    if (labels) for (const k in labels) if (!this.labelNames.includes(k)) throw new Error(`${this.name}: unknown label ${k}`);
    let key = '';
    for (let i = 0; i < this.labelNames.length; i++) {
      const v = labels?.[this.labelNames[i]!];
      key += (i ? '\u0000' : '') + (v === undefined ? '' : String(v));
    }
    return key;
  }

  protected labelsOf(key: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.labelNames.length === 0) return out;
    const vals = key.split('\u0000');
    this.labelNames.forEach((n, i) => {
      if (vals[i] !== '') out[n] = vals[i]!;
    });
    return out;
  }

  protected collect(): void {
    this.collectFn?.();
  }

  abstract get(): Promise<MetricSnapshot>;
  abstract reset(): void;

  /** The metric in the text exposition format. */
  async text(): Promise<string> {
    const snap = await this.get();
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const v of snap.values) out += `${v.metricName ?? this.name}${formatLabels(v.labels)} ${formatValue(v.value)}\n`;
    return out;
  }
}

/** Split inc/set arguments: `(labels, n)`, `(n)` or `()`. */
function args(a?: Labels | number, b?: number): [Labels | undefined, number | undefined] {
  return typeof a === 'number' ? [undefined, a] : [a, b];
}

abstract class ScalarMetric extends Metric {
  protected readonly values = new Map<string, number>();

  constructor(o: MetricOptions) {
    super(o);
    // A metric without labels shows 0 from the start, as in prom-client.
    if (this.labelNames.length === 0) this.values.set('', 0);
  }

  async get(): Promise<MetricSnapshot> {
    this.collect();
    const values = [...this.values].map(([k, value]) => ({ labels: this.labelsOf(k), value }));
    return { name: this.name, help: this.help, type: this.type, values };
  }

  reset(): void {
    this.values.clear();
    if (this.labelNames.length === 0) this.values.set('', 0);
  }
}

export class Counter<_L extends string = string> extends ScalarMetric {
  readonly type = 'counter';
  inc(labels?: Labels | number, n?: number): void {
    const [l, v = 1] = args(labels, n);
    if (!(v >= 0)) throw new Error(`${this.name}: a counter only goes up (got ${v})`);
    const k = this.keyOf(l);
    this.values.set(k, (this.values.get(k) ?? 0) + v);
  }
}

export class Gauge<_L extends string = string> extends ScalarMetric {
  readonly type = 'gauge';
  set(labels: Labels | number, n?: number): void {
    const [l, v] = args(labels, n);
    this.values.set(this.keyOf(l), v ?? 0);
  }
  inc(labels?: Labels | number, n?: number): void {
    const [l, v = 1] = args(labels, n);
    const k = this.keyOf(l);
    this.values.set(k, (this.values.get(k) ?? 0) + v);
  }
  dec(labels?: Labels | number, n?: number): void {
    const [l, v = 1] = args(labels, n);
    this.inc(l, -v);
  }
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<_L extends string = string> extends Metric {
  readonly type = 'histogram';
  private readonly buckets: number[];
  private readonly series = new Map<string, Series>();

  constructor(o: MetricOptions & { buckets?: number[] }) {
    super(o);
    this.buckets = [...(o.buckets ?? DEFAULT_BUCKETS)].sort((a, b) => a - b);
  }

  observe(labels: Labels | number, n?: number): void {
    const [l, v] = args(labels, n);
    if (v === undefined || Number.isNaN(v)) return;
    const k = this.keyOf(l);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    // Per-bucket (not cumulative) counts here; `get()` makes them cumulative.
    let i = 0;
    while (i < this.buckets.length && v > this.buckets[i]!) i++;
    if (i < this.buckets.length) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  /** Starts a timer; calling the result observes the elapsed seconds and returns them. */
  startTimer(labels?: Labels): (more?: Labels) => number {
    const t0 = performance.now();
    return (more) => {
      const s = (performance.now() - t0) / 1000;
      this.observe({ ...labels, ...more }, s);
      return s;
    };
  }

  async get(): Promise<MetricSnapshot> {
    this.collect();
    const values: MetricValue[] = [];
    for (const [k, s] of this.series) {
      const labels = this.labelsOf(k);
      let acc = 0;
      this.buckets.forEach((b, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { ...labels, le: b }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values };
  }

  reset(): void {
    this.series.clear();
  }
}

export class Registry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly byName = new Map<string, Metric>();

  register(m: Metric): void {
    if (this.byName.has(m.name)) throw new Error(`A metric with the name ${m.name} has already been registered.`);
    this.byName.set(m.name, m);
  }

  getSingleMetric(name: string): Metric | undefined {
    return this.byName.get(name);
  }

  async getMetricsAsJSON(): Promise<MetricSnapshot[]> {
    return Promise.all([...this.byName.values()].map((m) => m.get()));
  }

  /** Every metric in the text exposition format. */
  async metrics(): Promise<string> {
    const parts = await Promise.all([...this.byName.values()].map((m) => m.text()));
    return parts.join('\n');
  }

  resetMetrics(): void {
    for (const m of this.byName.values()) m.reset();
  }
}

const defaultRegistry = new Registry();

/**
 * The process metrics Prometheus users expect (names as the official clients write them), read at
 * scrape time: CPU, resident memory, open file descriptors, start time, V8 heap.
 */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  const reg = { registers: [registry] };
  // Counters set from the OS at read time: reset, then add the current total.
  const cpu = (name: string, help: string, read: (u: NodeJS.CpuUsage) => number): void => {
    const c: Counter = new Counter({
      name: `${prefix}${name}`,
      help,
      ...reg,
      collect: () => {
        c.reset();
        c.inc(read(process.cpuUsage()) / 1e6);
      },
    });
  };
  cpu('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (u) => u.user);
  cpu('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', (u) => u.system);
  cpu('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (u) => u.user + u.system);
  const startSeconds = Math.round((Date.now() - performance.now()) / 1000);
  new Gauge({ name: `${prefix}process_start_time_seconds`, help: 'Start time of the process since unix epoch in seconds.', ...reg }).set(startSeconds);
  const rss = new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: 'Resident memory size in bytes.',
    ...reg,
    collect: () => rss.set(process.memoryUsage.rss()),
  });
  const fds = new Gauge({
    name: `${prefix}process_open_fds`,
    help: 'Number of open file descriptors.',
    ...reg,
    collect: () => {
      try {
        fds.set(readdirSync('/proc/self/fd').length - 1);
      } catch {
        fds.set(NaN); // not Linux
      }
    },
  });
  const memory = (name: string, help: string, read: (m: NodeJS.MemoryUsage) => number): void => {
    const g: Gauge = new Gauge({ name: `${prefix}${name}`, help, ...reg, collect: () => g.set(read(process.memoryUsage())) });
  };
  memory('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', (m) => m.heapTotal);
  memory('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', (m) => m.heapUsed);
  memory('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', (m) => m.external);
  new Gauge({ name: `${prefix}nodejs_version_info`, help: 'Node.js version info.', labelNames: ['version'], ...reg }).set({ version: process.version }, 1);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatLabels(labels: Record<string, string | number>): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(String(labels[k]))}"`).join(',')}}`;
}

function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}
