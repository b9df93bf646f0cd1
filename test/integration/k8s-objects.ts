/**
 * Shared by the manifest suites (manifests.test.ts, helm.test.ts): Kubernetes objects out of the real
 * kustomize and helm binaries, and throwaway kustomizations that build on manifests/ (kustomize only
 * accepts relative paths, so the ones given here are made relative to the kustomization's directory).
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';

export const run = promisify(execFile);
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const manifestsDir = join(repoRoot, 'manifests');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

/** Every non-empty YAML document of a multi-document stream (helm emits empty ones and comments). */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`YAML: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export async function kustomizeBuild(kustomize: string, dir: string): Promise<K8sObject[]> {
  const { stdout } = await run(kustomize, ['build', dir], { maxBuffer: 32 << 20 });
  return parseObjects(stdout);
}

export interface Kustomization {
  /** Absolute paths (directories or files), written relative to the kustomization's directory. */
  resources?: string[];
  components?: string[];
  /** Files written next to kustomization.yaml: name → content. */
  files?: Record<string, string>;
  /** Any other kustomization fields, as they are (configMapGenerator, patches, …). */
  [field: string]: unknown;
}

/** Writes `dir/kustomization.yaml` (and its files) and returns `dir`. */
export async function writeKustomization(dir: string, k: Kustomization): Promise<string> {
  await mkdir(dir, { recursive: true });
  const { resources, components, files, ...rest } = k;
  const rel = (p: string): string => relative(dir, p) || '.';
  const doc: Record<string, unknown> = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' };
  if (resources) doc.resources = resources.map(rel);
  if (components) doc.components = components.map(rel);
  Object.assign(doc, rest);
  for (const [name, text] of Object.entries(files ?? {})) await writeFile(join(dir, name), text);
  await writeFile(join(dir, 'kustomization.yaml'), stringify(doc));
  return dir;
}

/** `kind/namespace/name`: what identifies an object in one build. */
export function objectKey(o: K8sObject): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}
