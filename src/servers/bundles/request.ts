/**
 * The bundle request (POST /v1/bundles), validated strictly: unknown fields, wrong types, both time
 * window forms, both target forms, or values past the server's limits are a 400 naming the field.
 * Defaults are those of the OA document: sinceSeconds 600, tailLines 2000, namespace `*`, previous and
 * timestamps true (timestamps forced in absolute mode), limits maxPods 20, maxTotalLogLines 50,000,
 * metricsTimeoutMs 2,000.
 */
import type { Capability } from './auth.ts';

export interface ServerLimits {
  maxPods: number;
  maxMetricsPods: number;
  maxTotalLogLines: number;
  maxSinceSeconds: number;
  metricsTimeoutMs: number;
  /** Upper bound a request may ask for metricsTimeoutMs. */
  maxMetricsTimeoutMs: number;
}

export const DEFAULTS = { sinceSeconds: 600, tailLines: 2000, namespace: '*', previous: true, timestamps: true } as const;

export type TimeWindow = { kind: 'relative'; sinceSeconds: number } | { kind: 'absolute'; start: string; end: string; startMs: number; endMs: number };
export type Target = { kind: 'selector'; namespace: string; selector: string } | { kind: 'pods'; pods: Array<{ namespace: string; pod: string }> };

export interface BundleParams {
  timeWindow: TimeWindow;
  target: Target;
  include: {
    logs: { enabled: boolean; tailLines: number; previous: boolean; timestamps: boolean; excludePatterns: string[]; containers: string[] | null };
    events: { enabled: boolean };
    metrics: { enabled: boolean };
  };
  limits: { maxPods: number; maxTotalLogLines: number; metricsTimeoutMs: number };
}

export class RequestError extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const fail = (field: string, reason: string): never => {
  throw new RequestError(`${field}: ${reason}`);
};

