import { stableShard, workloadKey } from '../shard.ts';
import type { Pod } from './k8s-types.ts';
import { SELF_LABEL, SELF_LABEL_VALUE, type ResolvedKubeOptions } from './options.ts';
import { resolveWorkload } from './workload.ts';

/** Whether this replica reads the pod: mode (cluster / node-local / sharded) and the self exclusion. */
export function ownsPod(pod: Pod, o: ResolvedKubeOptions): boolean {
  if (o.excludeSelf) {
    if (pod.metadata.labels?.[SELF_LABEL] === SELF_LABEL_VALUE) return false;
    if (o.selfPodName && pod.metadata.name === o.selfPodName) return false;
  }
  switch (o.mode) {
    case 'cluster':
      return true;
    case 'node-local':
      return pod.spec?.nodeName === o.nodeName;
    case 'sharded': {
      const w = resolveWorkload(pod);
      return stableShard(workloadKey(pod.metadata.namespace ?? '', w.kind, w.name), o.shardCount) === o.shardIndex;
    }
  }
}

/** Field selector for the pods watch: node-local mode filters server-side, so the node sees only its pods. */
export function podFieldSelector(o: ResolvedKubeOptions): string | undefined {
  const parts = [o.fieldSelector, o.mode === 'node-local' ? `spec.nodeName=${o.nodeName}` : undefined].filter(Boolean);
  return parts.length ? parts.join(',') : undefined;
}
