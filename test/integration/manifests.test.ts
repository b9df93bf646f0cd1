/**
 * The deployment as shipped: every kustomization under manifests/ is built with the real kustomize
 * binary of test/env and the output is checked for what the issue asks of it — least-privilege RBAC,
 * the restricted pod security profile on every pod, probes on /healthz and /readyz, a NetworkPolicy
 * that lets the detector reach DNS, the API server, Loki and NATS only, a config that the detector's
 * own parser accepts (with the env each workload sets), operator rules that parse, and a site pipeline
 * that loads from a ConfigMap-shaped mount without rebuilding the image. Loki's and NATS's configs go
 * through the real nats-server binary and Loki 3's configuration schema (transcribed: the Loki module is AGPL). The Dockerfile is checked for its structure (there is
 * no Docker engine here to build it).
 *
 * The suite fails (never skips) in CI when kustomize is missing.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { binaries, requireBinary, shouldSkip } from '../env/binaries.ts';
import { ensureOrThrow } from '../env/ensure.ts';
import { parseConfig, type Config } from '../../src/config.ts';
import { parseOperatorRules } from '../../src/detect/operator-rules.ts';
import { replicaIndexFromHostname } from '../../src/sources/shard.ts';
import { DEFAULT_STATE_BUCKET, DEFAULT_STREAMS } from '../../src/nats/streams.ts';
import { kustomizeBuild, writeKustomization } from './k8s-objects.ts';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const manifests = join(root, 'manifests');

type Obj = Record<string, unknown>;
interface K8s {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string; optional?: boolean } } }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Obj & { capabilities?: { drop?: string[]; add?: string[] } };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  emptyDir?: Obj;
  hostPath?: unknown;
  [k: string]: unknown;
}
interface PodSpec {
  serviceAccountName?: string;
  securityContext?: Obj & { seccompProfile?: { type: string } };
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  tolerations?: unknown[];
}
interface PodTemplate {
  metadata: { labels?: Record<string, string> };
  spec: PodSpec;
}

const BUILDS = ['base', 'loki', 'nats', 'grafana', 'overlays/small', 'overlays/node-local', 'overlays/sharded'] as const;
/** A build plus components/bundles (a throwaway kustomization, built in beforeAll): every per-build check applies to them too. */
const BUNDLES_BUILDS = { 'base+bundles': 'base', 'overlays/small+bundles': 'overlays/small' } as const;
type BundlesBuild = keyof typeof BUNDLES_BUILDS;
type BuildName = (typeof BUILDS)[number] | BundlesBuild;
const DETECTOR_BUILDS = ['base', 'overlays/small', 'overlays/node-local', 'overlays/sharded', 'base+bundles', 'overlays/small+bundles'] as const;
const EXPECTED_KIND: Record<(typeof DETECTOR_BUILDS)[number], string> = {
  base: 'Deployment',
  'overlays/small': 'Deployment',
  'overlays/node-local': 'DaemonSet',
  'overlays/sharded': 'StatefulSet',
  'base+bundles': 'Deployment',
  'overlays/small+bundles': 'Deployment',
};
/** The label the bundles component's NetworkPolicy admits agents by. */
const BUNDLES_CLIENT_LABEL = 'robot-sre-detector/bundles-client';
const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'Job', 'CronJob']);
const DETECTOR = 'robot-sre-detector';

const skip = shouldSkip('manifests (kustomize)', ['kustomize']);

function podTemplate(o: K8s): PodTemplate {
  const spec = o.spec as Obj;
  if (o.kind === 'CronJob') return ((spec.jobTemplate as Obj).spec as Obj).template as PodTemplate;
  return spec.template as PodTemplate;
}

function find(objs: K8s[], kind: string, name?: string): K8s[] {
  return objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

function one(objs: K8s[], kind: string, name?: string): K8s {
  const hits = find(objs, kind, name);
  expect(hits, `${kind}${name ? `/${name}` : ''}`).toHaveLength(1);
  return hits[0]!;
}

/** Kubernetes quantities → bytes (memory) or millicores (cpu). */
function quantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`bad quantity ${q}`);
  const n = parseFloat(m[1]!);
  const mult: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return n * (m[2] ? mult[m[2]]! : 1);
}

function detectorWorkload(objs: K8s[]): K8s {
  const hits = objs.filter((o) => WORKLOAD_KINDS.has(o.kind) && o.kind !== 'Job' && o.metadata.name === DETECTOR);
  expect(hits.map((h) => h.kind), 'exactly one detector workload').toHaveLength(1);
  return hits[0]!;
}

function detectorContainer(w: K8s): Container {
  const c = podTemplate(w).spec.containers.find((x) => x.name === 'detector');
  expect(c, 'container "detector"').toBeDefined();
  return c!;
}

/** What the process would see in its environment: literal values, downward-API fields filled in. */
function containerEnv(c: Container, fieldValues: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = fieldValues[e.valueFrom.fieldRef.fieldPath] ?? `<${e.valueFrom.fieldRef.fieldPath}>`;
  }
  return env;
}

/** The ConfigMap a volume of the pod refers to, and the file path each of its keys appears at. */
function mountedConfigMaps(objs: K8s[], tpl: PodTemplate, c: Container): Array<{ cm: K8s; files: Map<string, string> }> {
  const out: Array<{ cm: K8s; files: Map<string, string> }> = [];
  for (const vm of c.volumeMounts ?? []) {
    const vol = tpl.spec.volumes?.find((v) => v.name === vm.name);
    if (!vol?.configMap) continue;
    const cm = one(objs, 'ConfigMap', vol.configMap.name);
    const data = (cm.data ?? {}) as Record<string, string>;
    const files = new Map<string, string>();
    const items = vol.configMap.items ?? Object.keys(data).map((k) => ({ key: k, path: k }));
    for (const it of items) {
      if (vm.subPath) {
        if (it.path === vm.subPath) files.set(vm.mountPath, it.key);
      } else files.set(posix.join(vm.mountPath, it.path), it.key);
    }
    out.push({ cm, files });
  }
  return out;
}

function fileContent(objs: K8s[], tpl: PodTemplate, c: Container, path: string): string | undefined {
  for (const { cm, files } of mountedConfigMaps(objs, tpl, c)) {
    const key = files.get(path);
    if (key !== undefined) return ((cm.data ?? {}) as Record<string, string>)[key];
  }
  return undefined;
}

function writableMount(tpl: PodTemplate, c: Container, path: string): boolean {
  return (c.volumeMounts ?? []).some((vm) => {
    const vol = tpl.spec.volumes?.find((v) => v.name === vm.name);
    return !vm.readOnly && !!vol?.emptyDir && (path === vm.mountPath || path.startsWith(`${vm.mountPath}/`));
  });
}

function configPath(c: Container): string {
  const args = c.args ?? [];
  const i = args.findIndex((a) => a === '-c' || a === '--config');
  expect(i, 'the detector is started with -c FILE').toBeGreaterThanOrEqual(0);
  return args[i + 1]!;
}

function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

