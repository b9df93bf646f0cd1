/**
 * `kubernetesFiles:` in the config — the Kubernetes files profile (a DaemonSet): the pod logs of this
 * node read from the kubelet's files under /var/log/pods, labelled from a node-scoped pods informer, so
 * Loki streams, labels and findings are those of the API pods source for the same pods.
 */
import { defineComponent } from '../../components/component.ts';
import { defineSchema } from '../../components/schema.ts';

const schema = defineSchema({
  enabled: { type: 'boolean', default: true, doc: 'read pod logs from the node’s files (the section is off when absent); needs `kubernetes.enabled: false`, since this replaces the API pods source' },
  root: { type: 'string', default: '/var/log/pods', doc: 'the kubelet’s pod log directory (`<namespace>_<pod>_<uid>/<container>/<restart>.log`), mounted read-only' },
  nodeName: { type: 'string', doc: 'this node (default `kubernetes.nodeName`, i.e. $NODE_NAME from the downward API): the pods informer watches only its pods' },
  kubeconfig: { type: 'string', doc: 'kubeconfig file (default in-cluster)' },
  context: { type: 'string', doc: 'kubeconfig context' },
  namespaces: { type: 'list', default: [], doc: 'namespaces to read (empty: all); only their directories are read' },
  labelSelector: { type: 'string', doc: 'label selector of the pods informer; files of pods outside it are skipped (`rsd_kube_files_dropped_total{reason="not_selected"}`)' },
  lookback: { type: 'duration', default: '10m', min: 1000, max: 3_300_000, doc: 'at the very first start on a node, lines older than this are skipped (as the API source’s first sight); afterwards positions resume' },
  podStatus: { type: 'boolean', default: true, doc: 'emit `pod_status` records (waiting reasons, terminations, OOMKilled) from the informer, as the API source does' },
  podWait: { type: 'duration', default: '5s', min: 0, doc: 'a file whose pod the informer does not know (yet) waits this long, then is read with labels from its path (namespace, pod, container), counted in `rsd_kube_files_lines_total{labels="path"}`' },
  events: {
    type: 'mapping',
    doc: 'Kubernetes Events of this node (as `kubernetes.mode: node-local`)',
    fields: { enabled: { type: 'boolean', default: true, doc: 'watch the events about this node’s pods and the node itself' } },
  },
  maxOpenFiles: { type: 'integer', default: 1024, min: 1, doc: 'files held open at once; the excess waits its turn' },
  maxLineSize: { type: 'bytes', default: '256KiB', min: 1024, doc: 'a (reassembled) line longer than this keeps its head, marked `malformed: truncated`' },
  pollInterval: { type: 'duration', default: '1s', min: 50, doc: 'open files are checked this often (inotify wakes them sooner)' },
  scanInterval: { type: 'duration', default: '10s', min: 100, doc: 'the pod directories are listed again this often' },
  watch: { type: 'boolean', default: true, doc: 'watch the directories (inotify) besides polling' },
  rotateWait: { type: 'duration', default: '5s', min: 0, doc: 'a rotated or deleted file is read until quiet this long' },
  closeIdleAfter: { type: 'duration', default: '5m', min: 100, doc: 'a file with nothing new for this long is closed (a write reopens it)' },
  positionsFlush: { type: 'duration', default: '10s', min: 0, doc: 'acknowledged positions are written this often, coalesced (as the API source’s cursors); a crash re-reads at most this much of each file, with the same CRI timestamps. One store write per file per flush: 500 files at 200ms cost a core with the file store' },
});

export const kubeFilesComponent = defineComponent({
  key: 'kubernetesFiles',
  kind: 'source',
  doc: 'The Kubernetes files profile (a DaemonSet): this node’s pod logs from /var/log/pods (CRI format, `P` fragments reassembled, the instance from the file name), labelled from a node-scoped pods informer like the API pods source, so streams, labels and findings are the same; pod status records and the node’s events as in node-local mode. See docs/kubernetes-sources.md.',
  schema,
  enabled: (o) => o.enabled,
  validate(o, ctx) {
    if (!o.enabled) return;
    if (!o.root.startsWith('/')) ctx.fail('root', 'must be an absolute path');
    const k = ctx.document.kubernetes as { enabled?: unknown; nodeName?: unknown } | undefined;
    if (!k || k.enabled !== false) ctx.fail('enabled', 'the files profile replaces the Kubernetes API pods source: set kubernetes.enabled: false (with both, every line would be shipped twice)');
    // kubernetes.nodeName holds $NODE_NAME (config.ts's env overrides) or the file's value: build() reads it from here.
    if (!o.nodeName && typeof k?.nodeName === 'string' && k.nodeName) o.nodeName = k.nodeName;
    if (!o.nodeName && !process.env.NODE_NAME) ctx.fail('nodeName', 'required (or kubernetes.nodeName, or $NODE_NAME from the downward API)');
  },
  async build(o, ctx) {
    if (ctx.checkOnly) return {};
    const { createKubeFilesSources } = await import('./index.ts');
    const nodeName = o.nodeName ?? process.env.NODE_NAME;
    const built = createKubeFilesSources({
      kube: {
        cluster: ctx.cluster,
        ...(nodeName ? { nodeName } : {}),
        namespaces: o.namespaces,
        ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
        ...(o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {}),
        ...(o.context ? { context: o.context } : {}),
        lookbackSeconds: Math.round(o.lookback / 1000),
        podStatus: o.podStatus,
        stateStore: ctx.store,
        pressure: ctx.pressure,
      },
      files: {
        root: o.root,
        podWaitMs: o.podWait,
        maxOpenFiles: o.maxOpenFiles,
        maxLineBytes: o.maxLineSize,
        pollIntervalMs: o.pollInterval,
        scanIntervalMs: o.scanInterval,
        closeIdleMs: o.closeIdleAfter,
        rotateWaitMs: o.rotateWait,
        positionsFlushMs: o.positionsFlush,
        watch: o.watch,
        log: ctx.log,
      },
    });
    ctx.log.info({ root: o.root, nodeName, events: o.events.enabled }, 'kubernetes files source built');
    return { sources: o.events.enabled ? [built.pods, built.events] : [built.pods] };
  },
});
