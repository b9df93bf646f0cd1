/**
 * Where the real test servers live: pinned versions from versions.env, binaries in the cache dir
 * (built by build.sh through ensure.ts). Tests use `binaries()` to decide between run, skip and fail.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const envDir = dirname(fileURLToPath(import.meta.url));

/** Components ensure.ts can provide. `kube` = kube-apiserver + kubectl (one build). */
export const COMPONENTS = ['etcd', 'kube', 'kwok', 'victorialogs', 'kustomize', 'nats', 'toxiproxy', 'alertmanager', 'helm'] as const;
export type Component = (typeof COMPONENTS)[number];

export type BinaryName = 'etcd' | 'kube-apiserver' | 'kubectl' | 'kwok' | 'victoria-logs' | 'kustomize' | 'nats-server' | 'nats-server-newest' | 'toxiproxy-server' | 'alertmanager' | 'helm';

export interface BinaryInfo {
  name: BinaryName;
  component: Component;
  /** Pinned version (from versions.env). */
  version: string;
  /** Absolute path when present and executable. */
  path: string | null;
  /** Why it is unusable, when path is null. */
  missing?: string;
}

export interface Binaries {
  cacheDir: string;
  binDir: string;
  /** Absolute path of `go`, or null. */
  go: string | null;
  etcd: BinaryInfo;
  kubeApiserver: BinaryInfo;
  kubectl: BinaryInfo;
  kwok: BinaryInfo;
  victoriaLogs: BinaryInfo;
  kustomize: BinaryInfo;
  /** nats-server of the release line manifests/nats deploys (NATS_VERSION). */
  natsServer: BinaryInfo;
  /** The newest nats-server release the module proxy serves (NATS_NEWEST_VERSION). */
  natsServerNewest: BinaryInfo;
  /** Toxiproxy, for network fault tests. */
  toxiproxy: BinaryInfo;
  /** Prometheus Alertmanager, for the Alertmanager sink's tests. */
  alertmanager: BinaryInfo;
  /** Helm, for `helm template` / `helm lint` of the chart. */
  helm: BinaryInfo;
  /** Binary name → reason, only for unusable ones. Empty when everything is there. */
  missing: Partial<Record<BinaryName, string>>;
}

export function cacheDir(): string {
  return process.env.ROBOT_SRE_CACHE || join(homedir(), '.cache', 'robot-sre-detector');
}

export function readVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of readFileSync(join(envDir, 'versions.env'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, extra: string[] = []): string | null {
  for (const d of [...(process.env.PATH ?? '').split(delimiter), ...extra]) {
    if (!d) continue;
    const p = join(d, name);
    if (existsSync(p) && isExecutable(p)) return p;
  }
  return null;
}

/** `go` from GO (authoritative when set: GO=/nonexistent simulates a machine without Go), PATH or the usual install dir. */
export function goBinary(): string | null {
  if (process.env.GO) return isExecutable(process.env.GO) ? process.env.GO : null;
  return onPath('go', ['/usr/local/go/bin', join(homedir(), 'go', 'bin'), join(homedir(), 'sdk', 'go', 'bin')]);
}

function cached(name: BinaryName, component: Component, version: string | undefined, file: string = name): BinaryInfo {
  if (!version) return { name, component, version: '?', path: null, missing: `no version pinned for ${name} in versions.env` };
  const p = join(cacheDir(), 'bin', `${file}-${version}`);
  if (existsSync(p) && isExecutable(p)) return { name, component, version, path: p };
  return { name, component, version, path: null, missing: `${p} not built (run: node test/env/ensure.ts)` };
}

export function binaries(): Binaries {
  const v = readVersions();
  const b: Omit<Binaries, 'missing'> = {
    cacheDir: cacheDir(),
    binDir: join(cacheDir(), 'bin'),
    go: goBinary(),
    etcd: cached('etcd', 'etcd', v.ETCD_VERSION),
    kubeApiserver: cached('kube-apiserver', 'kube', v.KUBERNETES_VERSION),
    kubectl: cached('kubectl', 'kube', v.KUBERNETES_VERSION),
    kwok: withKwokCrds(cached('kwok', 'kwok', v.KWOK_VERSION)),
    victoriaLogs: cached('victoria-logs', 'victorialogs', v.VICTORIALOGS_VERSION),
    kustomize: cached('kustomize', 'kustomize', v.KUSTOMIZE_VERSION),
    natsServer: cached('nats-server', 'nats', v.NATS_VERSION),
    natsServerNewest: cached('nats-server-newest', 'nats', v.NATS_NEWEST_VERSION, 'nats-server'),
    toxiproxy: cached('toxiproxy-server', 'toxiproxy', v.TOXIPROXY_VERSION),
    alertmanager: cached('alertmanager', 'alertmanager', v.ALERTMANAGER_VERSION),
    helm: cached('helm', 'helm', v.HELM_VERSION),
  };
  const missing: Partial<Record<BinaryName, string>> = {};
  for (const info of [b.etcd, b.kubeApiserver, b.kubectl, b.kwok, b.victoriaLogs, b.kustomize, b.natsServer, b.natsServerNewest, b.toxiproxy, b.alertmanager, b.helm]) {
    if (!info.path) missing[info.name] = info.missing ?? 'missing';
  }
  return { ...b, missing };
}

/** kwok's Logs/ClusterLogs CRD files of the pinned version (copied there by build.sh kwok). */
export function kwokCrdFiles(): string[] {
  const dir = join(cacheDir(), 'share', `kwok-${readVersions().KWOK_VERSION ?? '?'}`, 'crds');
  return ['kwok.x-k8s.io_logs.yaml', 'kwok.x-k8s.io_clusterlogs.yaml'].map((f) => join(dir, f));
}

function withKwokCrds(info: BinaryInfo): BinaryInfo {
  if (!info.path) return info;
  const absent = kwokCrdFiles().filter((f) => !existsSync(f));
  if (absent.length === 0) return info;
  return { ...info, path: null, missing: `kwok CRDs missing: ${absent.join(', ')} (run: node test/env/ensure.ts)` };
}

/** Absolute path or a thrown error that says how to get it. */
export function requireBinary(info: BinaryInfo): string {
  if (info.path) return info.path;
  throw new Error(`${info.name} ${info.version} unavailable: ${info.missing ?? 'missing'}`);
}

export const inCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

/**
 * Decide whether a suite needing `names` should skip. Never skips in CI (the suite then fails
 * loudly in its setup). Outside CI it skips only when a binary is missing AND Go is absent
 * (so it cannot be built); with Go present the start helpers build the missing binary.
 * Prints one loud line when skipping so a skipped run is never mistaken for a green one.
 */
export function shouldSkip(suite: string, names: BinaryName[]): boolean {
  if (inCI()) return false;
  const b = binaries();
  const absent = names.filter((n) => b.missing[n] !== undefined);
  if (absent.length === 0) return false;
  if (b.go) return false;
  const why = !b.go ? 'go not found (install Go >= 1.26 or set GO=/path/to/go)' : absent.map((n) => `${n}: ${b.missing[n]}`).join('; ');
  process.stderr.write(`\n!!! E2E SKIPPED: ${suite}: ${why} — missing ${absent.join(', ')} !!!\n\n`);
  return true;
}
