import type { AckHandle, LogRecord, Target } from '../../model/log-record.ts';
import type { CoreEvent, Pod } from './k8s-types.ts';
import { parseTs } from './timestamp.ts';
import { podTarget } from './workload.ts';

/**
 * Kubernetes Events as records (kind "event"). A recurring event is one object whose count (or
 * series.count for events.k8s.io-style reporters) grows; a record stands for the new occurrences only.
 */

/** Occurrences so far: count for core reporters, series.count for events.k8s.io ones, at least 1. */
export function occurrences(ev: CoreEvent): number {
  return Math.max(1, ev.count ?? 0, ev.series?.count ?? 0);
}

/** The time of the latest occurrence (what the record is stamped with). */
export function lastSeen(ev: CoreEvent): string {
  return ev.series?.lastObservedTime || ev.lastTimestamp || ev.eventTime || ev.firstTimestamp || ev.metadata.creationTimestamp || new Date().toISOString();
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']);

function logfmtValue(v: string): string {
  return /^[^\s"=\\]+$/.test(v) ? v : JSON.stringify(v);
}

/** logfmt line, like Alloy's loki.source.kubernetes_events, so the same LogQL works on both. */
export function eventLine(ev: CoreEvent, delta: number): string {
  const o = ev.involvedObject;
  const parts: [string, string | undefined][] = [
    ['type', ev.type],
    ['reason', ev.reason],
    ['kind', o.kind],
    ['name', o.namespace ? `${o.namespace}/${o.name}` : o.name],
    ['fieldPath', o.fieldPath],
    ['count', String(delta)],
    ['total', String(occurrences(ev))],
    ['source', ev.reportingComponent || ev.source?.component],
    ['host', ev.source?.host],
    ['msg', (ev.message ?? '').trim()],
  ];
  return parts
    .filter((p): p is [string, string] => p[1] !== undefined && p[1] !== '')
    .map(([k, v]) => `${k}=${logfmtValue(v)}`)
    .join(' ');
}

/** `spec.containers{name}` → name. */
export function containerFromFieldPath(fieldPath: string | undefined): string | undefined {
  const m = fieldPath ? /^spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]+)\}/.exec(fieldPath) : null;
  return m?.[1];
}

export function eventTarget(ev: CoreEvent, cluster: string, pod: Pod | undefined): Target {
  const o = ev.involvedObject;
  const namespace = o.namespace || ev.metadata.namespace || 'default';
  let t: Target;
  if (o.kind === 'Pod' && pod) t = podTarget(pod, cluster);
  else {
    t = { cluster, namespace };
    if (o.kind === 'Pod' && o.name) t.pod = o.name;
    if (o.kind && WORKLOAD_KINDS.has(o.kind) && o.name) {
      t.workload = o.name;
      t.workloadKind = o.kind;
    }
    if (o.kind === 'Node' && o.name) t.node = o.name;
  }
  const container = containerFromFieldPath(o.fieldPath);
  if (container) t.container = container;
  if (!t.node && ev.source?.host) t.node = ev.source.host;
  return t;
}

export function eventRecord(ev: CoreEvent, delta: number, cluster: string, pod: Pod | undefined, ack?: AckHandle): LogRecord {
  const ts = lastSeen(ev);
  const p = parseTs(ts);
  const o = ev.involvedObject;
  const uid = ev.metadata.uid ?? `${ev.metadata.namespace}/${ev.metadata.name}`;
  const involved: NonNullable<LogRecord['event']>['involvedObject'] = { kind: o.kind ?? '', name: o.name ?? '' };
  if (o.namespace) involved.namespace = o.namespace;
  if (o.uid) involved.uid = o.uid;
  if (o.fieldPath) involved.fieldPath = o.fieldPath;
  const rec: LogRecord = {
    ts: p ? p.raw : new Date().toISOString(),
    tsMs: p ? p.ms : Date.now(),
    line: eventLine(ev, delta),
    stream: 'unknown',
    kind: 'event',
    target: eventTarget(ev, cluster, pod),
    level: ev.type === 'Warning' ? 'warn' : 'info',
    fields: { reason: ev.reason ?? '', type: ev.type ?? '', object_kind: o.kind ?? '', object_name: o.name ?? '', count_total: String(occurrences(ev)) },
    event: { uid, type: ev.type ?? 'Normal', reason: ev.reason ?? '', count: delta, involvedObject: involved },
    position: { key: `event/${uid}`, ts: p ? p.raw : new Date().toISOString() },
    ack,
  };
  const rc = ev.reportingComponent || ev.source?.component;
  if (rc && rec.event) rec.event.reportingComponent = rc;
  return rec;
}
