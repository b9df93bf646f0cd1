/**
 * Makes sure every real test server binary is in the cache, building missing ones with build.sh.
 *   node test/env/ensure.ts [component...]     (components: etcd kube kwok victorialogs kustomize nats toxiproxy alertmanager helm)
 * One line per component. Without Go: a loud "E2E SKIPPED" line and exit 0, except with CI=true
 * where anything missing is a failure (exit 1).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { binaries, COMPONENTS, envDir, inCI, type BinaryInfo, type Binaries, type Component } from './binaries.ts';
import { readTail } from './process.ts';

export interface EnsureResult {
  component: Component;
  version: string;
  status: 'cached' | 'built' | 'failed' | 'skipped';
  seconds?: number;
  /** Build log (when a build ran) or the reason it failed/skipped. */
  detail?: string;
}

function infosOf(b: Binaries, c: Component): BinaryInfo[] {
  switch (c) {
    case 'etcd':
      return [b.etcd];
    case 'kube':
      return [b.kubeApiserver, b.kubectl];
    case 'kwok':
      return [b.kwok];
    case 'victorialogs':
      return [b.victoriaLogs];
    case 'kustomize':
      return [b.kustomize];
    case 'nats':
      return [b.natsServer, b.natsServerNewest];
    case 'toxiproxy':
      return [b.toxiproxy];
    case 'alertmanager':
      return [b.alertmanager];
    case 'helm':
      return [b.helm];
  }
}

function runBuild(component: Component, logFile: string, goBin: string | null): Promise<number> {
  const fd = openSync(logFile, 'w');
  try {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (goBin) env.GO = goBin;
    // Long compiles must not starve the tests or the editor on a 2-core machine.
    const child = spawn('nice', ['-n', '10', 'bash', join(envDir, 'build.sh'), component], { stdio: ['ignore', fd, fd], env });
    return new Promise((resolve) => {
      child.once('error', () => resolve(127));
      child.once('exit', (code) => resolve(code ?? 1));
    });
  } finally {
    closeSync(fd);
  }
}

/** Builds what is missing among `components`; never throws for a failed build (see the results). */
export async function ensure(components: readonly Component[] = COMPONENTS, print: (line: string) => void = () => {}): Promise<EnsureResult[]> {
  const results: EnsureResult[] = [];
  for (const component of components) {
    const before = infosOf(binaries(), component);
    const version = before.map((i) => i.version).filter((v, i, a) => a.indexOf(v) === i).join('/');
    if (before.every((i) => i.path)) {
      const r: EnsureResult = { component, version, status: 'cached', detail: before.map((i) => i.path).join(' ') };
      print(`${component.padEnd(10)} ${version.padEnd(18)} cached   ${r.detail}`);
      results.push(r);
      continue;
    }
    const goBin = binaries().go;
    if (!goBin) {
      const r: EnsureResult = { component, version, status: 'skipped', detail: 'go not found' };
      print(`${component.padEnd(10)} ${version.padEnd(18)} MISSING  (go not found, cannot build)`);
      results.push(r);
      continue;
    }
    const logDir = join(binaries().cacheDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const logFile = join(logDir, `build-${component}.log`);
    print(`${component.padEnd(10)} ${version.padEnd(18)} building (log: ${logFile})`);
    const t0 = Date.now();
    const code = await runBuild(component, logFile, goBin);
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    const after = infosOf(binaries(), component);
    if (code === 0 && after.every((i) => i.path)) {
      const r: EnsureResult = { component, version, status: 'built', seconds, detail: logFile };
      print(`${component.padEnd(10)} ${version.padEnd(18)} built    in ${seconds}s ${after.map((i) => i.path).join(' ')}`);
      results.push(r);
    } else {
      const why = after.map((i) => i.missing).filter(Boolean).join('; ');
      const r: EnsureResult = { component, version, status: 'failed', seconds, detail: `exit ${code}; ${why}; log ${logFile}` };
      print(`${component.padEnd(10)} ${version.padEnd(18)} FAILED   after ${seconds}s (exit ${code}), log: ${logFile}\n${readTail(logFile, 3000)}`);
      results.push(r);
    }
  }
  return results;
}

/** Used by the start helpers: build `component` if it is missing, or throw with the reason. */
export async function ensureOrThrow(component: Component): Promise<void> {
  const [r] = await ensure([component], (l) => process.stderr.write(`[test/env] ${l}\n`));
  if (!r || r.status === 'failed' || r.status === 'skipped') {
    throw new Error(`test/env: ${component} unavailable: ${r?.detail ?? 'unknown'}`);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !(COMPONENTS as readonly string[]).includes(a));
  if (unknown.length > 0) {
    console.error(`unknown component(s): ${unknown.join(', ')}; choose from ${COMPONENTS.join(' ')}`);
    process.exit(2);
  }
  const wanted = args.length > 0 ? (args as Component[]) : COMPONENTS;
  const b = binaries();
  console.log(`test/env: cache ${b.cacheDir}, go ${b.go ?? 'NOT FOUND'}${inCI() ? ', CI=true' : ''}`);
  const t0 = Date.now();
  const results = await ensure(wanted, (l) => console.log(l));
  const bad = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
  console.log(`test/env: done in ${Math.round((Date.now() - t0) / 1000)}s`);
  if (bad.length === 0) return;
  if (!b.go && bad.every((r) => r.status === 'skipped')) {
    const names = bad.map((r) => r.component).join(', ');
    console.log(inCI()
      ? `E2E FAILED: go not found — cannot build ${names}, and CI=true forbids skipping`
      : `E2E SKIPPED: go not found — cannot build ${names}; tests needing them will skip (CI=true makes this fatal)`);
    process.exit(inCI() ? 1 : 0);
  }
  // A failed build is a real error even outside CI: it means the pinned versions are broken.
  process.exit(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
