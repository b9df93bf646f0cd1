/**
 * The wire format of a finding on JetStream: subject, CloudEvents-style envelope, message id,
 * and the hard size caps that keep raw log lines off the bus.
 */
import type { BundleRequest, Finding, FindingStatus } from '../model/finding.ts';

export const FINDINGS_SUBJECT_ROOT = 'ops.findings';
export const FINDING_EVENT_TYPES: Readonly<Record<FindingStatus, string>> = {
  observed: 'sre.detector.finding.observed',
  recovered: 'sre.detector.finding.recovered',
};
/** CloudEvents `dataschema`: the `$id` of the Finding JSON Schema (src/model/finding.schema.json). */
export const FINDING_DATASCHEMA = 'urn:robot-sre-detector:finding:1.0';
export const CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

export {
  MAX_ENVELOPE_BYTES,
  MAX_EVIDENCE_LINES,
  MAX_EVIDENCE_LINE_BYTES,
  MAX_TEMPLATES,
  MAX_TEMPLATE_BYTES,
  MAX_SUMMARY_BYTES,
  MAX_QUERY_BYTES,
  MAX_SMALL_FIELD_BYTES,
  MAX_MAP_ENTRIES,
  MAX_TOKEN_BYTES,
} from '../model/limits.ts';
import { MAX_ENVELOPE_BYTES, MAX_EVIDENCE_LINES, MAX_EVIDENCE_LINE_BYTES, MAX_TEMPLATES, MAX_TEMPLATE_BYTES, MAX_SUMMARY_BYTES, MAX_QUERY_BYTES, MAX_SMALL_FIELD_BYTES, MAX_MAP_ENTRIES, MAX_TOKEN_BYTES, MAX_BUNDLE_TARGETS } from '../model/limits.ts';

export interface FindingEnvelope {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  /** The resource the finding is about: `<namespace>/<kind>/<name>` (CloudEvents subject, not the NATS subject). */
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema: string;
  data: Finding;
}

export interface EncodedFinding {
  subject: string;
  /** = finding.finding_id; becomes Nats-Msg-Id. */
  msgId: string;
  /** Serialized envelope (UTF-8 JSON). */
  payload: string;
  bytes: number;
  /** True when evidence was cut to fit the caps. */
  truncated: boolean;
}

export class FindingTooLargeError extends Error {
  readonly bytes: number;
  constructor(findingId: string, bytes: number) {
    super(`finding ${findingId} is ${bytes} bytes after dropping evidence; cap is ${MAX_ENVELOPE_BYTES}`);
    this.name = 'FindingTooLargeError';
    this.bytes = bytes;
  }
}

export class InvalidEnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEnvelopeError';
  }
}

/** A subject token: no `.`, `*`, `>`, whitespace or other surprises; empty → `_`. */
export function subjectToken(value: string | undefined): string {
  const t = truncateUtf8((value ?? '').replace(/[^A-Za-z0-9_-]/g, '_'), MAX_TOKEN_BYTES, '');
  return t === '' ? '_' : t;
}

/** `ops.findings.<event>.<namespace>.<incident_type>` */
export function findingSubject(f: Pick<Finding, 'status' | 'incident_type' | 'resource_scope'>): string {
  return `${FINDINGS_SUBJECT_ROOT}.${subjectToken(f.status)}.${subjectToken(f.resource_scope.namespace)}.${subjectToken(f.incident_type)}`;
}

export interface SubjectFilter {
  event?: FindingStatus;
  namespace?: string;
  incidentType?: string;
}

/** A subject filter for one combination; unset dimensions become `*`. */
export function findingFilterSubject(f: SubjectFilter = {}): string {
  const tok = (v: string | undefined): string => (v === undefined || v === '*' ? '*' : subjectToken(v));
  return `${FINDINGS_SUBJECT_ROOT}.${tok(f.event)}.${tok(f.namespace)}.${tok(f.incidentType)}`;
}

