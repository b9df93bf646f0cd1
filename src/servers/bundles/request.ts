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

  // Kubernetes bundles always have a window: none given (or an empty one) is the default relative one.
  const timeWindow = timeWindowOf(root.timeWindow, limits, DEFAULT_WINDOW) ?? DEFAULT_WINDOW;

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

// ── standalone mode ──────────────────────────────────────────────────────────────────────────
// A host without Kubernetes (`services:` in the config): targets are the configured services, by name
// only. Clients can never name a path or a journal unit: a name is looked up in the configuration.

export type StandaloneTarget = { kind: 'services'; services: string[] } | { kind: 'all' };

export interface StandaloneParams {
  /** null: none asked (journal sources then use tailLines, like files always do). */
  timeWindow: TimeWindow | null;
  target: StandaloneTarget;
  include: {
    logs: { enabled: boolean; tailLines: number; includePatterns: string[]; excludePatterns: string[] };
    metrics: { enabled: boolean };
  };
  limits: { maxTotalLogLines: number; metricsTimeoutMs: number };
}

/** A configured service as the request checks see it (what it has, not where). */
export interface ServiceRef {
  readonly name: string;
  readonly hasJournal: boolean;
}

/** The services: section's name rule; anything path-like (`/`, `..`, a leading dot) is refused by name. */
const SERVICE_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
function serviceName(v: unknown, field: string): string {
  if (typeof v !== 'string') fail(field, 'must be a service name (a string)');
  const s = v as string;
  if (s.includes('/') || s.includes('\\') || s.includes('..') || s.startsWith('.') || s.includes('\0')) fail(field, 'must be a configured service name, not a path');
  if (!SERVICE_NAME.test(s)) fail(field, 'must be a configured service name (lower case, digits, `.-_`)');
  return s;
}

function patterns(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 32 || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 256)) fail(field, 'must be at most 32 non-empty strings of ≤ 256 characters');
  return v as string[];
}

const DEFAULT_WINDOW: TimeWindow = { kind: 'relative', sinceSeconds: DEFAULTS.sinceSeconds };

/** `timeWindow` of either mode: null when absent; `whenEmpty` for `{}` (else 400). */
function timeWindowOf(v: unknown, limits: ServerLimits, whenEmpty?: TimeWindow): TimeWindow | null {
  if (v === undefined) return null;
  const tw = obj(v, 'timeWindow', ['sinceSeconds', 'start', 'end']);
  const hasAbs = tw.start !== undefined || tw.end !== undefined;
  if (tw.sinceSeconds !== undefined && hasAbs) fail('timeWindow', 'use either sinceSeconds or start/end, not both');
  if (!hasAbs) {
    if (tw.sinceSeconds === undefined) {
      if (whenEmpty) return whenEmpty;
      fail('timeWindow', 'give sinceSeconds or start and end (or leave timeWindow out)');
    }
    return { kind: 'relative', sinceSeconds: int(tw.sinceSeconds, 'timeWindow.sinceSeconds', DEFAULTS.sinceSeconds, 1, limits.maxSinceSeconds) };
  }
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
  return { kind: 'absolute', start, end, startMs, endMs };
}

/**
 * POST /v1/bundles in standalone mode: the shape only (400 naming the field). Which services exist,
 * and whether a time window has a journal to apply to, is checked after the token's scope
 * (resolveStandaloneTarget), so a refusal never tells an out-of-scope client what is configured.
 * `events`, `include.logs.previous` and `include.logs.timestamps` are accepted and ignored (OA).
 */
