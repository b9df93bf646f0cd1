/**
 * charts/robot-sre-detector against the kustomize manifests, which stay the reference: `helm template`
 * (the real helm binary of test/env) with default and non-default values must render, object by
 * object (kind, namespace, name), what `kustomize build` renders for manifests/base, the sharded and
 * node-local overlays, and throwaway overlays doing with kustomize what a value does (other sink URLs,
 * Alertmanager, the ServiceMonitor component, no sinks, the bundles component with and without its
 * bounds and NetworkPolicy rules narrowed). Before comparing, only this is normalized:
 *   - Helm's own labels (helm.sh/chart, app.kubernetes.io/managed-by, app.kubernetes.io/version) are
 *     dropped from metadata.labels, after checking their values, where the kustomize object lacks them;
 *   - the pod template's checksum/config annotation is dropped, after checking that it is the sha256
 *     of the rendered config.yaml (Helm's stand-in for kustomize's hashed ConfigMap name);
 *   - kustomize's hash suffix of the config ConfigMap name (robot-sre-detector-config-<hash>) is cut;
 *   - ConfigMap entries that are YAML files (config.yaml, rules.yaml) are compared parsed: Helm renders
 *     values with toYaml (sorted keys, no comments);
 *   - ACCEPTED DIFFERENCE: the objects only the overlays' workload/ directories define (StatefulSet,
 *     DaemonSet, headless Service) lack kustomize's app.kubernetes.io/part-of label there (the base's
 *     `labels:` does not reach them); the chart puts it on every object, so it is accepted on those.
 * Any other difference fails. `helm lint` (and --strict) must pass with each values set, and fail on
 * bad values.
 *
 * The suite fails (never skips) in CI when helm or kustomize is missing.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { binaries, requireBinary, shouldSkip } from '../env/binaries.ts';
import { ensureOrThrow } from '../env/ensure.ts';
import { parseConfig, type Config } from '../../src/config.ts';
import { parseOperatorRules } from '../../src/detect/operator-rules.ts';
import { kustomizeBuild, labelsMatch, manifestsDir, objectKey, parseObjects, repoRoot, run, writeKustomization, type K8sObject } from './k8s-objects.ts';

const chartDir = join(repoRoot, 'charts/robot-sre-detector');
const NS = 'robot-sre-detector';
const RELEASE = 'robot-sre-detector';
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version'] as const;
const PART_OF = 'app.kubernetes.io/part-of';
/** Defined only in manifests/overlays/{sharded,node-local}/workload and the sharded overlay: no part-of label there. */
const OVERLAY_UNLABELLED = new Set(['StatefulSet/robot-sre-detector', 'DaemonSet/robot-sre-detector', 'Service/robot-sre-detector-shards']);
const HASHED_CONFIG = /^(robot-sre-detector-config)-[a-z0-9]{10}$/;
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

type Obj = Record<string, unknown>;
type Values = Record<string, unknown>;
interface Container {
  name: string;
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
}
interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes?: Array<{ name: string; configMap?: { name: string } }>; serviceAccountName?: string };
}

const chartMeta = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion: string };
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const baseConfig = (): Obj => parseYaml(readFileSync(join(manifestsDir, 'base/config/config.yaml'), 'utf8')) as Obj;

const skip = shouldSkip('helm chart (helm, kustomize)', ['helm', 'kustomize']);

function podTemplate(o: K8sObject): PodTemplate {
  return (o.spec as Obj).template as PodTemplate;
}

function workload(objs: K8sObject[]): K8sObject {
  const w = objs.filter((o) => WORKLOADS.has(o.kind));
  expect(w.map(objectKey), 'exactly one workload').toHaveLength(1);
  return w[0]!;
}

function byKind(objs: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

function configMapData(objs: K8sObject[], name: string): Record<string, string> {
  const cm = byKind(objs, 'ConfigMap', name);
  expect(cm, `ConfigMap ${name}`).toHaveLength(1);
  return (cm[0]!.data ?? {}) as Record<string, string>;
}

/** Every string of a value passed through f (names referring to the hashed ConfigMap). */
function mapStrings<T>(x: T, f: (s: string) => string): T {
  if (typeof x === 'string') return f(x) as T;
  if (Array.isArray(x)) return x.map((v) => mapStrings(v, f)) as T;
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, mapStrings(v, f)])) as T;
  return x;
}

