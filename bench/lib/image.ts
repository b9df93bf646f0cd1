/**
 * How the container image runs the detector, for benchmarks that measure it as deployed: the
 * JavaScript build (`dist/`, made by scripts/build.ts) and the base Deployment's NODE_OPTIONS.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './corpus.ts';

/** The V8 flags of manifests/base/deployment.yaml (its NODE_OPTIONS), read from the manifest. */
export function deploymentNodeFlags(): string[] {
  const file = join(repoRoot(), 'manifests/base/deployment.yaml');
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