function obj(v: unknown, field: string, allowed: readonly string[]): Obj {
  if (v === undefined) return {};
  if (!isObj(v)) fail(field, 'must be an object');
  for (const k of Object.keys(v as Obj)) if (!allowed.includes(k)) fail(field ? `${field}.${k}` : k, `unknown field (allowed: ${allowed.join(', ')})`);
  return v as Obj;
}
function bool(v: unknown, field: string, d: boolean): boolean {
  if (v === undefined) return d;
  if (typeof v !== 'boolean') fail(field, 'must be true or false');
  return v as boolean;
}
function int(v: unknown, field: string, d: number, min: number, max: number): number {
  if (v === undefined) return d;
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(field, 'must be an integer');
  if ((v as number) < min) fail(field, `must be ≥ ${min}`);
  if ((v as number) > max) fail(field, `must be ≤ ${max}`);
  return v as number;
}
/** Kubernetes object names: DNS-1123 labels/subdomains (also keeps the API paths we build safe). */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
function name(v: unknown, field: string): string {
  if (typeof v !== 'string' || !NAME.test(v)) fail(field, 'must be a Kubernetes name');
  return v as string;
}
/** A label selector as the API accepts it; the API server parses it, we only bound it. */
const SELECTOR = /^[A-Za-z0-9_.\-\/=!,() ]+$/;
const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export function parseBundleRequest(body: unknown, limits: ServerLimits): BundleParams {
  const root = obj(body, '', ['timeWindow', 'target', 'include', 'limits']);
  if (!isObj(body)) fail('(body)', 'must be a JSON object');

  const tw = obj(root.timeWindow, 'timeWindow', ['sinceSeconds', 'start', 'end']);
  let timeWindow: TimeWindow;
  const hasAbs = tw.start !== undefined || tw.end !== undefined;
  if (tw.sinceSeconds !== undefined && hasAbs) fail('timeWindow', 'use either sinceSeconds or start/end, not both');
  if (hasAbs) {
    if (typeof tw.start !== 'string' || typeof tw.end !== 'string') fail('timeWindow', 'start and end are both required (UTC, ISO 8601 with Z)');
    const start = tw.start as string;
    const end = tw.end as string;
    if (!ISO_Z.test(start)) fail('timeWindow.start', 'must be UTC ISO 8601 ending in Z');
    if (!ISO_Z.test(end)) fail('timeWindow.end', 'must be UTC ISO 8601 ending in Z');
    const startMs = Date.parse(start);
    const endMs = Date.parse(end);
    if (!Number.isFinite(startMs)) fail('timeWindow.start', 'not a date');
    if (!Number.isFinite(endMs)) fail('timeWindow.end', 'not a date');
    if (endMs <= startMs) fail('timeWindow.end', 'must be after start');
    if (endMs - startMs > limits.maxSinceSeconds * 1000) fail('timeWindow', `spans more than ${limits.maxSinceSeconds} s`);
    if (startMs > Date.now() + 60_000) fail('timeWindow.start', 'is in the future');
    timeWindow = { kind: 'absolute', start, end, startMs, endMs };
  } else {
    timeWindow = { kind: 'relative', sinceSeconds: int(tw.sinceSeconds, 'timeWindow.sinceSeconds', DEFAULTS.sinceSeconds, 1, limits.maxSinceSeconds) };
  }

  const lim = obj(root.limits, 'limits', ['maxPods', 'maxTotalLogLines', 'metricsTimeoutMs']);
  const reqLimits = {
    maxPods: int(lim.maxPods, 'limits.maxPods', limits.maxPods, 1, limits.maxPods),
    maxTotalLogLines: int(lim.maxTotalLogLines, 'limits.maxTotalLogLines', limits.maxTotalLogLines, 1, limits.maxTotalLogLines),
    metricsTimeoutMs: int(lim.metricsTimeoutMs, 'limits.metricsTimeoutMs', limits.metricsTimeoutMs, 100, limits.maxMetricsTimeoutMs),
  };

  const t = obj(root.target, 'target', ['namespace', 'selector', 'pods', 'kind']);
  if (root.target === undefined) fail('target', 'required: a selector or pods[]');
  if (t.kind !== undefined && t.kind !== 'pods' && t.kind !== 'selector') fail('target.kind', 'this server runs in Kubernetes mode: pods or selector targets only');
  let target: Target;
  if (t.pods !== undefined) {
    if (t.selector !== undefined) fail('target', 'selector and pods are mutually exclusive');
    if (t.namespace !== undefined) fail('target.namespace', 'not used with pods[] (each pod names its namespace)');
    if (!Array.isArray(t.pods) || t.pods.length === 0) fail('target.pods', 'must be a non-empty list');
    const pods = t.pods as unknown[];
    if (pods.length > reqLimits.maxPods) fail('target.pods', `more than maxPods (${reqLimits.maxPods})`);
    const seen = new Set<string>();
    const list = pods.map((p, i) => {
      const o = obj(p, `target.pods[${i}]`, ['namespace', 'pod']);
      if (!isObj(p)) fail(`target.pods[${i}]`, 'must be an object');
      const ref = { namespace: name(o.namespace, `target.pods[${i}].namespace`), pod: name(o.pod, `target.pods[${i}].pod`) };
      const k = `${ref.namespace}/${ref.pod}`;
      if (seen.has(k)) fail(`target.pods[${i}]`, 'duplicate');
      seen.add(k);
      return ref;
    });
    target = { kind: 'pods', pods: list };
  } else {
    if (typeof t.selector !== 'string' || t.selector.trim() === '') fail('target.selector', 'required (or pods[])');
    const selector = (t.selector as string).trim();
    if (selector.length > 1024 || !SELECTOR.test(selector)) fail('target.selector', 'not a label selector');
    const namespace = t.namespace === undefined || t.namespace === '*' ? '*' : name(t.namespace, 'target.namespace');
    target = { kind: 'selector', namespace, selector };
  }

  const inc = obj(root.include, 'include', ['logs', 'events', 'metrics']);
  const l = obj(inc.logs, 'include.logs', ['enabled', 'tailLines', 'previous', 'timestamps', 'excludePatterns', 'containers']);
  const e = obj(inc.events, 'include.events', ['enabled']);
  const m = obj(inc.metrics, 'include.metrics', ['enabled']);
  let excludePatterns: string[] = [];
  if (l.excludePatterns !== undefined) {
    if (!Array.isArray(l.excludePatterns) || l.excludePatterns.length > 32 || !l.excludePatterns.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 256)) fail('include.logs.excludePatterns', 'must be at most 32 non-empty strings of ≤ 256 characters');
    excludePatterns = l.excludePatterns as string[];
  }
  let containers: string[] | null = null;
  if (l.containers !== undefined) {
    if (!Array.isArray(l.containers) || l.containers.length === 0 || l.containers.length > 32) fail('include.logs.containers', 'must be a non-empty list of container names');
    containers = (l.containers as unknown[]).map((c, i) => name(c, `include.logs.containers[${i}]`));
  }
  const include = {
    logs: {
      enabled: bool(l.enabled, 'include.logs.enabled', true),
      tailLines: int(l.tailLines, 'include.logs.tailLines', Math.min(DEFAULTS.tailLines, reqLimits.maxTotalLogLines), 1, reqLimits.maxTotalLogLines),
      previous: bool(l.previous, 'include.logs.previous', DEFAULTS.previous),
      timestamps: timeWindow.kind === 'absolute' ? true : bool(l.timestamps, 'include.logs.timestamps', DEFAULTS.timestamps),
      excludePatterns,
      containers,
    },
    events: { enabled: bool(e.enabled, 'include.events.enabled', true) },
    metrics: { enabled: bool(m.enabled, 'include.metrics.enabled', true) },
  };
  if (!include.logs.enabled && !include.events.enabled && !include.metrics.enabled) fail('include', 'nothing to collect: enable logs, events or metrics');
  return { timeWindow, target, include, limits: reqLimits };
}

/** Capabilities a bundle needs: its data sources, and `pods` when a selector is resolved by discovery. */
export function neededCapabilities(p: BundleParams): Capability[] {
  const caps: Capability[] = [];
  if (p.target.kind === 'selector') caps.push('pods');
  if (p.include.logs.enabled) caps.push('logs');
  if (p.include.events.enabled) caps.push('events');
  if (p.include.metrics.enabled) caps.push('metrics');
  return caps;
}

/** Namespaces a bundle touches as requested (`*` for a cluster-wide selector). */
export function targetNamespaces(p: BundleParams): string[] {
  return p.target.kind === 'selector' ? [p.target.namespace] : [...new Set(p.target.pods.map((x) => x.namespace))];
}