/** Cut a string to at most maxBytes of UTF-8 on a character boundary, marking the cut. */
export function truncateUtf8(s: string, maxBytes: number, marker = '…'): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  const budget = Math.max(0, maxBytes - Buffer.byteLength(marker));
  const buf = Buffer.from(s);
  let end = budget;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8') + marker;
}

function resourceSubject(f: Finding): string {
  const r = f.resource_scope;
  const ns = r.namespace || '_cluster';
  if (r.kind && r.name) return `${ns}/${r.kind}/${r.name}`;
  if (r.workload) return `${ns}/${r.workload_kind ?? 'workload'}/${r.workload}`;
  if (r.pod) return `${ns}/Pod/${r.pod}`;
  if (r.node) return `${ns}/Node/${r.node}`;
  return ns;
}

function clampMap<V>(m: Record<string, V> | undefined, clampValue: (v: V) => V): Record<string, V> | undefined {
  if (!m) return m;
  const out: Record<string, V> = {};
  for (const [k, v] of Object.entries(m).slice(0, MAX_MAP_ENTRIES)) {
    out[truncateUtf8(k, MAX_SMALL_FIELD_BYTES)] = clampValue(v);
  }
  return out;
}

const small = (s: string): string => truncateUtf8(s, MAX_SMALL_FIELD_BYTES);

/**
 * The bundle request names at most MAX_BUNDLE_TARGETS pods or services. Names are dropped, never
 * cut: a truncated pod name would ask the server for a pod that does not exist.
 */
function clampBundle(b: BundleRequest): BundleRequest {
  const fits = (s: string): boolean => Buffer.byteLength(s) <= MAX_SMALL_FIELD_BYTES;
  const target: BundleRequest['target'] =
    'pods' in b.target
      ? { pods: b.target.pods.filter((p) => fits(p.namespace) && fits(p.pod)).slice(0, MAX_BUNDLE_TARGETS) }
      : { kind: 'services', services: b.target.services.filter(fits).slice(0, MAX_BUNDLE_TARGETS) };
  return { ...b, ...(b.timeWindow ? { timeWindow: { start: small(b.timeWindow.start), end: small(b.timeWindow.end) } } : {}), target };
}

/**
 * Apply the per-field caps (≤5 evidence lines of ≤512 B, short templates, bounded maps).
 * Returns a copy; the caller's finding is not touched.
 */
export function clampFinding(f: Finding): { finding: Finding; truncated: boolean } {
  const before = JSON.stringify(f);
  const ev = f.evidence;
  const details = clampMap(ev.details, (v) => (typeof v === 'string' ? small(v) : v));
  const labels = clampMap(f.labels, small);
  const scope = Object.fromEntries(
    Object.entries(f.resource_scope).map(([k, v]) => [k, typeof v === 'string' ? small(v) : v]),
  ) as unknown as Finding['resource_scope'];
  const finding: Finding = {
    ...f,
    summary: truncateUtf8(f.summary, MAX_SUMMARY_BYTES),
    incident_type: small(f.incident_type),
    dedupe_key: small(f.dedupe_key),
    resource_scope: scope,
    evidence: {
      lines: ev.lines.slice(0, MAX_EVIDENCE_LINES).map((l) => ({
        ...l,
        ts: small(l.ts),
        line: truncateUtf8(l.line, MAX_EVIDENCE_LINE_BYTES),
        ...(l.pod !== undefined ? { pod: small(l.pod) } : {}),
        ...(l.container !== undefined ? { container: small(l.container) } : {}),
      })),
      templates: ev.templates.slice(0, MAX_TEMPLATES).map((t) => ({
        template: truncateUtf8(t.template, MAX_TEMPLATE_BYTES),
        count: t.count,
      })),
      loki: { query: truncateUtf8(ev.loki.query, MAX_QUERY_BYTES), start: small(ev.loki.start), end: small(ev.loki.end) },
      ...(details ? { details } : {}),
      ...(ev.bundle ? { bundle: clampBundle(ev.bundle) } : {}),
    },
    ...(labels ? { labels } : {}),
  };
  return { finding, truncated: JSON.stringify(finding) !== before };
}

