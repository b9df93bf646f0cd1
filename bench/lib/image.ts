/**
 * How the container image runs the detector, for benchmarks that measure it as deployed: the
 * JavaScript build (`dist/`, made by scripts/build.ts) and the base Deployment's NODE_OPTIONS.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './corpus.ts';

/** The V8 flags (NODE_OPTIONS) of a manifest: the base Deployment's, or another's such as the node-files DaemonSet patch. */
export function deploymentNodeFlags(manifest = 'manifests/base/deployment.yaml'): string[] {
  const file = join(repoRoot(), manifest);
  const m = /- name: NODE_OPTIONS\s*\n\s*value: (.+)/.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`no NODE_OPTIONS in ${file}`);
  return m[1]!.trim().replace(/^["']|["']$/g, '').split(/\s+/);
}

/** Builds dist/ (with the benchmark entry points when `bench`); returns the repository root. */
export function buildDist(bench = false): string {
  const root = repoRoot();
  execFileSync(process.execPath, ['scripts/build.ts', ...(bench ? ['--bench'] : [])], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return root;
}
