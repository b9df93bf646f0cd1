/** The Target of records read on a host (files, journald): the configured labels and the host. */
import { hostname } from 'node:os';
import type { Target } from '../model/log-record.ts';

export interface HostLabels {
  namespace: string;
  service?: string;
  app?: string;
  component?: string;
  host?: string;
}

/** The host records name: the configured one, else $NODE_NAME (the downward API), else the host name. */
export function hostOf(labels: HostLabels): string {
  return labels.host ?? process.env.NODE_NAME ?? hostname();
}

export function hostTarget(cluster: string, l: HostLabels): Target {
  return {
    cluster,
    namespace: l.namespace,
    node: hostOf(l),
    ...(l.service ? { service: l.service } : {}),
    ...(l.app ? { app: l.app } : {}),
    ...(l.component ? { component: l.component } : {}),
  };
}
