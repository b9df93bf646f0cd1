/**
 * The configuration the Deployment in manifests/ would run, made runnable out of cluster: the ConfigMaps
 * as the API server stored them are written where the pod would mount them (under a local root), the
 * config file named in the container's args is read from there, and only what differs outside a cluster
 * is overridden (addresses, the kubeconfig, ports, writable dirs). Operator rules and mounted pipelines
 * are therefore the shipped ones.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { AppliedManifests, K8sObject } from './manifests.ts';

interface Volume {
  name: string;
  configMap?: { name: string };
  emptyDir?: Record<string, unknown>;
}
interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

export interface ShippedConfig {
  /** The localized config file to pass to `run -c`. */
  configFile: string;
  /** The parsed config as written (after overrides). */
  config: Record<string, unknown>;
  /** Literal env values of the container (e.g. NODE_OPTIONS), as the pod would get them. */
  env: Record<string, string>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function merge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Obj, v) : v;
  return out;
}

export async function shippedConfig(m: AppliedManifests, root: string, overrides: Obj): Promise<ShippedConfig> {
  const deploy = m.objects.find((o): o is K8sObject => o.kind === 'Deployment');
  if (!deploy) throw new Error('manifests: no Deployment');
  const pod = (deploy.spec as { template: { spec: { containers: Container[]; volumes?: Volume[] } } }).template.spec;
  const container = pod.containers[0];
  if (!container) throw new Error('manifests: the Deployment has no container');

  // Every mount of the pod becomes a local directory; ConfigMaps are filled with their stored data.
  const mounts: [string, string][] = [];
  for (const vm of container.volumeMounts ?? []) {
    const local = join(root, vm.mountPath);
    await mkdir(local, { recursive: true });
    mounts.push([vm.mountPath, local]);
    const vol = pod.volumes?.find((v) => v.name === vm.name);
    if (vol?.configMap) {
      const data = m.configMaps.get(vol.configMap.name);
      if (!data) throw new Error(`manifests: volume ${vm.name} mounts ConfigMap ${vol.configMap.name}, which was not applied`);
      for (const [file, content] of Object.entries(data)) await writeFile(join(local, file), content);
    }
  }
  // Longest mount path first, so /a/b wins over /a.
  mounts.sort((a, b) => b[0].length - a[0].length);
  const localize = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const hit = mounts.find(([p]) => v === p || v.startsWith(`${p}/`));
      return hit ? hit[1] + v.slice(hit[0].length) : v;
    }
    if (Array.isArray(v)) return v.map(localize);
    if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, localize(x)]));
    return v;
  };

  const args = container.args ?? [];
  const c = args.findIndex((a) => a === '-c' || a === '--config');
  const shippedPath = c >= 0 ? args[c + 1] : undefined;
  if (!shippedPath) throw new Error(`manifests: the container's args name no config file (${JSON.stringify(args)})`);
  const { readFile } = await import('node:fs/promises');
  const shipped = parseYaml(await readFile(localize(shippedPath) as string, 'utf8')) as Obj;
  const config = merge(localize(shipped) as Obj, overrides);
  const configFile = join(root, 'config.local.yaml');
  await writeFile(configFile, stringify(config));

  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return { configFile, config, env };
}
