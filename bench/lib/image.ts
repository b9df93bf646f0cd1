/**
 * How the container image runs the detector, for benchmarks that measure it as deployed: the
 * JavaScript build (`dist/`, made by scripts/build.ts) and the base Deployment's NODE_OPTIONS.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './corpus.ts';

/** The value of env variable `name` in a manifest's container (the base Deployment by default), or null. */
export function manifestEnv(name: string, manifest = 'manifests/base/deployment.yaml'): string | null {
  const text = readFileSync(join(repoRoot(), manifest), 'utf8');
  const m = new RegExp(`- name: ${name}\\s*\\n\\s*value: (.+)`).exec(text);
  return m ? m[1]!.trim().replace(/^["']|["']$/g, '') : null;
}

/** The V8 flags (NODE_OPTIONS) of a manifest: the base Deployment's, or another's such as the node-files DaemonSet patch. */
export function deploymentNodeFlags(manifest = 'manifests/base/deployment.yaml'): string[] {
  const v = manifestEnv('NODE_OPTIONS', manifest);
  if (v === null) throw new Error(`no NODE_OPTIONS in ${manifest}`);
  return v.split(/\s+/);
}

/** Builds dist/ (with the benchmark entry points when `bench`); returns the repository root. */
export function buildDist(bench = false): string {
  const root = repoRoot();
  execFileSync(process.execPath, ['scripts/build.ts', ...(bench ? ['--bench'] : [])], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return root;
}