function parseYamlEntries(o: K8sObject): K8sObject {
  if (o.kind !== 'ConfigMap' || !o.data) return o;
  const data = Object.fromEntries(Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, /\.ya?ml$/.test(k) ? { parsedYaml: parseYaml(v) as unknown } : v]));
  return { ...o, data };
}

function normalizeKustomize(objs: K8sObject[]): Map<string, K8sObject> {
  return new Map(objs.map((o) => {
    const n = parseYamlEntries(mapStrings(o, (s) => s.replace(HASHED_CONFIG, '$1')));
    return [objectKey(n), n];
  }));
}

/** Helm's objects, normalized as the header says, checking each thing it drops. */
function normalizeHelm(objs: K8sObject[], reference: Map<string, K8sObject>): Map<string, K8sObject> {
  const expectedHelmLabels: Record<(typeof HELM_LABELS)[number], string> = {
    'helm.sh/chart': `${chartMeta.name}-${chartMeta.version}`,
    'app.kubernetes.io/managed-by': 'Helm',
    'app.kubernetes.io/version': chartMeta.appVersion,
  };
  const configs = new Map(byKind(objs, 'ConfigMap').map((cm) => [cm.metadata.name, ((cm.data ?? {}) as Record<string, string>)['config.yaml']]));
  const out = new Map<string, K8sObject>();
  for (const original of objs) {
    const o = structuredClone(original);
    const key = objectKey(o);
    const ref = reference.get(key);
    const labels = { ...(o.metadata.labels ?? {}) };
    for (const l of HELM_LABELS) {
      expect(labels[l], `${key}: label ${l}`).toBe(expectedHelmLabels[l]);
      if (ref?.metadata.labels?.[l] === undefined) delete labels[l];
    }
    const shortKey = `${o.kind}/${o.metadata.name}`;
    if (ref && ref.metadata.labels?.[PART_OF] === undefined && OVERLAY_UNLABELLED.has(shortKey)) {
      expect(labels[PART_OF], `${key}: ${PART_OF}`).toBe('robot-sre-detector');
      delete labels[PART_OF];
    }
    o.metadata.labels = labels;
    if (WORKLOADS.has(o.kind)) {
      const tpl = podTemplate(o);
      const annotations = { ...(tpl.metadata.annotations ?? {}) };
      const mounted = tpl.spec.volumes?.find((v) => v.name === 'config')?.configMap?.name ?? '';
      const text = configs.get(mounted);
      expect(text, `${key}: the config ConfigMap ${mounted} is rendered`).toBeDefined();
      expect(annotations['checksum/config'], `${key}: checksum/config`).toBe(createHash('sha256').update(text!.replace(/\n$/, '')).digest('hex'));
      delete annotations['checksum/config'];
      tpl.metadata.annotations = annotations;
      if (Object.keys(annotations).length === 0) delete tpl.metadata.annotations;
    }
    out.set(key, parseYamlEntries(o));
  }
  return out;
}

function expectSameObjects(helmObjs: K8sObject[], kustomizeObjs: K8sObject[], what: string): void {
  const k = normalizeKustomize(kustomizeObjs);
  const h = normalizeHelm(helmObjs, k);
  expect([...h.keys()].sort(), `${what}: the same objects`).toEqual([...k.keys()].sort());
  for (const [key, obj] of k) expect(h.get(key), `${what}: ${key}`).toEqual(obj);
}

/** What the detector sees in its environment (literal values, downward-API fields filled in). */
function containerEnv(c: Container): NodeJS.ProcessEnv {
  const fields: Record<string, string> = { 'spec.nodeName': 'node-a', 'metadata.name': `${RELEASE}-0` };
  const env: NodeJS.ProcessEnv = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath] ?? '';
  }
  return env;
}

/** The rendered config.yaml through the detector's own parser, with the env its pod sets. */
function renderedConfig(objs: K8sObject[]): Config {
  const w = workload(objs);
  const tpl = podTemplate(w);
  const c = tpl.spec.containers.find((x) => x.name === 'detector')!;
  const cmName = tpl.spec.volumes!.find((v) => v.name === 'config')!.configMap!.name;
  return parseConfig(configMapData(objs, cmName)['config.yaml']!, '/etc/robot-sre-detector/config/config.yaml', containerEnv(c));
}