describe.skipIf(skip)('manifests/ built with the real kustomize', () => {
  const built = new Map<BuildName, K8s[]>();
  let scratch = '';

  beforeAll(async () => {
    if (!binaries().kustomize.path) await ensureOrThrow('kustomize');
    const kustomize = requireBinary(binaries().kustomize);
    scratch = await mkdtemp(join(tmpdir(), 'rsd-manifests-'));
    await Promise.all(
      BUILDS.map(async (b) => {
        const { stdout } = await run(kustomize, ['build', join(manifests, b)], { maxBuffer: 32 << 20 });
        const docs = parseAllDocuments(stdout).map((d) => d.toJS() as K8s);
        built.set(b, docs);
      }),
    );
    await Promise.all(
      Object.entries(BUNDLES_BUILDS).map(async ([name, from]) => {
        const dir = await writeKustomization(join(scratch, name.replace(/[/+]/g, '-')), { resources: [join(manifests, from)], components: [join(manifests, 'components/bundles')] });
        built.set(name as BundlesBuild, (await kustomizeBuild(kustomize, dir)) as K8s[]);
      }),
    );
  }, 120_000);

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const get = (b: BuildName): K8s[] => {
    const objs = built.get(b);
    if (!objs) throw new Error(`${b} was not built`);
    return objs;
  };

  it('builds every kustomization into named objects', () => {
    for (const b of [...BUILDS, ...(Object.keys(BUNDLES_BUILDS) as BundlesBuild[])]) {
      const objs = get(b);
      expect(objs.length, b).toBeGreaterThan(0);
      for (const o of objs) {
        expect(o.apiVersion, `${b}: apiVersion`).toBeTruthy();
        expect(o.metadata?.name, `${b}: ${o.kind} name`).toBeTruthy();
      }
    }
  });

  describe.each(DETECTOR_BUILDS)('%s', (b) => {
    it(`runs the detector as a ${EXPECTED_KIND[b]}`, () => {
      const w = detectorWorkload(get(b));
      expect(w.kind).toBe(EXPECTED_KIND[b]);
      expect(find(get(b), 'Deployment', DETECTOR).length + find(get(b), 'DaemonSet', DETECTOR).length + find(get(b), 'StatefulSet', DETECTOR).length).toBe(1);
    });

    it('RBAC: one ClusterRole with exactly get/list/watch on pods, pods/log and events, bound to the pod ServiceAccount', () => {
      const objs = get(b);
      expect(find(objs, 'Role'), 'no namespaced Role').toHaveLength(0);
      const roles = find(objs, 'ClusterRole');
      expect(roles).toHaveLength(1);
      const rules = (roles[0]!.rules ?? []) as Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
      const grants = rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))));
      const expected = ['pods', 'pods/log', 'events'].flatMap((res) => ['get', 'list', 'watch'].map((v) => `/${res}:${v}`));
      expect([...new Set(grants)].sort()).toEqual(expected.sort());
      expect(grants).toHaveLength(expected.length);

      const w = detectorWorkload(objs);
      const sa = podTemplate(w).spec.serviceAccountName;
      expect(sa).toBeTruthy();
      one(objs, 'ServiceAccount', sa);
      const binding = one(objs, 'ClusterRoleBinding');
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roles[0]!.metadata.name });
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa, namespace: w.metadata.namespace }]);
      // api.ts points a 403 at this file; it must still hold the rules.
      const rbacFile = parseAllDocuments(readFileSync(join(manifests, 'base/rbac.yaml'), 'utf8')).map((d) => d.toJS() as K8s);
      expect(find(rbacFile, 'ClusterRole')).toHaveLength(1);
    });

    it('probes: liveness /healthz, readiness /readyz on the config server.port', () => {
      const w = detectorWorkload(get(b));
      const c = detectorContainer(w);
      const port = (ref: string | number | undefined): number | undefined =>
        typeof ref === 'number' ? ref : c.ports?.find((p) => p.name === ref)?.containerPort;
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      if (c.startupProbe) expect(c.startupProbe.httpGet?.path).toBe('/healthz');
      const cfg = detectorConfig(b);
      expect(port(c.livenessProbe?.httpGet?.port)).toBe(cfg.server.port);
      expect(port(c.readinessProbe?.httpGet?.port)).toBe(cfg.server.port);
      // /metrics is served on the same port.
      const svc = find(get(b), 'Service').find((s) => labelsMatch((s.spec as Obj).selector as Record<string, string>, podTemplate(w).metadata.labels) && (s.spec as Obj).clusterIP !== 'None');
      expect(svc, 'a Service for /metrics').toBeDefined();
      const sp = ((svc!.spec as Obj).ports as Array<{ port: number; targetPort: string | number }>)[0]!;
      expect(port(sp.targetPort)).toBe(cfg.server.port);
    });

    it('requests and limits are set, the V8 heap cap fits under the memory limit', () => {
      const c = detectorContainer(detectorWorkload(get(b)));
      const r = c.resources;
      for (const k of ['cpu', 'memory'] as const) {
        expect(r?.requests?.[k], `requests.${k}`).toBeTruthy();
        expect(r?.limits?.[k], `limits.${k}`).toBeTruthy();
        expect(quantity(r!.limits![k]!)).toBeGreaterThanOrEqual(quantity(r!.requests![k]!));
      }
      const heap = /--max-old-space-size=(\d+)/.exec(c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '');
      expect(heap, 'NODE_OPTIONS caps the heap').not.toBeNull();
      expect(Number(heap![1]) * 2 ** 20).toBeLessThan(quantity(r!.limits!.memory!) * 0.8);
    });

    it('config: the mounted config.yaml passes parseConfig with the env the pod sets, and points inside the mounts', () => {
      const objs = get(b);
      const w = detectorWorkload(objs);
      const tpl = podTemplate(w);
      const c = detectorContainer(w);
      const cfg = detectorConfig(b);
      expect(cfg.kubernetes?.mode).toBe({ Deployment: 'cluster', DaemonSet: 'node-local', StatefulSet: 'sharded' }[w.kind]);
      // Operator rules: every configured file is mounted and parses.
      expect(cfg.pipelines.rules.length).toBeGreaterThan(0);
      for (const f of cfg.pipelines.rules) {
        const text = fileContent(objs, tpl, c, f);
        expect(text, `${f} is mounted`).toBeDefined();
        expect(parseOperatorRules(text!, f).rules.length).toBeGreaterThan(0);
      }
      // Pipeline directories are ConfigMap mounts.
      for (const d of cfg.pipelines.dirs) {
        expect(c.volumeMounts?.some((vm) => vm.mountPath === d && tpl.spec.volumes?.find((v) => v.name === vm.name)?.configMap), `${d} is a ConfigMap mount`).toBe(true);
      }
      // The root filesystem is read-only: everything the detector writes is on an emptyDir.
      for (const dir of [cfg.state.dir, cfg.loki?.spool.dir, cfg.nats?.spoolDir, bundlesOptions(cfg)?.dir].filter((x): x is string => !!x)) {
        expect(writableMount(tpl, c, dir), `${dir} is on a writable emptyDir`).toBe(true);
      }
      // emptyDir usage (not memory-backed) counts against the pod's ephemeral-storage limit: the
      // sizeLimits must fit under it, or the kubelet evicts the pod before an emptyDir is full.
      const disk = (tpl.spec.volumes ?? []).filter((v) => v.emptyDir && (v.emptyDir as { medium?: string }).medium !== 'Memory');
      const limit = c.resources?.limits?.['ephemeral-storage'];
      expect(limit, 'an ephemeral-storage limit').toBeTruthy();
      expect(disk.reduce((n, v) => n + quantity(String((v.emptyDir as { sizeLimit?: string }).sizeLimit ?? 'Infinity')), 0), `${b}: emptyDir sizeLimits within ${limit}`).toBeLessThanOrEqual(quantity(limit!));
      // Loki and NATS addresses are ones the NetworkPolicy lets through.
      const allowed = egressRules(objs).flatMap((r) => r.ports ?? []).map((p) => p.port);
      expect(allowed).toContain(Number(new URL(cfg.loki!.url!).port || 80));
      for (const s of cfg.nats?.servers ?? []) expect(allowed).toContain(Number(new URL(s).port || 4222));
    });

    it('pod security: non-root, read-only root filesystem, all capabilities dropped, seccomp RuntimeDefault', () => {
      const tpl = podTemplate(detectorWorkload(get(b)));
      expect(tpl.spec.securityContext?.runAsNonRoot).toBe(true);
      expect(tpl.spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      const c = detectorContainer(detectorWorkload(get(b)));
      expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(c.securityContext?.capabilities?.drop).toContain('ALL');
      expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
    });

    it('NetworkPolicy: ingress only on the metrics port (and the bundle port, from the agents only); egress only to DNS, the API server, Loki and NATS (and pods for bundle metrics)', () => {
      const objs = get(b);
      const tpl = podTemplate(detectorWorkload(objs));
      const np = one(objs, 'NetworkPolicy');
      const spec = np.spec as { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: Array<{ from?: Array<Record<string, unknown>>; ports?: Array<{ port: number }> }> };
      expect(labelsMatch(spec.podSelector.matchLabels, tpl.metadata.labels), 'selects the detector pods').toBe(true);
      expect([...spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
      const cfg = detectorConfig(b);
      const bundles = bundlesOptions(cfg);
      expect(spec.ingress.flatMap((r) => r.ports?.map((p) => p.port) ?? [NaN])).toEqual([cfg.server.port, ...(bundles ? [bundles.port] : [])]);
      // The metrics port is open to the cluster (Prometheus, probes); the bundle port only to the agents' pods.
      expect(spec.ingress[0]!.from).toBeUndefined();
      if (bundles) expect(spec.ingress[1]!.from).toEqual([{ namespaceSelector: {}, podSelector: { matchLabels: { [BUNDLES_CLIENT_LABEL]: 'true' } } }]);

      const rules = egressRules(objs);
      const kinds = rules.map(classifyEgress);
      expect(kinds.sort()).toEqual(['api-server', 'dns', 'loki', 'nats', ...(bundles ? ['bundle-metrics'] : [])].sort());
    });
  });

  it('every pod of every build meets the restricted Pod Security profile the namespace enforces', () => {
    const ns = one(get('base'), 'Namespace');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const b of built.keys()) {
      for (const w of get(b).filter((o) => WORKLOAD_KINDS.has(o.kind))) {
        const where = `${b}: ${w.kind}/${w.metadata.name}`;
        const spec = podTemplate(w).spec;
        expect(spec.hostNetwork ?? false, where).toBe(false);
        expect(spec.hostPID ?? false, where).toBe(false);
        expect(spec.hostIPC ?? false, where).toBe(false);
        expect((spec.volumes ?? []).filter((v) => v.hostPath), `${where}: hostPath`).toHaveLength(0);
        expect(spec.securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
        for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
          const sc = c.securityContext ?? {};
          const nonRoot = sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
          const uid = (sc.runAsUser ?? spec.securityContext?.runAsUser) as number | undefined;
          expect(nonRoot, `${where}/${c.name}: runAsNonRoot`).toBe(true);
          expect(uid, `${where}/${c.name}: numeric non-root uid`).toBeGreaterThan(0);
          expect(sc.allowPrivilegeEscalation, `${where}/${c.name}`).toBe(false);
          expect(sc.privileged ?? false, `${where}/${c.name}`).toBe(false);
          expect(sc.readOnlyRootFilesystem, `${where}/${c.name}: readOnlyRootFilesystem`).toBe(true);
          expect(sc.capabilities?.drop, `${where}/${c.name}`).toContain('ALL');
          expect(sc.capabilities?.add ?? [], `${where}/${c.name}`).toEqual([]);
          expect(c.image, `${where}/${c.name}: pinned tag`).toMatch(/:[\w.-]+$/);
        }
      }
    }
  });

  it('every ConfigMap a pod mounts exists in the same build (generated names resolved)', () => {
    for (const b of built.keys()) {
      const objs = get(b);
      for (const w of objs.filter((o) => WORKLOAD_KINDS.has(o.kind))) {
        for (const v of podTemplate(w).spec.volumes ?? []) {
          if (v.configMap) expect(find(objs, 'ConfigMap', v.configMap.name), `${b}: ${w.metadata.name} mounts ${v.configMap.name}`).toHaveLength(1);
        }
      }
    }
  });

  it('a rules or pipeline change does not roll the pods (fixed ConfigMap names, reloaded in place); a config change does', () => {
    for (const b of DETECTOR_BUILDS) {
      const objs = get(b);
      const mounted = (podTemplate(detectorWorkload(objs)).spec.volumes ?? []).flatMap((v) => (v.configMap ? [v.configMap.name] : []));
      expect(mounted, b).toContain('robot-sre-detector-rules');
      expect(mounted, b).toContain('robot-sre-detector-pipelines');
      // The config's generated name carries the content hash: editing it is a new ConfigMap and a rollout.
      expect(mounted.some((n) => /^robot-sre-detector-config-[a-z0-9]{10}$/.test(n)), `${b}: ${mounted.join(', ')}`).toBe(true);
      const cfg = detectorConfig(b);
      expect(cfg.pipelines.watch, b).toBe(true);
      expect(cfg.pipelines.rules.every((f) => f.startsWith('/etc/robot-sre-detector/rules/')), b).toBe(true);
    }
  });

  it('base and small: one replica, replaced (not rolled) so two never follow the same containers', () => {
    for (const b of ['base', 'overlays/small'] as const) {
      const spec = detectorWorkload(get(b)).spec as { replicas: number; strategy: { type: string } };
      expect(spec.replicas, b).toBe(1);
      expect(spec.strategy.type, b).toBe('Recreate');
    }
  });

  it('small: detector, Loki, NATS and the streams Job; the config addresses resolve to Services and ports of this build', () => {
    const objs = get('overlays/small');
    const cfg = detectorConfig('overlays/small');
    const np = one(objs, 'NetworkPolicy');
    const egress = egressRules(objs);
    for (const [url, name] of [[cfg.loki!.url!, 'loki'], [cfg.nats!.servers[0]!, 'nats']] as const) {
      const u = new URL(url);
      const [svcName, svcNs] = u.hostname.split('.');
      const svc = one(objs, 'Service', svcName);
      expect(svc.metadata.namespace).toBe(svcNs);
      const port = ((svc.spec as Obj).ports as Array<{ port: number; targetPort: string | number }>).find((p) => p.port === Number(u.port));
      expect(port, `${url}: Service port`).toBeDefined();
      // The backing pods carry the label the NetworkPolicy allows, on the allowed port.
      const backend = objs.find((o) => WORKLOAD_KINDS.has(o.kind) && labelsMatch((svc.spec as Obj).selector as Record<string, string>, podTemplate(o).metadata.labels));
      expect(backend, `${name} pods`).toBeDefined();
      const containerPort = podTemplate(backend!).spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === port!.targetPort || p.containerPort === port!.targetPort);
      const rule = egress.find((r) => classifyEgress(r) === name)!;
      expect(labelsMatch(rule.to?.[0]?.podSelector?.matchLabels, podTemplate(backend!).metadata.labels), `${np.metadata.name} allows ${name}`).toBe(true);
      expect(rule.ports?.map((p) => p.port)).toContain(containerPort?.containerPort);
    }
    const job = one(objs, 'Job');
    const c = podTemplate(job).spec.containers[0]!;
    expect(c.args?.slice(0, 2)).toEqual(['streams', 'apply']);
    expect(c.env?.find((e) => e.name === 'NATS_URL')?.value).toBe(cfg.nats?.servers[0]);
    expect(labelsMatch((np.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels, podTemplate(job).metadata.labels), 'the Job may reach NATS').toBe(true);
  });

  it('sharded: a StatefulSet whose SHARD_COUNT equals its replicas and whose pod names give every shard index', () => {
    const objs = get('overlays/sharded');
    const sts = detectorWorkload(objs);
    const spec = sts.spec as { replicas: number; serviceName: string };
    const c = detectorContainer(sts);
    const shardCount = Number(c.env?.find((e) => e.name === 'SHARD_COUNT')?.value);
    expect(spec.replicas).toBeGreaterThan(1);
    expect(shardCount).toBe(spec.replicas);
    const headless = one(objs, 'Service', spec.serviceName);
    expect((headless.spec as Obj).clusterIP).toBe('None');
    const cfg = detectorConfig('overlays/sharded');
    expect(cfg.kubernetes?.shardCount).toBe(spec.replicas);
    const indexes = Array.from({ length: spec.replicas }, (_, i) => replicaIndexFromHostname(`${sts.metadata.name}-${i}`));
    expect(indexes).toEqual(Array.from({ length: spec.replicas }, (_, i) => i));
    // Shared cursors: a workload that moves to another replica resumes there.
    expect(cfg.state.store).toBe('jetstream-kv');
  });

  it('node-local: a DaemonSet with NODE_NAME from the downward API and mode node-local', () => {
    const ds = detectorWorkload(get('overlays/node-local'));
    const c = detectorContainer(ds);
    expect(c.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    const cfg = detectorConfig('overlays/node-local');
    expect(cfg.kubernetes?.mode).toBe('node-local');
    expect(cfg.kubernetes?.nodeName).toBe('node-a');
    expect(podTemplate(ds).spec.tolerations?.length).toBeGreaterThan(0);
  });

  it('node-files: a DaemonSet reading /var/log/pods through a read-only hostPath (nothing else of the host), non-root with group 0, the same RBAC, a config of the files profile', async () => {
    const { stdout } = await run(requireBinary(binaries().kustomize), ['build', join(manifests, 'overlays/node-files')], { maxBuffer: 32 << 20 });
    const objs = parseAllDocuments(stdout).map((d) => d.toJS() as K8s);
    const ds = detectorWorkload(objs);
    expect(ds.kind).toBe('DaemonSet');
    const tpl = podTemplate(ds);
    const c = detectorContainer(ds);
    expect(c.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    // The host: /var/log/pods only, read-only.
    const host = (tpl.spec.volumes ?? []).filter((v) => v.hostPath);
    expect(host.map((v) => v.hostPath)).toEqual([{ path: '/var/log/pods', type: 'Directory' }]);
    const mounts = (c.volumeMounts ?? []).filter((m) => host.some((v) => v.name === m.name));
    expect(mounts).toEqual([{ name: host[0]!.name, mountPath: '/var/log/pods', readOnly: true }]);
    expect(tpl.spec.hostNetwork ?? false).toBe(false);
    expect(tpl.spec.hostPID ?? false).toBe(false);
    // Non-root: uid 65532, group 0 for containerd's 0640 root:root files; nothing else relaxed.
    const sc = c.securityContext ?? {};
    expect(sc.runAsNonRoot ?? tpl.spec.securityContext?.runAsNonRoot).toBe(true);
    expect((sc.runAsUser ?? tpl.spec.securityContext?.runAsUser) as number).toBeGreaterThan(0);
    expect(tpl.spec.securityContext?.supplementalGroups).toEqual([0]);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities?.drop).toContain('ALL');
    expect(sc.capabilities?.add ?? []).toEqual([]);
    // hostPath is outside restricted: the namespace says so, and still audits against restricted.
    expect(one(objs, 'Namespace').metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/audit': 'restricted' });
    // The same RBAC as every other build.
    const rules = (o: K8s[]) => one(o, 'ClusterRole').rules;
    expect(rules(objs)).toEqual(rules(get('overlays/node-local')));
    // The config: the API pods source off, the files profile on, NODE_NAME from the downward API.
    const path = configPath(c);
    const text = fileContent(objs, tpl, c, path);
    expect(text).toBeDefined();
    const cfg = parseConfig(text!, path, containerEnv(c, { 'spec.nodeName': 'node-a' }));
    expect(cfg.kubernetes).toBeUndefined();
    const files = cfg.components.find((x) => x.spec.key === 'kubernetesFiles');
    expect(files?.options).toMatchObject({ root: '/var/log/pods', nodeName: 'node-a', events: { enabled: true } });
    expect((files!.options as { root: string }).root).toBe(mounts[0]!.mountPath);
  });

  it('overlay configs differ from the base config only where the overlay says', () => {
    const base = parseYaml(readFileSync(join(manifests, 'base/config/config.yaml'), 'utf8')) as { kubernetes: Obj; state: Obj };
    for (const [overlay, patch] of [
      ['node-local', { kubernetes: { mode: 'node-local' } }],
      ['sharded', { kubernetes: { mode: 'sharded' }, state: { store: 'jetstream-kv' } }],
    ] as const) {
      const doc = parseYaml(readFileSync(join(manifests, 'overlays', overlay, 'config.yaml'), 'utf8')) as Obj;
      const expected = structuredClone(base) as Obj & { kubernetes: Obj; state: Obj };
      Object.assign(expected.kubernetes, patch.kubernetes);
      if ('state' in patch) Object.assign(expected.state, patch.state);
      expect(doc, overlay).toEqual(expected);
    }
  });

  it('a site pipeline from the mounted ConfigMap loads at start, in the kubelet layout (..data symlinks), without rebuilding', async () => {
    const objs = get('base');
    const w = detectorWorkload(objs);
    const tpl = podTemplate(w);
    const c = detectorContainer(w);
    const etc = join(scratch, 'etc');
    // Materialise every ConfigMap mount as the kubelet does: files are symlinks into ..data.
    const rewrite = (p: string): string => join(etc, p);
    for (const { cm, files } of mountedConfigMaps(objs, tpl, c)) {
      const byDir = new Map<string, Array<[string, string]>>();
      for (const [path, key] of files) {
        const list = byDir.get(posix.dirname(path)) ?? [];
        list.push([posix.basename(path), ((cm.data ?? {}) as Record<string, string>)[key]!]);
        byDir.set(posix.dirname(path), list);
      }
      for (const [dir, list] of byDir) {
        const ts = '..2026_01_01_00_00_00.000000001';
        await mkdir(join(rewrite(dir), ts), { recursive: true });
        await symlink(ts, join(rewrite(dir), '..data'));
        for (const [name, text] of list) {
          await writeFile(join(rewrite(dir), ts, name), text);
          await symlink(join('..data', name), join(rewrite(dir), name));
        }
      }
    }
    const cfgPath = configPath(c);
    const original = await readFile(rewrite(cfgPath), 'utf8');
    const localised = original.replaceAll('/etc/robot-sre-detector', join(etc, 'etc/robot-sre-detector')).replaceAll('/var/lib/robot-sre-detector', join(scratch, 'state'));
    const full = join(scratch, 'full.yaml');
    await writeFile(full, localised);
    const noSite = join(scratch, 'defaults-only.yaml');
    const doc = parseYaml(localised) as { pipelines: Obj };
    doc.pipelines = { defaults: true };
    await writeFile(noSite, JSON.stringify(doc));
    const check = async (file: string): Promise<number> => {
      // A clean process started from outside the repository, like the image's entrypoint.
      const { stdout } = await run(process.execPath, [join(root, 'src/cli.ts'), 'run', '-c', file, '--check'], { cwd: scratch, env: { PATH: process.env.PATH ?? '' } });
      const m = /config ok: .*?(\d+) rules/.exec(stdout);
      expect(m, stdout).not.toBeNull();
      return Number(m![1]);
    };
    const operatorRules = parseOperatorRules(readFileSync(join(manifests, 'base/config/rules.yaml'), 'utf8'), 'rules.yaml').rules.length;
    const siteFiles = readdirSync(join(manifests, 'base/pipelines')).filter((f) => f.endsWith('.ts'));
    const siteRules = siteFiles.reduce((n, f) => n + (readFileSync(join(manifests, 'base/pipelines', f), 'utf8').match(/^\s+id: '/gm) ?? []).length, 0);
    expect(siteRules).toBeGreaterThan(0);
    const [withSite, defaultsOnly] = await Promise.all([check(full), check(noSite)]);
    expect(withSite - defaultsOnly).toBe(operatorRules + siteRules);
    // The directory listing a pod sees: only the real file names count as pipelines.
    expect((await readdir(rewrite('/etc/robot-sre-detector/pipelines'))).filter((n) => n.endsWith('.ts')).sort()).toEqual(siteFiles.sort());
  }, 60_000);

  it('loki: monolithic, one replica, filesystem PVC, TSDB v13 with a 24h index, compactor retention of 3–7 days', () => {
    const objs = get('loki');
    const sts = one(objs, 'StatefulSet', 'loki');
    expect((sts.spec as { replicas: number }).replicas).toBe(1);
    expect(((sts.spec as Obj).volumeClaimTemplates as unknown[]).length).toBe(1);
    const c = podTemplate(sts).spec.containers[0]!;
    expect(c.args).toContain('-target=all');
    expect(c.readinessProbe?.httpGet?.path).toBe('/ready');
    const cfg = lokiConfig();
    expect(cfg.auth_enabled).toBe(false);
    const schema = (cfg.schema_config as { configs: Array<Obj & { index: Obj }> }).configs.at(-1)!;
    expect([schema.store, schema.schema, schema.object_store, schema.index.period]).toEqual(['tsdb', 'v13', 'filesystem', '24h']);
    const compactor = cfg.compactor as Obj;
    expect(compactor.retention_enabled).toBe(true);
    expect(compactor.delete_request_store).toBe('filesystem');
    const limits = cfg.limits_config as Obj;
    const hours = Number(/^(\d+)h$/.exec(String(limits.retention_period))?.[1]);
    expect(hours).toBeGreaterThanOrEqual(72);
    expect(hours).toBeLessThanOrEqual(168);
    expect(limits.allow_structured_metadata).toBe(true);
    expect(Number(limits.max_label_names_per_series)).toBeLessThanOrEqual(15);
  });

  it('nats: JetStream file store big enough for every stream and the state bucket streams apply creates', () => {
    const objs = get('nats');
    const conf = natsConf();
    const m = /max_file_store:\s*(\d+)\s*(GB|MB|G|M)?/i.exec(conf);
    expect(m, 'max_file_store is set').not.toBeNull();
    // nats-server config units: GB/MB are binary (1024^n), G/M decimal.
    const unit = (m![2] ?? '').toUpperCase();
    const fileStore = Number(m![1]) * ({ GB: 2 ** 30, MB: 2 ** 20, G: 1e9, M: 1e6, '': 1 } as Record<string, number>)[unit]!;
    const reserved = DEFAULT_STREAMS.reduce((n, s) => n + s.maxBytes, 0) + DEFAULT_STATE_BUCKET.maxBytes;
    expect(fileStore).toBeGreaterThan(reserved);
    const sts = one(objs, 'StatefulSet', 'nats');
    const pvc = ((sts.spec as Obj).volumeClaimTemplates as Array<{ spec: { resources: { requests: { storage: string } } } }>)[0]!;
    expect(quantity(pvc.spec.resources.requests.storage)).toBeGreaterThan(fileStore);
    const job = one(objs, 'Job');
    expect(podTemplate(job).spec.containers[0]!.args?.slice(0, 2)).toEqual(['streams', 'apply']);
  });

  it('grafana: the dashboard ConfigMap carries the sidecar label and a dashboard that queries only declared metrics', async () => {
    const cm = one(get('grafana'), 'ConfigMap');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    const data = (cm.data ?? {}) as Record<string, string>;
    const json = Object.entries(data).find(([k]) => k.endsWith('.json'));
    expect(json).toBeDefined();
    const dash = JSON.parse(json![1]) as { panels: Array<{ targets?: Array<{ expr: string }> }>; uid: string };
    expect(dash.uid).toBeTruthy();
    expect(JSON.parse(readFileSync(join(manifests, 'grafana/robot-sre-detector.json'), 'utf8'))).toEqual(dash);
    // Every metric a panel queries is one the detector declares (a renamed metric breaks this test,
    // not the dashboard in production).
    const used = new Set(dash.panels.flatMap((p) => p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\b(rsd_\w+)/g)].map((m) => m[1]!)));
    const declared = await declaredMetrics();
    const undeclared = [...used].filter((n) => !declared.has(n) && !declared.has(n.replace(/_(bucket|sum|count)$/, '')));
    expect(undeclared).toEqual([]);
    for (const required of ['rsd_lines_in_total', 'rsd_lines_out_total', 'rsd_bytes_in_total', 'rsd_bytes_out_total', 'rsd_dropped_total', 'rsd_sink_request_seconds_bucket', 'rsd_sink_requests_total', 'rsd_findings_total', 'rsd_followed_containers', 'rsd_watch_restarts_total', 'rsd_event_loop_lag_seconds', 'rsd_process_resident_memory_bytes', 'rsd_nodejs_heap_size_used_bytes']) {
      expect(used, required).toContain(required);
    }
  });

  it('components/persistent-state: the state directory (spools, cursors) on a PVC the Deployment mounts; nothing else changes', async () => {
    const kustomize = requireBinary(binaries().kustomize);
    const dir = await writeKustomization(join(scratch, 'persistent-state'), {
      resources: [join(manifests, 'base')],
      components: [join(manifests, 'components/persistent-state')],
    });
    const objs = (await kustomizeBuild(kustomize, dir)) as K8s[];
    const pvc = one(objs, 'PersistentVolumeClaim');
    expect(pvc.metadata.namespace).toBe(one(get('base'), 'Deployment').metadata.namespace);
    const w = one(objs, 'Deployment');
    const volumes = (podTemplate(w).spec as { volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string }; emptyDir?: unknown }> }).volumes;
    expect(volumes.find((v) => v.name === 'state')).toEqual({ name: 'state', persistentVolumeClaim: { claimName: pvc.metadata.name } });
    // The patch replaced the state volume by position: every other volume is the base's.
    const baseVolumes = (podTemplate(one(get('base'), 'Deployment')).spec as { volumes: Array<{ name: string }> }).volumes;
    expect(volumes.map((v) => v.name)).toEqual(baseVolumes.map((v) => v.name));
    expect(volumes.filter((v) => v.name !== 'state')).toEqual(baseVolumes.filter((v) => v.name !== 'state'));
    // Recreate: the old pod releases the ReadWriteOnce volume before the new one mounts it.
    expect((w.spec as { strategy: { type: string } }).strategy.type).toBe('Recreate');
  });

  it('components/servicemonitor: adds one ServiceMonitor that selects the /metrics Service (not the headless one) on a port it has', async () => {
    const kustomize = requireBinary(binaries().kustomize);
    for (const b of ['base', 'overlays/sharded'] as const) {
      const dir = await writeKustomization(join(scratch, `servicemonitor-${b.replace('/', '-')}`), {
        resources: [join(manifests, b)],
        components: [join(manifests, 'components/servicemonitor')],
      });
      const objs = (await kustomizeBuild(kustomize, dir)) as K8s[];
      // The component only adds the ServiceMonitor.
      expect(objs.filter((o) => o.kind !== 'ServiceMonitor'), b).toEqual(get(b));
      const sm = one(objs, 'ServiceMonitor');
      expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
      const spec = sm.spec as { selector: { matchLabels: Record<string, string> }; namespaceSelector?: { matchNames?: string[] }; endpoints: Array<{ port?: string; path?: string }> };
      const w = detectorWorkload(objs);
      const namespaces = spec.namespaceSelector?.matchNames ?? [sm.metadata.namespace!];
      const selected = find(objs, 'Service').filter((s) => namespaces.includes(s.metadata.namespace!) && labelsMatch(spec.selector.matchLabels, s.metadata.labels));
      expect(selected.map((s) => s.metadata.name), `${b}: the Services the ServiceMonitor selects`).toEqual([DETECTOR]);
      const svcSpec = selected[0]!.spec as { selector: Record<string, string>; clusterIP?: string; ports: Array<{ name: string; targetPort: string | number }> };
      expect(svcSpec.clusterIP).not.toBe('None');
      expect(labelsMatch(svcSpec.selector, podTemplate(w).metadata.labels), 'that Service selects the detector pods').toBe(true);
      expect(spec.endpoints.length).toBeGreaterThan(0);
      for (const e of spec.endpoints) {
        const port = svcSpec.ports.find((p) => p.name === e.port);
        expect(port, `${b}: endpoint port ${e.port} is a named port of the Service`).toBeDefined();
        expect(detectorContainer(w).ports?.find((p) => p.name === port!.targetPort)?.containerPort).toBe(detectorConfig(b).server.port);
        expect(e.path ?? '/metrics').toBe('/metrics');
      }
      expect(sm.metadata.labels?.['app.kubernetes.io/part-of']).toBe(DETECTOR);
    }
  });

  it('components/bundles: the bundle server on its own port, its JWT secret from a Secret you create, an emptyDir for the files, two NetworkPolicy rules; the RBAC and everything else as without it', () => {
    for (const [b, from] of Object.entries(BUNDLES_BUILDS) as Array<[BundlesBuild, BuildName]>) {
      const objs = get(b);
      const plain = get(from);
      const isConfig = (o: K8s) => o.kind === 'ConfigMap' && /^robot-sre-detector-config-/.test(o.metadata.name);
      const changed = new Set(['Deployment/robot-sre-detector', 'Service/robot-sre-detector', 'NetworkPolicy/robot-sre-detector']);
      const rest = (o: K8s[]) => o.filter((x) => !isConfig(x) && !changed.has(`${x.kind}/${x.metadata.name}`));
      // No Secret is shipped (its value is yours); the RBAC, namespace, other ConfigMaps and Loki/NATS are untouched.
      expect(find(objs, 'Secret'), b).toHaveLength(0);
      expect(rest(objs), b).toEqual(rest(plain));
      expect(one(objs, 'ClusterRole').rules, `${b}: no verb added`).toEqual(one(plain, 'ClusterRole').rules);

      // The config: the build's own plus a bundles: section, nothing else.
      const text = (o: K8s[]) => ((o.find(isConfig)!.data ?? {}) as Record<string, string>)['config.yaml']!;
      const doc = parseYaml(text(objs)) as Obj;
      expect({ ...doc, bundles: undefined }, b).toEqual({ ...(parseYaml(text(plain)) as Obj), bundles: undefined });
      const cfg = detectorConfig(b);
      const bo = bundlesOptions(cfg);
      expect(bo, `${b}: bundles enabled`).toBeDefined();
      expect(bo!.port).not.toBe(cfg.server.port);

      // The pod: the plain one plus the port, the secret's env, the bundle directory; a larger ephemeral-storage limit.
      const w = detectorWorkload(objs);
      const tpl = podTemplate(w);
      const c = detectorContainer(w);
      expect(c.ports?.find((p) => p.name === 'bundles')).toEqual({ name: 'bundles', containerPort: bo!.port, protocol: 'TCP' });
      expect(c.env?.find((e) => e.name === bo!.jwtSecretEnv)).toEqual({ name: bo!.jwtSecretEnv, valueFrom: { secretKeyRef: { name: 'robot-sre-detector-bundles', key: 'jwt-secret' } } });
      const mount = c.volumeMounts?.find((m) => m.mountPath === bo!.dir);
      const vol = tpl.spec.volumes?.find((v) => v.name === mount?.name);
      expect(vol?.emptyDir, `${bo!.dir} is an emptyDir`).toBeDefined();
      expect(quantity(String((vol!.emptyDir as { sizeLimit: string }).sizeLimit)), 'the emptyDir holds maxDiskBytes').toBeGreaterThanOrEqual(bo!.maxDiskBytes);
      const strip = (d: K8s): K8s => {
        const x = structuredClone(d);
        const t = podTemplate(x);
        const k = t.spec.containers.find((y) => y.name === 'detector')!;
        k.ports = k.ports?.filter((p) => p.name !== 'bundles');
        k.env = k.env?.filter((e) => e.name !== bo!.jwtSecretEnv);
        k.volumeMounts = k.volumeMounts?.filter((m) => m.name !== vol!.name);
        delete k.resources?.limits?.['ephemeral-storage'];
        t.spec.volumes = t.spec.volumes?.filter((v) => v.name !== vol!.name && v.name !== 'config');
        return x;
      };
      expect(strip(w), `${b}: the rest of the Deployment`).toEqual(strip(detectorWorkload(plain)));

      // The Service: the plain ports plus http-bundles → the container's bundles port.
      const svcPorts = (o: K8s[]) => ((one(o, 'Service', DETECTOR).spec as Obj).ports as Array<Record<string, unknown>>);
      expect(svcPorts(objs)).toEqual([...svcPorts(plain), { name: 'http-bundles', port: bo!.port, targetPort: 'bundles', protocol: 'TCP' }]);

      // The NetworkPolicy: the plain rules plus ingress to the bundle port from the agents' pods and
      // egress to pods (not ipBlocks: nothing outside the cluster) on unprivileged TCP ports.
      const np = (o: K8s[]) => one(o, 'NetworkPolicy').spec as { ingress: unknown[]; egress: EgressRule[] };
      expect(np(objs).ingress).toEqual([...np(plain).ingress, { from: [{ namespaceSelector: {}, podSelector: { matchLabels: { [BUNDLES_CLIENT_LABEL]: 'true' } } }], ports: [{ port: bo!.port, protocol: 'TCP' }] }]);
      expect(np(objs).egress.slice(0, -1)).toEqual(np(plain).egress);
      expect(np(objs).egress.at(-1)).toEqual({ to: [{ namespaceSelector: {} }], ports: [{ port: 1024, endPort: 65535, protocol: 'TCP' }] });
    }
  });

  it('components/bundles: `run --check` of its config builds the bundle server with the env the pod gets, and refuses to without the Secret', async () => {
    const cfg = parseYaml(fileContent(get('base+bundles'), podTemplate(detectorWorkload(get('base+bundles'))), detectorContainer(detectorWorkload(get('base+bundles'))), '/etc/robot-sre-detector/config/config.yaml')!) as Obj & { pipelines: Obj; bundles: Obj };
    cfg.pipelines = { defaults: true };
    cfg.bundles.dir = join(scratch, 'bundles-dir');
    const file = join(scratch, 'bundles-check.json');
    await writeFile(file, JSON.stringify(JSON.parse(JSON.stringify(cfg).replaceAll('/var/lib/robot-sre-detector', join(scratch, 'bundles-state')))));
    const env = { PATH: process.env.PATH ?? '' };
    const { stdout } = await run(process.execPath, [join(root, 'src/cli.ts'), 'run', '-c', file, '--check'], { cwd: scratch, env: { ...env, RSD_BUNDLES_JWT_SECRET: 'x'.repeat(48) } });
    expect(stdout).toMatch(/config ok: .*components=.*\bbundles\b/);
    const refused = await run(process.execPath, [join(root, 'src/cli.ts'), 'run', '-c', file, '--check'], { cwd: scratch, env }).then(() => null, (e: { stderr?: string; code?: number }) => e);
    expect(refused?.code).toBe(2);
    expect(refused?.stderr).toContain('RSD_BUNDLES_JWT_SECRET is not set');
  }, 60_000);

  it('components/bundles with components/persistent-state: both apply (state on the PVC, bundles on their emptyDir)', async () => {
    const kustomize = requireBinary(binaries().kustomize);
    const dir = await writeKustomization(join(scratch, 'bundles-persistent'), {
      resources: [join(manifests, 'base')],
      components: [join(manifests, 'components/persistent-state'), join(manifests, 'components/bundles')],
    });
    const objs = (await kustomizeBuild(kustomize, dir)) as K8s[];
    const volumes = (podTemplate(one(objs, 'Deployment')).spec.volumes ?? []) as Array<Volume & { persistentVolumeClaim?: { claimName: string } }>;
    expect(volumes.find((v) => v.name === 'state')?.persistentVolumeClaim?.claimName).toBe(one(objs, 'PersistentVolumeClaim').metadata.name);
    expect(volumes.find((v) => v.name === 'bundles')?.emptyDir).toEqual({ sizeLimit: '576Mi' });
  });

  // ── helpers that need the built objects ──────────────────────────────────────────────────────
  /** The enabled `bundles:` section of a config, as the component's schema reads it; undefined when off. */
  function bundlesOptions(cfg: Config): { port: number; dir: string; jwtSecretEnv: string; maxDiskBytes: number; maxBundleBytes: number } | undefined {
    return cfg.components.find((x) => x.spec.key === 'bundles')?.options as ReturnType<typeof bundlesOptions>;
  }

  function detectorConfig(b: BuildName): Config {
    const objs = get(b);
    const w = detectorWorkload(objs);
    const c = detectorContainer(w);
    const path = configPath(c);
    const text = fileContent(objs, podTemplate(w), c, path);
    expect(text, `${b}: ${path} is mounted from a ConfigMap`).toBeDefined();
    // HOSTNAME of a StatefulSet pod; spec.nodeName of the node the pod runs on.
    const env = containerEnv(c, { 'spec.nodeName': 'node-a', 'metadata.name': `${DETECTOR}-0` });
    return parseConfig(text!, path, env);
  }

  function lokiConfig(): Obj {
    const cm = one(get('loki'), 'ConfigMap');
    return parseYaml(((cm.data ?? {}) as Record<string, string>)['loki.yaml']!) as Obj;
  }

  function natsConf(): string {
    const cm = one(get('nats'), 'ConfigMap');
    return ((cm.data ?? {}) as Record<string, string>)['nats.conf']!;
  }

  describe.skipIf(shouldSkip('manifests (kubectl kustomize)', ['kubectl']))('with kubectl', () => {
    it('kubectl kustomize (the kustomize embedded in kubectl apply -k) builds the same objects', async () => {
      if (!binaries().kubectl.path) await ensureOrThrow('kube');
      const kubectl = requireBinary(binaries().kubectl);
      for (const b of BUILDS) {
        const { stdout } = await run(kubectl, ['kustomize', join(manifests, b)], { maxBuffer: 32 << 20 });
        expect(parseAllDocuments(stdout).map((d) => d.toJS() as K8s), b).toEqual(get(b));
      }
    }, 60_000);
  });

  it('nats: the image deployed is the nats-server version the JetStream tests run against', () => {
    const versions = Object.fromEntries(readFileSync(join(root, 'test/env/versions.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=') as [string, string]));
    const sts = one(get('nats'), 'StatefulSet') as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
    expect(sts.spec.template.spec.containers[0]!.image).toBe(`nats:${versions.NATS_VERSION!.slice(1)}-alpine`);
  });

  it('loki: every key of the shipped config is in Loki 3\'s schema with the right type (and a typo is caught, so the check is real)', () => {
    const schema = parseYaml(readFileSync(join(root, 'test/fixtures/loki3-config-schema.yaml'), 'utf8')) as unknown;
    const text = ((one(get('loki'), 'ConfigMap').data ?? {}) as Record<string, string>)['loki.yaml']!;
    expect(lokiConfigProblems(parseYaml(text), schema)).toEqual([]);
    expect(lokiConfigProblems(parseYaml(`${text}\nretention_periodd: 72h\n`), schema)).toEqual(['retention_periodd: not a Loki 3 configuration key']);
    expect(lokiConfigProblems(parseYaml(text.replace('retention_enabled: true', 'retention_enabled: yes please')), schema)).toEqual(['compactor.retention_enabled: expected bool, got "yes please"']);
    expect(lokiConfigProblems(parseYaml(text.replace('period: 24h', 'period: daily')), schema)).toEqual(['schema_config.configs[0].index.period: expected duration, got "daily"']);
  });

  describe.skipIf(shouldSkip('manifests (nats-server -t)', ['nats-server']))('with the real nats-server binary', () => {
    it('nats-server accepts the shipped config (and rejects a broken one)', async () => {
      if (!binaries().natsServer.path) await ensureOrThrow('nats');
      const nats = requireBinary(binaries().natsServer);
      const good = join(scratch, 'nats.conf');
      await writeFile(good, natsConf());
      await run(nats, ['-c', good, '-t']);
      const bad = join(scratch, 'nats-bad.conf');
      await writeFile(bad, natsConf().replace('jetstream {', 'jetstream {{'));
      await expect(run(nats, ['-c', bad, '-t'])).rejects.toThrow();
    });
  });
});

