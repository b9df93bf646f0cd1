/**
 * `kubernetes:` in the config: pod logs, pod status and Events through the Kubernetes API. On by
 * default (the section may be absent), except on a host whose config has a `services:` section and
 * does not turn it on. The sources' defaults live in options.ts (KUBE_DEFAULTS); the schema shows them.
 */
import { defineComponent, type BuildContext, type Built } from '../../components/component.ts';
import { checkReadable, defineSchema, type Values } from '../../components/schema.ts';
import { KUBE_DEFAULTS, resolveKubeOptions, type KubeSourceOptions } from './options.ts';

export const kubernetesSchema = defineSchema({
  enabled: { type: 'boolean', default: true, doc: 'read through the Kubernetes API; a config with `services:` (a host without Kubernetes) has it off unless set to true' },
  kubeconfig: { type: 'string', doc: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the pod’s ServiceAccount)' },
  context: { type: 'string', doc: 'kubeconfig context (default: its current-context)' },
  namespaces: { type: 'list', default: [], doc: 'namespaces to read; empty: all (env RSD_NAMESPACES). With a list, the ClusterRoleBinding can become one RoleBinding per namespace (see manifests/base/rbac.yaml)' },
  labelSelector: { type: 'string', doc: 'label selector of the pods watch' },
  fieldSelector: { type: 'string', doc: 'field selector of the pods watch' },
  mode: { type: 'enum', values: ['cluster', 'node-local', 'sharded'], default: 'cluster', doc: 'one replica reads everything, each replica the pods of its node (DaemonSet), or replica shardIndex of shardCount its share of the workloads' },
  nodeName: { type: 'string', doc: 'node-local mode: this node (env NODE_NAME, from the downward API)' },
  shardIndex: { type: 'integer', min: 0, doc: 'sharded mode: this replica (default: the ordinal of $HOSTNAME, rsd-2 → 2)' },
  shardCount: { type: 'integer', min: 1, doc: 'sharded mode: the number of replicas, required there; every replica must agree on it (env SHARD_COUNT, set next to `replicas` in the StatefulSet)' },
  maxContainers: { type: 'integer', min: 1, default: KUBE_DEFAULTS.maxContainers, doc: 'containers followed at once; the excess waits and is counted in rsd_skipped_containers' },
  maxStreamsPerNode: { type: 'integer', min: 1, default: KUBE_DEFAULTS.maxStreamsPerNode, doc: 'concurrent log streams per node (per kubelet)' },
  lookback: { type: 'duration', min: 1000, max: 3_300_000, default: KUBE_DEFAULTS.lookbackSeconds * 1000, doc: 'the first time a container is seen, read from max(its start, now − lookback); at most 55 min (Loki’s out-of-order window)' },
  podStatus: { type: 'boolean', default: true, doc: 'emit pod_status records (waiting reasons, terminations, OOMKilled)' },
  events: {
    type: 'mapping',
    doc: 'core/v1 Events',
    fields: {
      enabled: { type: 'boolean', default: true, doc: 'watch Events' },
      namespaces: { type: 'list', doc: 'namespaces of Events (default: `kubernetes.namespaces`)' },
    },
  },
});

export type KubernetesValues = Values<typeof kubernetesSchema>;

/** The sources' options from a `kubernetes:` section (the state store and pressure come from the build context). */
export function kubeSourceOptions(o: KubernetesValues, cluster: string): KubeSourceOptions {
  return {
    cluster,
    namespaces: o.namespaces,
    mode: o.mode,
    maxContainers: o.maxContainers,
    maxStreamsPerNode: o.maxStreamsPerNode,
    lookbackSeconds: Math.round(o.lookback / 1000),
    podStatus: o.podStatus,
    events: { enabled: o.events.enabled, ...(o.events.namespaces ? { namespaces: o.events.namespaces } : {}) },
    ...(o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {}),
    ...(o.context ? { context: o.context } : {}),
    ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
    ...(o.fieldSelector ? { fieldSelector: o.fieldSelector } : {}),
    ...(o.nodeName ? { nodeName: o.nodeName } : {}),
    ...(o.shardIndex !== undefined ? { shardIndex: o.shardIndex } : {}),
    ...(o.shardCount !== undefined ? { shardCount: o.shardCount } : {}),
  };
}

export const kubernetesComponent = defineComponent({
  key: 'kubernetes',
  kind: 'source',
  doc: 'Pod logs (follow streams with cursors advanced on the log sink’s acknowledgement), pod status and Events through the Kubernetes API, in one of three modes. See docs/kubernetes-source.md.',
  schema: kubernetesSchema,
  implicit: (doc) => !('services' in doc),
  enabled: (o, doc) => {
    const section = doc.kubernetes;
    const explicit = !!section && typeof section === 'object' && (section as Record<string, unknown>).enabled === true;
    return o.enabled && (explicit || !('services' in doc));
  },
  validate(o, ctx) {
    if (o.mode === 'sharded' && o.shardCount === undefined) ctx.fail('shardCount', 'required in sharded mode (or set SHARD_COUNT)');
    if (o.mode === 'node-local' && !o.nodeName) ctx.fail('nodeName', 'required in node-local mode (set NODE_NAME from the downward API)');
  },
  build: (o, ctx) => buildKubeSources(o, ctx),
});

async function buildKubeSources(o: KubernetesValues, ctx: BuildContext): Promise<Built> {
  const options: KubeSourceOptions = { ...kubeSourceOptions(o, ctx.cluster), stateStore: ctx.store, pressure: ctx.pressure };
  if (ctx.checkOnly) {
    resolveKubeOptions(options);
    if (o.kubeconfig) checkReadable(o.kubeconfig, 'kubernetes.kubeconfig');
    return {};
  }
  const { createKubeSources } = await import('./index.ts');
  const kube = createKubeSources(options);
  return { sources: o.events.enabled ? [kube.pods, kube.events] : [kube.pods] };
}
