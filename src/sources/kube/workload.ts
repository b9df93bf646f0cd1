import type { Target } from '../../model/log-record.ts';
import type { Pod } from './k8s-types.ts';

/**
 * The workload owning a pod, from ownerReferences alone (RBAC stays get/list/watch on pods, pods/log and
 * events — no ReplicaSet or Job reads):
 *   ReplicaSet `<deploy>-<pod-template-hash>` → Deployment `<deploy>` (the hash is a pod label);
 *   StatefulSet, DaemonSet, Job → themselves; Job `<cronjob>-<scheduled minute>` → CronJob;
 *   no controller → the pod itself.
 */
export interface Workload {
  name: string;
  kind: string;
}

export function resolveWorkload(pod: Pod): Workload {
  const refs = pod.metadata.ownerReferences ?? [];
  const owner = refs.find((r) => r.controller) ?? refs[0];
  const podName = pod.metadata.name ?? '';
  if (!owner) return { name: podName, kind: 'Pod' };
  switch (owner.kind) {
    case 'ReplicaSet': {
      const hash = pod.metadata.labels?.['pod-template-hash'];
      if (hash && owner.name.endsWith(`-${hash}`)) return { name: owner.name.slice(0, -hash.length - 1), kind: 'Deployment' };
      return { name: owner.name, kind: 'ReplicaSet' };
    }
    case 'Job': {
      // CronJob controller names jobs `<cronjob>-<minutes since epoch>` (8+ digits for any date after 1970-03).
      const m = /^(.+)-(\d{8,})$/.exec(owner.name);
      if (m?.[1]) return { name: m[1], kind: 'CronJob' };
      return { name: owner.name, kind: 'Job' };
    }
    default:
      return { name: owner.name, kind: owner.kind };
  }
}

const APP_LABELS = ['app.kubernetes.io/name', 'app', 'k8s-app'];
const COMPONENT_LABELS = ['app.kubernetes.io/component', 'component'];

function firstLabel(labels: Record<string, string> | undefined, keys: string[]): string | undefined {
  if (!labels) return undefined;
  for (const k of keys) {
    const v = labels[k];
    if (v) return v;
  }
  return undefined;
}

/** The target of a pod (container fields filled by the caller). */
export function podTarget(pod: Pod, cluster: string): Target {
  const w = resolveWorkload(pod);
  const t: Target = {
    cluster,
    namespace: pod.metadata.namespace ?? 'default',
    pod: pod.metadata.name ?? '',
    workload: w.name,
    workloadKind: w.kind,
  };
  if (pod.spec?.nodeName) t.node = pod.spec.nodeName;
  const app = firstLabel(pod.metadata.labels, APP_LABELS);
  if (app) t.app = app;
  const component = firstLabel(pod.metadata.labels, COMPONENT_LABELS);
  if (component) t.component = component;
  return t;
}