export function buildEnvelope(f: Finding, source?: string): FindingEnvelope {
  return {
    specversion: '1.0',
    id: f.finding_id,
    source: source ?? `robot-sre-detector/${f.resource_scope.cluster || 'default'}`,
    type: FINDING_EVENT_TYPES[f.status],
    subject: resourceSubject(f),
    time: f.observed_at,
    datacontenttype: 'application/json',
    dataschema: FINDING_DATASCHEMA,
    data: f,
  };
}

/**
 * Subject + envelope + msg id for a finding, within MAX_ENVELOPE_BYTES: clamp fields, then drop
 * evidence lines, templates, details and labels (in that order) until it fits, else refuse.
 */
export function encodeFinding(f: Finding, opts: { source?: string; maxBytes?: number } = {}): EncodedFinding {
  if (!f.finding_id) throw new InvalidEnvelopeError('finding has no finding_id');
  if (!(f.status in FINDING_EVENT_TYPES)) throw new InvalidEnvelopeError(`unknown finding status ${String(f.status)}`);
  const max = opts.maxBytes ?? MAX_ENVELOPE_BYTES;
  const clamped = clampFinding(f);
  const finding = clamped.finding;
  let truncated = clamped.truncated;
  const mark = (): void => {
    truncated = true;
    finding.evidence.details = { ...(finding.evidence.details ?? {}), evidence_truncated: true };
  };
  const serialize = (): string => JSON.stringify(buildEnvelope(finding, opts.source));
  if (truncated) mark();
  let payload = serialize();
  let bytes = Buffer.byteLength(payload);
  const shrinkSteps: Array<() => boolean> = [
    () => finding.evidence.lines.pop() !== undefined,
    () => finding.evidence.templates.pop() !== undefined,
    () => {
      if (!finding.evidence.details) return false;
      finding.evidence.details = { evidence_truncated: true };
      return false; // one shot
    },
    () => {
      if (!finding.labels) return false;
      delete finding.labels;
      return false;
    },
  ];
  for (const step of shrinkSteps) {
    while (bytes > max) {
      if (!truncated) mark();
      const again = step();
      payload = serialize();
      bytes = Buffer.byteLength(payload);
      if (!again) break;
    }
  }
  if (bytes > max) throw new FindingTooLargeError(f.finding_id, bytes);
  return { subject: findingSubject(finding), msgId: f.finding_id, payload, bytes, truncated };
}

/** Parse and check an envelope received from the stream. */
export function decodeEnvelope(data: Uint8Array | string): FindingEnvelope {
  let v: unknown;
  try {
    v = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch (err) {
    throw new InvalidEnvelopeError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null) throw new InvalidEnvelopeError('envelope is not an object');
  const e = v as Partial<FindingEnvelope>;
  if (e.specversion !== '1.0') throw new InvalidEnvelopeError(`unsupported specversion ${String(e.specversion)}`);
  if (e.type !== FINDING_EVENT_TYPES.observed && e.type !== FINDING_EVENT_TYPES.recovered) {
    throw new InvalidEnvelopeError(`unexpected type ${String(e.type)}`);
  }
  const d = e.data as Partial<Finding> | undefined;
  if (!d || typeof d !== 'object' || typeof d.finding_id !== 'string' || typeof d.incident_type !== 'string') {
    throw new InvalidEnvelopeError('envelope data is not a finding');
  }
  if (!d.resource_scope || typeof d.resource_scope !== 'object' || !d.evidence || typeof d.evidence !== 'object') {
    throw new InvalidEnvelopeError('finding lacks resource_scope or evidence');
  }
  return e as FindingEnvelope;
}