/** Problems of a Loki config against the transcribed schema (test/fixtures/loki3-config-schema.yaml). */
function lokiConfigProblems(cfg: unknown, schema: unknown, path = ''): string[] {
  const at = (k: string) => (path ? `${path}.${k}` : k);
  if (typeof schema === 'string') {
    const ok: Record<string, (v: unknown) => boolean> = {
      string: (v) => typeof v === 'string',
      int: (v) => Number.isInteger(v),
      bool: (v) => typeof v === 'boolean',
      duration: (v) => typeof v === 'string' && /^(\d+(ms|s|m|h|d|w|y))+$/.test(v),
      size: (v) => (typeof v === 'string' && /^\d+(\.\d+)?(B|KB|MB|GB|KiB|MiB|GiB)$/.test(v)) || Number.isInteger(v),
      list: (v) => Array.isArray(v),
    };
    return ok[schema]!(cfg) ? [] : [`${path}: expected ${schema}, got ${JSON.stringify(cfg)}`];
  }
  if (Array.isArray(schema)) {
    if (!Array.isArray(cfg)) return [`${path}: expected a list`];
    return cfg.flatMap((item, i) => lokiConfigProblems(item, schema[0], `${path}[${i}]`));
  }
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) return [`${path}: expected a mapping`];
  const s = schema as Record<string, unknown>;
  return Object.entries(cfg as Record<string, unknown>).flatMap(([k, v]) => (k in s ? lokiConfigProblems(v, s[k], at(k)) : [`${at(k)}: not a Loki 3 configuration key`]));
}