describe.skipIf(skip)('charts/robot-sre-detector with the real helm, against the kustomize builds', () => {
  let helm = '';
  let kustomize = '';
  let scratch = '';
  let n = 0;
  const reference = new Map<string, K8sObject[]>();

  async function valuesFile(values: Values): Promise<string> {
    const f = join(scratch, `values-${n++}.yaml`);
    await writeFile(f, stringify(values));
    return f;
  }

  async function template(values: Values = {}, args: string[] = []): Promise<K8sObject[]> {
    const { stdout } = await run(helm, ['template', RELEASE, chartDir, '--namespace', NS, '--values', await valuesFile(values), ...args], { maxBuffer: 32 << 20 });
    return parseObjects(stdout);
  }

  async function templateError(values: Values): Promise<string> {
    const err = await run(helm, ['template', RELEASE, chartDir, '--namespace', NS, '--values', await valuesFile(values)]).then(
      () => null,
      (e: { stderr?: string }) => e.stderr ?? String(e),
    );
    expect(err, `helm template ${JSON.stringify(values)} must fail`).not.toBeNull();
    return err!;
  }

  const ref = (name: string): K8sObject[] => {
    const objs = reference.get(name);
    if (!objs) throw new Error(`kustomize reference ${name} was not built`);
    return objs;
  };

  // Non-default values and the kustomize overlay doing the same (built in beforeAll).
  const SINKS: Values = {
    namespace: { create: true },
    loki: { url: 'http://loki-gateway.logging.svc:80' },
    nats: { url: 'nats://nats.messaging.svc:4222' },
    alertmanager: { urls: ['http://alertmanager-operated.monitoring.svc:9093'] },
    config: { alertmanager: { resendInterval: '2m' }, log: { level: 'debug' } },
    networkPolicy: { loki: { podLabels: { 'app.kubernetes.io/component': 'gateway' }, ports: [8080] } },
    serviceMonitor: { enabled: true },
  };
  const NO_SINKS: Values = { namespace: { create: true }, loki: { url: '' }, nats: { url: '' } };
  const BUNDLES: Values = { namespace: { create: true }, bundles: { enabled: true } };
  // The bundle server with other bounds and the NetworkPolicy narrowed as docs/operations.md says:
  // agents only from the robot-sre namespace, metrics only from the shop namespace on 9100 and 8080.
  const AGENTS_NS = { matchLabels: { 'kubernetes.io/metadata.name': 'robot-sre' } };
  const SHOP_NS = { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } };
  const NARROW_PORTS = [{ port: 9100, protocol: 'TCP' }, { port: 8080, protocol: 'TCP' }];
  const BUNDLES_NARROW: Values = {
    namespace: { create: true },
    bundles: { enabled: true, config: { maxDiskBytes: '256MiB', maxConcurrentBuilds: 4, ttl: '30m' } },
    networkPolicy: { bundles: { from: [{ namespaceSelector: AGENTS_NS, podSelector: { matchLabels: { 'robot-sre-detector/bundles-client': 'true' } } }], metricsTo: [{ namespaceSelector: SHOP_NS }], metricsPorts: NARROW_PORTS } },
  };

  beforeAll(async () => {
    if (!binaries().helm.path) await ensureOrThrow('helm');
    if (!binaries().kustomize.path) await ensureOrThrow('kustomize');
    helm = requireBinary(binaries().helm);
    kustomize = requireBinary(binaries().kustomize);
    scratch = await mkdtemp(join(tmpdir(), 'rsd-helm-'));

    const sinksConfig = baseConfig() as Obj & { loki: Obj; nats: Obj; log: Obj };
    sinksConfig.loki.url = 'http://loki-gateway.logging.svc:80';
    sinksConfig.nats.servers = ['nats://nats.messaging.svc:4222'];
    sinksConfig.alertmanager = { resendInterval: '2m', urls: ['http://alertmanager-operated.monitoring.svc:9093'] };
    sinksConfig.log.level = 'debug';
    const bundlesNarrowConfig = parseYaml(readFileSync(join(manifestsDir, 'components/bundles/config.yaml'), 'utf8')) as Obj & { bundles: Obj };
    Object.assign(bundlesNarrowConfig.bundles, { maxDiskBytes: '256MiB', maxConcurrentBuilds: 4, ttl: '30m' });
    const noSinksConfig = baseConfig();
    delete noSinksConfig.loki;
    delete noSinksConfig.nats;
    const configMerge = [{ name: 'robot-sre-detector-config', namespace: NS, behavior: 'merge', files: ['config.yaml'] }];
    const npPatch = (ops: unknown[]) => ({ target: { kind: 'NetworkPolicy', name: 'robot-sre-detector' }, patch: JSON.stringify(ops) });
    const overlays: Record<string, string> = {
      base: join(manifestsDir, 'base'),
      sharded: join(manifestsDir, 'overlays/sharded'),
      'node-local': join(manifestsDir, 'overlays/node-local'),
      sinks: await writeKustomization(join(scratch, 'k-sinks'), {
        resources: [join(manifestsDir, 'base')],
        components: [join(manifestsDir, 'components/servicemonitor')],
        files: { 'config.yaml': stringify(sinksConfig) },
        configMapGenerator: configMerge,
        patches: [npPatch([
          // egress: 0 DNS, 1 API server, 2 Loki, 3 NATS
          { op: 'add', path: '/spec/egress/2/to/0/podSelector/matchLabels/app.kubernetes.io~1component', value: 'gateway' },
          { op: 'replace', path: '/spec/egress/2/ports', value: [{ port: 8080, protocol: 'TCP' }] },
          { op: 'add', path: '/spec/egress/-', value: { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'alertmanager' } } }], ports: [{ port: 9093, protocol: 'TCP' }] } },
        ])],
      }),
      bundles: await writeKustomization(join(scratch, 'k-bundles'), {
        resources: [join(manifestsDir, 'base')],
        components: [join(manifestsDir, 'components/bundles')],
      }),
      // The component's config replaces the one of the kustomization it is in (after that one's own
      // generator), so a config on top of it is merged one level up (as components/bundles says).
      'bundles-narrow': await writeKustomization(join(scratch, 'k-bundles-narrow'), {
        resources: [await writeKustomization(join(scratch, 'k-bundles-inner'), { resources: [join(manifestsDir, 'base')], components: [join(manifestsDir, 'components/bundles')] })],
        files: { 'config.yaml': stringify(bundlesNarrowConfig) },
        configMapGenerator: configMerge,
        patches: [npPatch([
          // ingress: 0 metrics, 1 bundles; egress: 0 DNS, 1 API server, 2 Loki, 3 NATS, 4 bundle metrics
          { op: 'add', path: '/spec/ingress/1/from/0/namespaceSelector', value: AGENTS_NS },
          { op: 'replace', path: '/spec/egress/4', value: { to: [{ namespaceSelector: SHOP_NS }], ports: NARROW_PORTS } },
        ])],
      }),
      'no-sinks': await writeKustomization(join(scratch, 'k-no-sinks'), {
        resources: [join(manifestsDir, 'base')],
        files: { 'config.yaml': stringify(noSinksConfig) },
        configMapGenerator: configMerge,
        patches: [npPatch([{ op: 'remove', path: '/spec/egress/3' }, { op: 'remove', path: '/spec/egress/2' }])],
      }),
    };
    await Promise.all(Object.entries(overlays).map(async ([name, dir]) => reference.set(name, await kustomizeBuild(kustomize, dir))));
  }, 600_000);

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('Chart.yaml: apiVersion v2, version 0.1.0, appVersion = package.json version', () => {
    const c = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { apiVersion: string; name: string };
    expect(c.apiVersion).toBe('v2');
    expect(c.name).toBe('robot-sre-detector');
    expect(chartMeta.version).toBe('0.1.0');
    expect(chartMeta.appVersion).toBe(pkg.version);
  });

  it('default values: the objects of manifests/base, except the Namespace (namespace.create is off)', async () => {
    const base = ref('base');
    const ns = byKind(base, 'Namespace');
    expect(ns.map((o) => o.metadata.name)).toEqual([NS]);
    const objs = await template();
    expect(byKind(objs, 'Namespace')).toHaveLength(0);
    expectSameObjects(objs, base.filter((o) => o.kind !== 'Namespace'), 'default values');
  });

  it('namespace.create=true: exactly manifests/base, the Namespace with its Pod Security labels included', async () => {
    expectSameObjects(await template({ namespace: { create: true } }), ref('base'), 'namespace.create');
  });

  it('mode=sharded: exactly manifests/overlays/sharded (StatefulSet, headless Service, SHARD_COUNT, jetstream-kv)', async () => {
    const objs = await template({ namespace: { create: true }, mode: 'sharded' });
    expectSameObjects(objs, ref('sharded'), 'sharded');
    expect(renderedConfig(objs).kubernetes?.mode).toBe('sharded');
  });

  it('mode=node-local: exactly manifests/overlays/node-local (DaemonSet, NODE_NAME, tolerations)', async () => {
    const objs = await template({ namespace: { create: true }, mode: 'node-local' });
    expectSameObjects(objs, ref('node-local'), 'node-local');
    expect(renderedConfig(objs).kubernetes?.nodeName).toBe('node-a');
  });

  it('loki.url, nats.url, alertmanager.urls, networkPolicy.loki and serviceMonitor.enabled: base + the ServiceMonitor component + the same config and NetworkPolicy edits in kustomize', async () => {
    const objs = await template(SINKS);
    expectSameObjects(objs, ref('sinks'), 'sinks');
    const cfg = renderedConfig(objs);
    expect(cfg.loki?.url).toBe('http://loki-gateway.logging.svc:80');
    expect(cfg.nats?.servers).toEqual(['nats://nats.messaging.svc:4222']);
    const am = cfg.components.find((c) => c.spec.key === 'alertmanager')?.options as { urls: string[]; resendInterval: number } | undefined;
    expect(am?.urls, 'the alertmanager section is parsed by the detector').toEqual(['http://alertmanager-operated.monitoring.svc:9093']);
    expect(am?.resendInterval).toBe(120_000);
  });

  it('loki.url and nats.url empty: no loki/nats config sections and no egress to them (kustomize: the same edits)', async () => {
    const objs = await template(NO_SINKS);
    expectSameObjects(objs, ref('no-sinks'), 'no sinks');
    const cfg = renderedConfig(objs);
    expect(cfg.loki?.url).toBeUndefined();
    expect(cfg.nats).toBeUndefined();
    expect(await template()).not.toEqual(objs);
  });

  it('bundles.enabled: exactly base + manifests/components/bundles (config, port, Secret env, emptyDir, NetworkPolicy rules), with the same RBAC and no Secret rendered', async () => {
    const objs = await template(BUNDLES);
    expectSameObjects(objs, ref('bundles'), 'bundles');
    const defaults = await template({ namespace: { create: true } });
    expect(byKind(objs, 'ClusterRole')[0]!.rules, 'no RBAC verb added').toEqual(byKind(defaults, 'ClusterRole')[0]!.rules);
    expect((byKind(objs, 'ClusterRole')[0]!.rules as Array<{ verbs: string[] }>).flatMap((r) => r.verbs).sort()).toEqual(['get', 'list', 'watch']);
    expect(byKind(objs, 'Secret')).toHaveLength(0);
    const b = renderedConfig(objs).components.find((c) => c.spec.key === 'bundles')?.options as { port: number; jwtSecretEnv: string; dir: string } | undefined;
    expect(b, 'the bundles section is parsed by the detector').toMatchObject({ port: 8090, jwtSecretEnv: 'RSD_BUNDLES_JWT_SECRET', dir: '/var/cache/robot-sre-detector/bundles' });
    expect(podTemplate(workload(objs)).spec.containers[0]!.env?.map((e) => e.name)).toContain(b!.jwtSecretEnv);
    // Off by default: none of it.
    expect(renderedConfig(defaults).components.find((c) => c.spec.key === 'bundles')).toBeUndefined();
  });

  it('bundles.config and networkPolicy.bundles (narrowed to the agents\' and the scraped namespaces): the same config and NetworkPolicy edits in kustomize', async () => {
    const objs = await template(BUNDLES_NARROW);
    expectSameObjects(objs, ref('bundles-narrow'), 'bundles narrowed');
    const b = renderedConfig(objs).components.find((c) => c.spec.key === 'bundles')?.options as { maxConcurrentBuilds: number; maxDiskBytes: number } | undefined;
    expect(b).toMatchObject({ maxConcurrentBuilds: 4, maxDiskBytes: 256 * 2 ** 20 });
  });

  it('refuses bundles outside mode deployment, and the bundles.config fields the chart sets', async () => {
    for (const mode of ['sharded', 'node-local']) expect(await templateError({ mode, bundles: { enabled: true } })).toMatch(/bundles\.enabled needs mode deployment/);
    for (const k of ['port', 'dir', 'jwtSecretEnv', 'enabled']) expect(await templateError({ bundles: { enabled: true, config: { [k]: k === 'port' ? 9000 : k === 'enabled' ? true : 'x' } } })).toMatch(/bundles\/config/);
  });

  it('serviceMonitor (every mode): selects exactly the /metrics Service, whose port http-metrics exists', async () => {
    for (const mode of ['deployment', 'sharded', 'node-local']) {
      const objs = await template({ mode, serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' }, scrapeTimeout: '10s' } });
      const [sm] = byKind(objs, 'ServiceMonitor');
      expect(sm, mode).toBeDefined();
      expect(sm!.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(sm!.metadata.labels?.release).toBe('kube-prometheus-stack');
      const spec = sm!.spec as { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; endpoints: Array<{ port: string; path: string; scrapeTimeout?: string }> };
      expect(spec.namespaceSelector.matchNames).toEqual([NS]);
      const selected = byKind(objs, 'Service').filter((s) => s.metadata.namespace === NS && labelsMatch(spec.selector.matchLabels, s.metadata.labels));
      expect(selected.map((s) => s.metadata.name), mode).toEqual(['robot-sre-detector']);
      const ports = ((selected[0]!.spec as Obj).ports as Array<{ name: string }>).map((p) => p.name);
      expect(ports).toContain(spec.endpoints[0]!.port);
      expect(spec.endpoints[0]!.path).toBe('/metrics');
      expect(spec.endpoints[0]!.scrapeTimeout).toBe('10s');
    }
  });

  it('podMonitor: base + one PodMonitor selecting the detector pods on their http port', async () => {
    const objs = await template({ namespace: { create: true }, podMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } } });
    const pm = byKind(objs, 'PodMonitor');
    expect(pm).toHaveLength(1);
    expectSameObjects(objs.filter((o) => o.kind !== 'PodMonitor'), ref('base'), 'podMonitor: the rest');
    const spec = pm[0]!.spec as { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; podMetricsEndpoints: Array<{ port: string; path: string }> };
    expect(pm[0]!.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pm[0]!.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(spec.namespaceSelector.matchNames).toEqual([NS]);
    const tpl = podTemplate(workload(objs));
    expect(labelsMatch(spec.selector.matchLabels, tpl.metadata.labels)).toBe(true);
    expect(tpl.spec.containers[0]!.ports?.map((p) => p.name)).toContain(spec.podMetricsEndpoints[0]!.port);
    expect(spec.podMetricsEndpoints[0]!.path).toBe('/metrics');
  });

  it('sharded.replicas sets replicas, SHARD_COUNT and the parsed shard count together', async () => {
    const objs = await template({ mode: 'sharded', sharded: { replicas: 5 } });
    const sts = workload(objs);
    expect((sts.spec as { replicas: number }).replicas).toBe(5);
    expect(podTemplate(sts).spec.containers[0]!.env?.find((e) => e.name === 'SHARD_COUNT')?.value).toBe('5');
    expect(renderedConfig(objs).kubernetes?.shardCount).toBe(5);
    expect(renderedConfig(objs).state.store).toBe('jetstream-kv');
  });

  it('a config change rolls the pods (checksum/config changes); a rules or pipelines change does not (reloaded in place)', async () => {
    const checksum = (objs: K8sObject[]) => podTemplate(workload(objs)).metadata.annotations?.['checksum/config'];
    const defaults = await template();
    const rules = [{ name: 'x', source: 'logs', match: { contains: ['boom'] }, severity: 'error', incident_type: 'boom', domain: 'runtime' }];
    const changedRules = await template({ rules, pipelines: { 'other.ts': "export default [];\n" } });
    expect(checksum(changedRules)).toBe(checksum(defaults));
    expect(parseOperatorRules(configMapData(changedRules, 'robot-sre-detector-rules')['rules.yaml']!, 'rules.yaml').rules.map((r) => r.id)).toEqual(['x']);
    expect(Object.keys(configMapData(changedRules, 'robot-sre-detector-pipelines')).sort()).toEqual(['other.ts', 'site.ts']);
    expect(checksum(await template({ config: { log: { level: 'debug' } } }))).not.toBe(checksum(defaults));
    expect(checksum(await template({ loki: { url: 'http://other:3100' } }))).not.toBe(checksum(defaults));
  });

  it('fullnameOverride renames every object consistently and keeps the pod label the detector skips itself by', async () => {
    const objs = await template({ fullnameOverride: 'rsd-b', serviceMonitor: { enabled: true } });
    for (const o of objs) expect(o.metadata.name, objectKey(o)).toMatch(/^rsd-b(-config|-rules|-pipelines)?$/);
    const w = workload(objs);
    const tpl = podTemplate(w);
    for (const v of tpl.spec.volumes ?? []) if (v.configMap) expect(byKind(objs, 'ConfigMap', v.configMap.name), v.configMap.name).toHaveLength(1);
    expect(byKind(objs, 'ServiceAccount', tpl.spec.serviceAccountName)).toHaveLength(1);
    expect(byKind(objs, 'ClusterRoleBinding')[0]!.subjects).toEqual([{ kind: 'ServiceAccount', name: 'rsd-b', namespace: NS }]);
    expect(tpl.metadata.labels?.['app.kubernetes.io/name']).toBe('robot-sre-detector');
  });

  it('refuses bad values: unknown mode, both monitors, an unknown top-level value', async () => {
    expect(await templateError({ mode: 'cluster' })).toMatch(/mode/);
    expect(await templateError({ serviceMonitor: { enabled: true }, podMonitor: { enabled: true } })).toMatch(/serviceMonitor or podMonitor/);
    expect(await templateError({ replicas: 2 })).toMatch(/replicas/);
  });

  it('helm lint and helm lint --strict pass with default and non-default values, and fail on bad values', async () => {
    const sets: Values[] = [{}, { mode: 'sharded' }, { mode: 'node-local', podMonitor: { enabled: true } }, SINKS, NO_SINKS, BUNDLES, BUNDLES_NARROW];
    for (const values of sets) {
      const f = await valuesFile(values);
      for (const strict of [[], ['--strict']]) {
        const { stdout } = await run(helm, ['lint', chartDir, '--namespace', NS, '--values', f, ...strict]);
        expect(stdout, `${JSON.stringify(values)} ${strict.join(' ')}`).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      }
    }
    const bad = await valuesFile({ mode: 'bogus' });
    await expect(run(helm, ['lint', chartDir, '--values', bad])).rejects.toThrow(/1 chart\(s\) failed/);
  });

  it('values.yaml: every value is in the README values table', () => {
    const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Obj;
    const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
    // Documented as a whole: free-form maps (config, rules, pipelines, label/selector maps, K8s objects).
    const whole = new Set(['config', 'bundles.config', 'rules', 'pipelines', 'namespace.labels', 'podSecurityContext', 'securityContext', 'probes', 'deployment.resources', 'sharded.resources', 'nodeLocal.resources', 'networkPolicy.loki.podLabels', 'networkPolicy.nats.podLabels', 'networkPolicy.alertmanager.podLabels', 'volumes']);
    const paths: string[] = [];
    const walk = (o: Obj, prefix: string): void => {
      for (const [k, v] of Object.entries(o)) {
        const p = prefix ? `${prefix}.${k}` : k;
        if (!whole.has(p) && v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) walk(v as Obj, p);
        else paths.push(p);
      }
    };
    walk(values, '');
    expect(paths.filter((p) => !readme.includes(`| \`${p}\``))).toEqual([]);
  });
});
