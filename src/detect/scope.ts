import type { LogRecord, Target } from '../model/log-record.ts';
import type { ResourceScope } from '../model/finding.ts';
import type { ScopeLevel } from './types.ts';

/** The workload name a record belongs to, with fallbacks for standalone and unresolved owners. */
export function workloadOf(t: Target): string {
  return t.workload ?? t.app ?? t.service ?? t.pod ?? t.file ?? 'unknown';
}

const SLOT: Record<ScopeLevel, number> = { cluster: 0, namespace: 1, workload: 2, pod: 3, container: 4, node: 5 };

/**
 * Scope keys of a target, built once per target object: sources give every record of a container
 * the same Target object (never changed once a record carries it), so the per-line cost is one
 * WeakMap probe, and detector maps see the same flat string every time, whose hash V8 keeps.
 */
const keysOfTarget = new WeakMap<Target, Array<string | undefined>>();

/** A stable key for grouping state and findings at the given level. */
export function scopeKey(level: ScopeLevel, r: LogRecord): string {
  const t = r.target;
  let keys = keysOfTarget.get(t);
  if (keys === undefined) {
    keys = [undefined, undefined, undefined, undefined, undefined, undefined];
    keysOfTarget.set(t, keys);
  }
  const slot = SLOT[level];
  return (keys[slot] ??= buildScopeKey(level, t));
}

function buildScopeKey(level: ScopeLevel, t: Target): string {
  switch (level) {
    case 'cluster':
      return t.cluster;
    case 'namespace':
      return `${t.cluster}/${t.namespace}`;
    case 'workload':
      return `${t.cluster}/${t.namespace}/${workloadOf(t)}`;
    case 'pod':
      return `${t.cluster}/${t.namespace}/${t.pod ?? workloadOf(t)}`;
    case 'container':
      return `${t.cluster}/${t.namespace}/${t.pod ?? workloadOf(t)}/${t.container ?? ''}`;
    case 'node':
      return `${t.cluster}/node/${t.node ?? 'unknown'}`;
  }
}

/**
 * resource_scope always names cluster and namespace, and the pod/container of the record that
 * raised the finding, so every finding traces back to a source even at workload scope.
 */
export function resourceScope(level: ScopeLevel, r: LogRecord): ResourceScope {
  const t = r.target;
  const s: ResourceScope = { cluster: t.cluster, namespace: t.namespace };
  if (level === 'node') {
    if (t.node) s.node = t.node;
  }
  if (level !== 'cluster' && level !== 'namespace' && level !== 'node') {
    s.workload = workloadOf(t);
    if (t.workloadKind) s.workload_kind = t.workloadKind;
  }
  if (level !== 'cluster' && level !== 'namespace' && level !== 'node') {
    if (t.pod) s.pod = t.pod;
    if (t.container) s.container = t.container;
    if (t.node) s.node = t.node;
  }
  if (r.event && (level !== 'node' || r.event.involvedObject.kind === 'Node') && level !== 'cluster' && level !== 'namespace') {
    s.kind = r.event.involvedObject.kind;
    s.name = r.event.involvedObject.name;
  }
  return s;
}