export function parseStandaloneRequest(body: unknown, limits: ServerLimits): StandaloneParams {
  if (!isObj(body)) fail('(body)', 'must be a JSON object');
  const root = obj(body, '', ['timeWindow', 'target', 'include', 'limits']);
  const timeWindow = timeWindowOf(root.timeWindow, limits);

  const lim = obj(root.limits, 'limits', ['maxPods', 'maxTotalLogLines', 'metricsTimeoutMs']);
  if (lim.maxPods !== undefined) fail('limits.maxPods', 'not used in standalone mode (targets are services)');
  const reqLimits = {
    maxTotalLogLines: int(lim.maxTotalLogLines, 'limits.maxTotalLogLines', limits.maxTotalLogLines, 1, limits.maxTotalLogLines),
    metricsTimeoutMs: int(lim.metricsTimeoutMs, 'limits.metricsTimeoutMs', limits.metricsTimeoutMs, 100, limits.maxMetricsTimeoutMs),
  };

  if (root.target === undefined) fail('target', 'required: {"kind": "services", "services": [...]} or {"kind": "all"}');
  const t = obj(root.target, 'target', ['kind', 'services', 'namespace', 'selector', 'pods']);
  for (const k of ['namespace', 'selector', 'pods'] as const) if (t[k] !== undefined) fail(`target.${k}`, 'this server runs in standalone mode: target services (kind "services" or "all"), not pods');
  const kind = t.kind ?? (t.services !== undefined ? 'services' : undefined);
  let target: StandaloneTarget;
  if (kind === 'all') {
    if (t.services !== undefined) fail('target.services', 'not used with kind "all"');
    target = { kind: 'all' };
  } else if (kind === 'services') {
    if (!Array.isArray(t.services) || t.services.length === 0) fail('target.services', 'required with kind "services": a non-empty list of service names');
    const list = t.services as unknown[];
    if (list.length > 256) fail('target.services', 'more than 256 names');
    const seen = new Set<string>();
    const services = list.map((s, i) => {
      const n = serviceName(s, `target.services[${i}]`);
      if (seen.has(n)) fail(`target.services[${i}]`, 'duplicate');
      seen.add(n);
      return n;
    });
    target = { kind: 'services', services };
  } else if (kind === undefined) {
    fail('target', 'give services: [...] (kind "services") or kind "all"');
    throw new Error('unreachable');
  } else {
    fail('target.kind', 'this server runs in standalone mode: "services" or "all"');
    throw new Error('unreachable');
  }

  const inc = obj(root.include, 'include', ['logs', 'events', 'metrics']);
  const l = obj(inc.logs, 'include.logs', ['enabled', 'tailLines', 'previous', 'timestamps', 'includePatterns', 'excludePatterns', 'containers']);
  if (l.containers !== undefined) fail('include.logs.containers', 'not used in standalone mode (services have files and journal units, not containers)');
  // Ignored in standalone mode, but still type-checked: a wrong type is a client bug worth a 400.
  bool(l.previous, 'include.logs.previous', false);
  bool(l.timestamps, 'include.logs.timestamps', true);
  obj(inc.events, 'include.events', ['enabled']);
  const m = obj(inc.metrics, 'include.metrics', ['enabled']);
  const include = {
    logs: {
      enabled: bool(l.enabled, 'include.logs.enabled', true),
      tailLines: int(l.tailLines, 'include.logs.tailLines', Math.min(DEFAULTS.tailLines, reqLimits.maxTotalLogLines), 1, reqLimits.maxTotalLogLines),
      includePatterns: patterns(l.includePatterns, 'include.logs.includePatterns'),
      excludePatterns: patterns(l.excludePatterns, 'include.logs.excludePatterns'),
    },
    metrics: { enabled: bool(m.enabled, 'include.metrics.enabled', true) },
  };
  if (!include.logs.enabled && !include.metrics.enabled) fail('include', 'nothing to collect: enable logs or metrics (events do not exist in standalone mode)');
  return { timeWindow, target, include, limits: reqLimits };
}

/** Capabilities a standalone bundle needs: `logs` and/or `metrics`, as `include` enables them. */
export function neededStandaloneCapabilities(p: StandaloneParams): Capability[] {
  const caps: Capability[] = [];
  if (p.include.logs.enabled) caps.push('logs');
  if (p.include.metrics.enabled) caps.push('metrics');
  return caps;
}

/**
 * The services a request selects, in configuration order, once the token's scope has been checked
 * (`may`): a named service out of scope → 403 (whether it exists or not), a named one in scope but not
 * configured → 400, kind "all" → every configured service in scope (403 when that is none); then a
 * timeWindow with logs enabled needs a selected service with a journal unit (400).
 */
export function resolveStandaloneTarget(p: StandaloneParams, configured: readonly ServiceRef[], may: (service: string) => boolean): ServiceRef[] {
  let selected: ServiceRef[];
  if (p.target.kind === 'all') {
    selected = configured.filter((s) => may(s.name));
    if (selected.length === 0) throw new RequestError('target: the token permits none of the configured services', 403);
  } else {
    for (const n of p.target.services) if (!may(n)) throw new RequestError('target.services: the token does not permit that service', 403);
    const byName = new Map(configured.map((s) => [s.name, s] as const));
    p.target.services.forEach((n, i) => {
      if (!byName.has(n)) fail(`target.services[${i}]`, `no such service: "${n}" (GET /v1/services lists them)`);
    });
    const wanted = new Set(p.target.services);
    selected = configured.filter((s) => wanted.has(s.name));
  }
  if (p.timeWindow && p.include.logs.enabled && !selected.some((s) => s.hasJournal)) {
    fail('timeWindow', 'applies to journal sources only, and none of the selected services has a journal unit (file logs use include.logs.tailLines)');
  }
  return selected;
}
