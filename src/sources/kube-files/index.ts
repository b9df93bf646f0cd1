import type { KubeApi } from '../kube/api.ts';
import { KubeEventsSource } from '../kube/events-source.ts';
import { resolveKubeOptions, type KubeSourceOptions } from '../kube/options.ts';
import { KubeShared } from '../kube/shared.ts';
import { KubeFilesSource, type KubeFilesSourceOptions } from './source.ts';
import { FILES_DEFAULTS } from './defaults.ts';

export { FILES_DEFAULTS } from './defaults.ts';

export { KubeFilesSource, containerIdFor, type KubeFilesSourceOptions } from './source.ts';
export { kubeletTs, parseCri, parsePodLogPath, type CriRecord, type PodLogPath } from './cri.ts';

export interface KubeFilesSources {
  /** Pod logs from the node's files (kind "pod") and pod status records (kind "pod_status"). */
  pods: KubeFilesSource;
  /** The node's Kubernetes Events, as in node-local mode (start it to use it). */
  events: KubeEventsSource;
  api: KubeApi;
}

/**
 * The files profile over one API client and one node-scoped pods informer (mode node-local: the watch
 * carries `spec.nodeName=<node>`), shared with the events source.
 */
export function createKubeFilesSources(o: { kube: Omit<KubeSourceOptions, 'mode'>; files: Partial<KubeFilesSourceOptions> & { root?: string } }): KubeFilesSources {
  const resolved = resolveKubeOptions({ ...o.kube, mode: 'node-local' });
  const shared = new KubeShared(resolved, o.kube.api);
  const pods = new KubeFilesSource(shared, { ...FILES_DEFAULTS, root: '/var/log/pods', ...o.files });
  return { pods, events: new KubeEventsSource(shared), api: shared.api };
}
