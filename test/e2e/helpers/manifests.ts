/**
 * manifests/ applied to the real API server the way an operator would: rendered by the real kubectl
 * (its built-in kustomize), checked with a server-side dry run (admission, validation, RBAC escalation
 * checks all run), then applied for real. Nothing here knows what the manifests contain beyond their kinds.
 */
import { parseAllDocuments } from 'yaml';
import type { KubeEnv } from '../../env/kube.ts';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

export interface AppliedManifests {
  objects: K8sObject[];
  /** kubectl's own words, dry run and real apply (for failure messages and the report). */
  dryRunOutput: string;
  applyOutput: string;
  /** The ServiceAccount a ClusterRoleBinding grants the ClusterRole to (the detector's identity). */
  serviceAccount: { namespace: string; name: string };
  /** The ConfigMaps as applied, by name (generated names carry kustomize's content hash). */
  configMaps: Map<string, Record<string, string>>;
}

const list = (items: K8sObject[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

export async function renderManifests(env: KubeEnv, dir: string): Promise<K8sObject[]> {
  const yaml = await env.kubectl(['kustomize', dir]);
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o.kind === 'string');
}

/**
 * Dry run, then apply. Namespaces go first for real: a server-side dry run of a namespaced object in a
 * namespace that does not exist yet fails with NotFound (the namespace's own dry run creates nothing),
 * which is what `kubectl apply --dry-run=server -k` does on a fresh cluster too.
 */
export async function applyManifests(env: KubeEnv, dir: string): Promise<AppliedManifests> {
  const objects = await renderManifests(env, dir);
  const namespaces = objects.filter((o) => o.kind === 'Namespace');
  const rest = objects.filter((o) => o.kind !== 'Namespace');
  let dryRunOutput = '';
  let applyOutput = '';
  if (namespaces.length) {
    dryRunOutput += await env.kubectl(['apply', '--dry-run=server', '-f', '-'], list(namespaces));
    applyOutput += await env.kubectl(['apply', '-f', '-'], list(namespaces));
  }
  dryRunOutput += await env.kubectl(['apply', '--dry-run=server', '-f', '-'], list(rest));
  applyOutput += await env.kubectl(['apply', '-f', '-'], list(rest));

  const crb = objects.find((o) => o.kind === 'ClusterRoleBinding');
  const subject = (crb?.subjects as { kind: string; name: string; namespace?: string }[] | undefined)?.find((s) => s.kind === 'ServiceAccount');
  if (!subject?.namespace) throw new Error(`${dir}: no ClusterRoleBinding with a ServiceAccount subject`);
  if (!objects.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === subject.name && o.metadata.namespace === subject.namespace)) {
    throw new Error(`${dir}: the ClusterRoleBinding names ServiceAccount ${subject.namespace}/${subject.name}, which the manifests do not create`);
  }
  const configMaps = new Map<string, Record<string, string>>();
  for (const o of objects.filter((x) => x.kind === 'ConfigMap')) {
    // Read back what the server stored, not what was rendered: that is what a pod would mount.
    const cm = await env.api<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${o.metadata.namespace}/configmaps/${o.metadata.name}`);
    configMaps.set(o.metadata.name, cm.data ?? {});
  }
  return { objects, dryRunOutput, applyOutput, serviceAccount: { namespace: subject.namespace, name: subject.name }, configMaps };
}
