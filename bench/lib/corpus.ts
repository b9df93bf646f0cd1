/**
 * The benchmarks' shared input: Loghub-2k lines from ../shared/datasets and incident lines.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The repository root: the nearest directory above this file with a package.json. Works from the
 * sources (bench/lib) and from the build (dist/bench/lib, where dist/package.json is a copy).
 */
export function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist')) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${import.meta.dirname}`);
    dir = up;
  }
  return dir;
}

/** Loghub-2k from the workspace's shared datasets (next to the repository). */
export const DEFAULT_DATASETS = resolve(repoRoot(), '../shared/datasets/loghub-2k');

/** Incident lines mixed into benchmark inputs: every default signature family is hit. */
export const INCIDENTS = [
  'level=error msg="publish failed" err="nats: no servers available for connection"',
  'E1120 09:15:00.000000       1 ldap.go:142] LDAP bind failed: dial tcp 10.20.0.8:636: i/o timeout',
  '{"level":"error","msg":"payment call failed: x509: certificate has expired or is not yet valid"}',
  'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
  'panic: runtime error: invalid memory address or nil pointer dereference',
  'could not connect to server: Connection refused Is the server running on host "db" (10.0.0.3) and accepting TCP/IP connections on port 5432?',
  'upstream request timeout after 30s calling inventory',
  'dial tcp 10.0.0.9:8080: connect: connection refused',
  'Back-off restarting failed container web in pod web-7d4b9c-x2k4p_shop',
  'Failed to pull image "registry.example.com/shop/web:1.4.2": rpc error: code = NotFound desc = manifest unknown',
  'Readiness probe failed: Get "http://10.1.2.3:8080/ready": context deadline exceeded',
  '0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available',
  'MountVolume.SetUp failed for volume "data" : mount failed: exit status 32',
  'write /var/lib/app/data.db: no space left on device',
];

export function loghubLines(dir: string): string[] {
  const out: string[] = [];
  for (const s of readdirSync(dir).sort()) {
    const f = join(dir, s, `${s}_2k.log`);
    try {
      if (!statSync(f).isFile()) continue;
    } catch {
      continue;
    }
    for (const l of readFileSync(f, 'utf8').split('\n')) {
      const line = l.replace(/\r$/, '');
      if (line) out.push(line);
    }
  }
  return out;
}
