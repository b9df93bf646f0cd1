/**
 * The whole detector as the image runs it (`dist/src/cli.js run -c <the base config>` with the base
 * Deployment's NODE_OPTIONS) against the test env's real kube-apiserver + kwok, a real Loki-protocol store (VictoriaLogs) and a
 * real nats-server; N pods × 10 lines/s. Samples the detector process's CPU and RSS from /proc over a
 * window after catch-up, with the manifests' `MALLOC_ARENA_MAX` (an own value in the environment wins).
 * NODE_FLAGS='…' replaces the Deployment's V8 flags.
 *   node bench/deploy.ts [containers=100] [windowSeconds=40] [profile=api|files]
 * profile files: the node-files DaemonSet as shipped (manifests/overlays/node-files: its config and
 * V8 flags) on one node holding all N pods, reading each pod's CRI file in the kubelet's layout
 * (`<root>/<ns>_<pod>_<uid>/app/0.log`, 10 lines/s each) with its pods informer on the apiserver.
 */
import { spawn, execFileSync } from 'node:child_process';
import { appendFile, readFile, writeFile, mkdir, cp } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDist, deploymentNodeFlags, manifestEnv } from './lib/image.ts';
const root = buildDist();
const N = Number(process.argv[2] ?? 100);
const W = Number(process.argv[3] ?? 40);
const profile = process.argv[4] === 'files' ? 'files' : 'api';
const NS = 'bench';
const { startKube } = await import(`${root}/test/env/kube.ts`);
const { startVictoriaLogs } = await import(`${root}/test/env/victorialogs.ts`);
const { startNats } = await import(`${root}/test/env/nats.ts`);
const env = await startKube();
const loki = await startVictoriaLogs();
const nats = await startNats();
const clk = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
let writer: NodeJS.Timeout | undefined;
try {
  // files: one node (the DaemonSet's) holds every pod; api: two nodes, as the Deployment sees a cluster.
  const nodes = Array.from({ length: profile === 'files' ? 1 : 2 }, (_, i) => `node-${i}`);
  for (const n of nodes) await env.createNode(n);
  await env.createNamespace(NS);
  const podsRoot = join(env.dir, 'var-log-pods');
  const podFiles: string[] = [];
  const file = join(env.dir, 'shared.log');
  await writeFile(file, '');
  if (profile === 'api') await env.api('POST', '/apis/kwok.x-k8s.io/v1alpha1/clusterlogs', { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'ClusterLogs', metadata: { name: 'bench' }, spec: { selector: { matchNamespaces: [NS] }, logs: [{ logsFile: file, follow: true }] } });
  let seq = 0;
  writer = setInterval(() => {
    const now = Date.now();
    const ts = `${new Date(now).toISOString().slice(0, 19)}.${String((now % 1000) * 1e6).padStart(9, '0')}Z`;
    const line = seq % 50 === 0
      ? `level=error msg="upstream call failed" err="dial tcp 10.0.3.${seq % 200}:5432: connect: connection refused" request_id=r${seq}`
      : `level=info msg="handled request" path=/api/v1/orders/${seq} status=200 duration_ms=${(now % 97) + 3} trace_id=4bf92f3577b34da6a3ce929d0e0e4736`;
    seq++;
    // api: kwok streams the one file to every pod; files: the same line into each pod's own file.
    if (profile === 'api') void appendFile(file, `${ts} stdout F ${line}\n`);
    else for (const f of podFiles) void appendFile(f, `${ts} stdout F ${line}\n`);
  }, 100);
  const todo = Array.from({ length: N }, (_, k) => k);
  for (let i = 0; i < todo.length; i += 25) {
    await Promise.all(todo.slice(i, i + 25).map(async (n) => {
      const pod = await env.createPod({ name: `app-${n}`, namespace: NS, node: nodes[n % nodes.length]!, labels: { app: `app-${n % 20}` } }) as { metadata: { uid: string } };
      if (profile === 'files') {
        const d = join(podsRoot, `${NS}_app-${n}_${pod.metadata.uid}`, 'app');
        await mkdir(d, { recursive: true });
        await writeFile(join(d, '0.log'), '');
        podFiles.push(join(d, '0.log'));
      }
    }));
  }
  // The shipped config (base, or the node-files overlay's), pointed at the test servers.
  const dir = join(env.dir, 'rsd');
  await mkdir(join(dir, 'pipelines'), { recursive: true });
  await cp(`${root}/manifests/base/pipelines/site.ts`, join(dir, 'pipelines/site.ts'));
  await cp(`${root}/manifests/base/config/rules.yaml`, join(dir, 'rules.yaml'));
  let cfg = await readFile(`${root}/manifests/${profile === 'files' ? 'overlays/node-files/config.yaml' : 'base/config/config.yaml'}`, 'utf8');
  cfg = cfg.replace('/etc/robot-sre-detector/pipelines', join(dir, 'pipelines')).replace(/\/etc\/robot-sre-detector\/[\w-]+\/rules\.yaml/, join(dir, 'rules.yaml'))
    .replaceAll('/var/lib/robot-sre-detector', join(dir, 'state')).replace('http://loki.robot-sre-detector.svc:3100', loki.lokiUrl).replace('nats://nats.robot-sre-detector.svc:4222', nats.url)
    .replace('  mode: cluster', `  kubeconfig: ${env.adminKubeconfig}\n  mode: cluster`)
    .replace('  root: /var/log/pods', `  kubeconfig: ${env.adminKubeconfig}\n  root: ${podsRoot}`);
  // A mount path the replacements above missed would make the run fail late and obscurely: fail here.
  const unmapped = /\/etc\/robot-sre-detector\S*/.exec(cfg);
  if (unmapped) throw new Error(`bench/deploy.ts: the base config names ${unmapped[0]}, which this bench does not map to its temp dir`);
  await writeFile(join(dir, 'config.yaml'), cfg);
  execFileSync(process.execPath, [`${root}/src/cli.ts`, 'streams', 'apply', '--server', nats.url], { stdio: 'inherit' });
  // The manifests' malloc setting (the base env every overlay inherits), unless the caller sets one.
  const arenas = process.env.MALLOC_ARENA_MAX ?? manifestEnv('MALLOC_ARENA_MAX');
  const mallocEnv = arenas ? { MALLOC_ARENA_MAX: arenas } : {};
  const nodeFlags = process.env.NODE_FLAGS ? process.env.NODE_FLAGS.split(/\s+/).filter(Boolean) : deploymentNodeFlags(profile === 'files' ? 'manifests/overlays/node-files/daemonset-patch.yaml' : undefined);
  const p = spawn(process.execPath, [...nodeFlags, `${root}/dist/src/cli.js`, 'run', '-c', join(dir, 'config.yaml')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RSD_PORT: '18080', LOG_LEVEL: 'warn', ...mallocEnv, ...(profile === 'files' ? { NODE_NAME: nodes[0]! } : {}) } });
  let errs = '';
  p.stderr!.on('data', (b: Buffer) => { errs += b.toString(); if (errs.length > 20000) errs = errs.slice(-10000); });
  const sample = async () => {
    const stat = (await readFile(`/proc/${p.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    const cpu = (Number(stat[11]) + Number(stat[12])) / clk;
    const status = await readFile(`/proc/${p.pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024;
    return { cpu, rss, hwm, t: Date.now() };
  };
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch('http://127.0.0.1:18080/metrics')).text();
    let s = 0;
    for (const l of text.split('\n')) if (l.startsWith(name) && !l.startsWith('#')) s += Number(l.split(' ').at(-1));
    return s;
  };
  const t0 = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    try { if ((await metric(profile === 'files' ? 'rsd_files_open' : 'rsd_followed_containers')) >= N) break; } catch {}
    if (Date.now() - t0 > 180_000) throw new Error('not all followed: ' + errs.slice(-2000));
  }
  const startup = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 20_000)); // catch-up of the 10 min lookback
  const a = await sample(); const la = await metric('rsd_lines_in_total'); const lo = await metric('rsd_lines_out_total');
  const rssSamples: number[] = [];
  for (let i = 0; i < W; i++) { await new Promise((r) => setTimeout(r, 1000)); rssSamples.push((await sample()).rss); }
  const b = await sample(); const lb = await metric('rsd_lines_in_total'); const lo2 = await metric('rsd_lines_out_total');
  const findings = await metric('rsd_findings_total');
  const dropped = await metric('rsd_dropped_total');
  const heapUsed = await metric('rsd_nodejs_heap_size_used_bytes');
  const heapTotal = await metric('rsd_nodejs_heap_size_total_bytes');
  const external = await metric('rsd_nodejs_external_memory_bytes');
  const lag = await metric('rsd_event_loop_lag_seconds');
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  const secs = (b.t - a.t) / 1000;
  console.log(JSON.stringify({ bench: 'full-detector', profile, containers: N, nodeFlags: nodeFlags.join(' '), mallocArenaMax: arenas ?? null, linesPerSecExpected: N * 10, linesInPerSec: Math.round((lb - la) / secs), linesOutPerSec: Math.round((lo2 - lo) / secs), cpuCores: +((b.cpu - a.cpu) / secs).toFixed(3), rssMiBMax: Math.round(Math.max(...rssSamples)), rssMiBEnd: Math.round(b.rss), rssHighWaterMiB: Math.round(b.hwm), heapUsedMiB: Math.round(heapUsed / 2 ** 20), heapTotalMiB: Math.round(heapTotal / 2 ** 20), externalMiB: Math.round(external / 2 ** 20), eventLoopLagP99s: lag, findings, dropped, secondsUntilAllFollowed: startup }));
} finally {
  clearInterval(writer);
  await env.stop(); await loki.stop(); await nats.stop();
}