/** Metric names the detector registers: the shared registry (incl. default process metrics) plus modules that declare their own. */
async function declaredMetrics(): Promise<Set<string>> {
  const { registry } = await import('../../src/metrics.ts');
  const names = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.ts')) for (const m of readFileSync(join(d, e.name), 'utf8').matchAll(/name: '(rsd_\w+)'/g)) names.add(m[1]!);
    }
  };
  walk(join(root, 'src'));
  return names;
}

interface EgressRule {
  to?: Array<{ ipBlock?: { cidr: string }; namespaceSelector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> } }>;
  ports?: Array<{ port: number; endPort?: number; protocol?: string }>;
}

function egressRules(objs: K8s[]): EgressRule[] {
  const np = objs.find((o) => o.kind === 'NetworkPolicy');
  return ((np?.spec as Obj | undefined)?.egress ?? []) as EgressRule[];
}

/** Which of the four allowed peers a rule is; anything else fails the test. */
function classifyEgress(r: EgressRule): string {
  const ports = (r.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).sort();
  const peer = r.to ?? [];
  if (ports.length === 0 || peer.length === 0) return `allow-all (${JSON.stringify(r)})`;
  const name = peer[0]?.podSelector?.matchLabels?.['app.kubernetes.io/name'];
  if (peer.length === 1 && peer[0]?.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns' && peer[0].namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'kube-system' && ports.join() === '53/TCP,53/UDP') return 'dns';
  if (peer.every((p) => p.ipBlock && !p.podSelector) && ports.every((p) => p === '443/TCP' || p === '6443/TCP')) return 'api-server';
  if (peer.length === 1 && name === 'loki' && ports.join() === '3100/TCP') return 'loki';
  if (peer.length === 1 && name === 'nats' && ports.join() === '4222/TCP') return 'nats';
  // components/bundles: the metrics scrapes of pod IPs, to pods only (no ipBlock: nothing outside the cluster), unprivileged TCP ports.
  if (peer.length === 1 && JSON.stringify(peer[0]) === '{"namespaceSelector":{}}' && (r.ports ?? []).every((p) => (p.protocol ?? 'TCP') === 'TCP' && p.port >= 1024)) return 'bundle-metrics';
  return `unexpected (${JSON.stringify(r)})`;
}

describe('Dockerfile and .dockerignore (structure; no Docker engine here to build)', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  // Join continuation lines.
  const instructions: string[] = [];
  for (const l of lines) {
    const prev = instructions.at(-1);
    if (prev?.endsWith('\\')) instructions[instructions.length - 1] = `${prev.slice(0, -1).trim()} ${l}`;
    else instructions.push(l);
  }
  const stages: Array<{ from: string; name?: string; body: string[] }> = [];
  for (const ins of instructions) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(ins);
    if (from) stages.push({ from: from[1]!, ...(from[2] ? { name: from[2] } : {}), body: [] });
    else stages.at(-1)?.body.push(ins);
  }
  const final = stages.at(-1)!;

  it('is multi-stage and every FROM pins a Node 24 image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^(?:node:24(?:[.-][\w.-]+)?|gcr\.io\/distroless\/nodejs24-[\w.-]+(?::[\w.-]+)?)(?:@sha256:[0-9a-f]{64})?$/);
  });

  const IMAGE_INPUTS = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.ts', 'src', 'pipelines'];
  const copiesOf = (stage: { body: string[] }) => stage.body.filter((b) => /^COPY\b/.test(b));
  const fromStage = (b: string): string | undefined => /--from=(\S+)/.exec(b)?.[1];

  it('installs production dependencies only, from the lockfile, and the runtime copies only what runs', () => {
    const copies = copiesOf(final);
    const modules = copies.filter((b) => b.split(/\s+/).at(-2) === '/app/node_modules');
    expect(modules, 'the runtime copies node_modules from one stage').toHaveLength(1);
    const deps = stages.find((s) => s.name === fromStage(modules[0]!))!;
    const ci = deps.body.find((b) => /npm ci\b/.test(b))!;
    expect(ci).toMatch(/--omit=dev/);
    expect(deps.body.some((b) => /^COPY\s+package\.json\s+package-lock\.json/.test(b))).toBe(true);
    // From the build stage only the compiled code; from the context only the package manifests.
    const built = copies.filter((b) => fromStage(b) !== undefined && b !== modules[0]);
    expect(built.map((b) => b.split(/\s+/).at(-2))).toEqual(['/app/dist']);
    const sources = copies.filter((b) => !/--from=/.test(b)).flatMap((b) => b.split(/\s+/).slice(1, -1));
    expect(new Set(sources)).toEqual(new Set(['package.json', 'package-lock.json']));
    // The build stage compiles from files that exist, with the build script the repo uses.
    const build = stages.find((s) => s.name === fromStage(built[0]!))!;
    const inputs = copiesOf(build).flatMap((b) => b.split(/\s+/).slice(1, -1));
    expect(new Set(inputs)).toEqual(new Set(IMAGE_INPUTS));
    for (const s of inputs) expect(statSync(join(root, s)), s).toBeTruthy();
    expect(build.body).toContain('RUN node scripts/build.ts');
  });

  it('runs as a numeric non-root user, the same uid the manifests run it as', () => {
    const user = final.body.filter((b) => /^USER\b/.test(b)).at(-1);
    const m = /^USER\s+(\d+)(?::(\d+))?$/.exec(user ?? '');
    expect(m, `USER numeric: ${user}`).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    const deploy = parseAllDocuments(readFileSync(join(manifests, 'base/deployment.yaml'), 'utf8')).map((d) => d.toJS() as K8s)[0]!;
    expect((podTemplate(deploy).spec.securityContext as Obj).runAsUser).toBe(Number(m![1]));
  });

  it('starts the compiled CLI with the config path the Deployment mounts', () => {
    const entry = final.body.find((b) => /^ENTRYPOINT\b/.test(b))!;
    const cmd = final.body.find((b) => /^CMD\b/.test(b))!;
    const entryArgs = JSON.parse(entry.replace(/^ENTRYPOINT\s+/, '')) as string[];
    expect(entryArgs.at(-1)).toBe('/app/dist/src/cli.js');
    const cmdArgs = JSON.parse(cmd.replace(/^CMD\s+/, '')) as string[];
    const deploy = parseAllDocuments(readFileSync(join(manifests, 'base/deployment.yaml'), 'utf8')).map((d) => d.toJS() as K8s)[0]!;
    expect(podTemplate(deploy).spec.containers[0]!.args).toEqual(cmdArgs);
  });

  it('every package the runtime code imports is a production dependency (dev dependencies are not in the image)', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string> };
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.(ts|js)$/.test(e.name)) files.push(join(d, e.name));
      }
    };
    for (const d of ['src', 'pipelines', 'bin']) walk(join(root, d));
    const missing: string[] = [];
    for (const f of files) {
      const code = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      for (const m of code.matchAll(/(?:^|[^\w.])(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
        if (m[1]) continue; // type-only: erased at load
        const spec = m[2] ?? m[3]!;
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (name === pkg.name || name in pkg.dependencies) continue;
        missing.push(`${relative(root, f)}: ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('.dockerignore lets in exactly what the Dockerfile copies', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    expect(new Set(allowed)).toEqual(new Set(IMAGE_INPUTS));
    expect(ignore).toContain('**/node_modules');
  });
});

