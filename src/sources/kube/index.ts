import type { Source } from '../types.ts';
import type { KubeApi } from './api.ts';
import { KubeEventsSource } from './events-source.ts';
import { resolveKubeOptions, type KubeSourceOptions } from './options.ts';
import { KubePodsSource } from './pods-source.ts';
import { KubeShared } from './shared.ts';

export { KubeApi, KubeApiError, forbiddenMessage, RBAC_MANIFEST } from './api.ts';
export { KubeEventsSource } from './events-source.ts';
export { KubePodsSource, instancePhase } from './pods-source.ts';
export { resolveKubeOptions, type KubeSourceOptions, type KubeMode, type ResolvedKubeOptions } from './options.ts';

export interface KubeSources {
  /** Pod logs (kind "pod") and pod status records (kind "pod_status"). */
  pods: Source & KubePodsSource;
  /** Kubernetes Events (kind "event"); push them to Loki as their own stream. */
  events: Source & KubeEventsSource;
  api: KubeApi;
}

/**
 * Both Kubernetes sources over one API client and one shared pods watch. Start the ones you use; an unused
 * source costs nothing (the events watch starts only with events.start()).
 */
export function createKubeSources(opts: KubeSourceOptions = {}): KubeSources {
  const resolved = resolveKubeOptions(opts);
  const shared = new KubeShared(resolved, opts.api);
  return { pods: new KubePodsSource(shared), events: new KubeEventsSource(shared), api: shared.api };
}
