/**
 * The evidence-bundle server under load, against the real control plane of test/env/kube.ts (etcd +
 * kube-apiserver + kwok): 25 kwok pods, each serving a CRI file of 2,000 lines through the real
 * pods/log API. The server is the real product, `node src/cli.ts run -c <config>` with `bundles:`
 * enabled, in a child process (its RSS is its own) started with the base Deployment's NODE_OPTIONS and
 * reading the API through the detector's own ServiceAccount RBAC (manifests/base/rbac.yaml applied).
 *
 *   node bench/bundles.ts [runs=3]
 *
 * (a) one bundle of 20 pods × 2,000 lines (selector, the default include: logs with previous, events,
 *     metrics): POST → status done, and → download complete; the gunzipped NDJSON must hold 40,000 log
 *     lines. Median of `runs`.
 * (b) 10 concurrent POSTs of that bundle, maxConcurrentBuilds at its default (2): how many are accepted
 *     and how many get 429 with Retry-After; the refused ones are retried after Retry-After (as an
 *     agent would) until all 10 are built; the number in state `building` (every accepted bundle's
 *     status polled every 50 ms) must never exceed the bound.
 * (c) one bundle of 25 pods × 2,000 = 50,000 lines (maxPods raised to 25 in the config; maxTotalLogLines
 *     at its default 50,000), in a freshly started server: VmRSS of the server process before (median of
 *     1 s of samples) and its peak while the bundle is built and downloaded (/proc/<pid>/status every
 *     50 ms). Run 1 is the process's first bundle (cold: code loaded and compiled on first use); runs
 *     2… reuse its heap.
 *
 * Prints a human summary, then one final JSON line with every figure. On a 2-core machine the API
 * server, etcd and kwok share the cores with the bundle server: the timings include theirs.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SignJWT } from 'jose';
import { parseMetrics, repoRoot } from '../test/e2e/helpers/detector.ts';
import { appendCriLines, startKube, type CriLine } from '../test/env/kube.ts';
import { freePorts } from '../test/env/ports.ts';
import { managedProcess } from '../test/env/process.ts';
import { deploymentNodeFlags } from './lib/image.ts';

const RUNS = Number(process.argv[2] ?? 3);
const NS = 'bench';
const PODS = 25;
const SET_A = 20;
const LINES = 2000;
const SECRET_ENV = 'RSD_BUNDLES_JWT_SECRET';
const SECRET = randomBytes(48).toString('base64url');
const CONCURRENT = 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** 2,000 lines of one pod, timestamped over the last ~2 minutes (inside the 1 h window asked for). */
function podLines(pod: string, t0: number): CriLine[] {
  const out: CriLine[] = [];
  for (let i = 0; i < LINES; i++) {
    const ts = new Date(t0 - 120_000 + i * 50).toISOString().replace('Z', '000000Z');
    let line: string;
    if (i % 200 === 7) line = `level=warn msg="retrying login" pod=${pod} user=svc-orders password=hunter${i} attempt=${i % 5}`;
    else if (i % 50 === 3) line = `level=error msg="upstream call failed" pod=${pod} err="dial tcp 10.0.3.${i % 200}:5432: connect: connection refused" request_id=r${i}`;
    else line = `level=info msg="handled request" pod=${pod} path=/api/v1/orders/${i * 7919 % 100_000} status=200 duration_ms=${(i * 31) % 97 + 3} trace_id=${randomBytes(16).toString('hex')}`;
    out.push({ ts, line });
  }
  return out;
}

async function main(): Promise<void> {
  const tEnv = Date.now();
  const env = await startKube();
  let server: ReturnType<typeof managedProcess> | undefined;
  try {
    await env.createNode('node-a');
    await env.createNamespace(NS);
    // The detector's own RBAC (get/list/watch on pods, pods/log, events), and a token of its ServiceAccount.
    await env.createNamespace('robot-sre-detector');
    await env.kubectl(['apply', '-f', join(repoRoot, 'manifests/base/rbac.yaml')]);
    const saToken = await env.serviceAccountToken('robot-sre-detector', 'robot-sre-detector');
    const kubeconfig = await env.writeKubeconfig(saToken, 'rsd');
    for (let i = 0; i < 100; i++) {
      if ((await env.request('GET', `/api/v1/namespaces/${NS}/pods`, { token: saToken })).status === 200) break;
      await sleep(100);
    }

    const t0 = Date.now();
    const names = Array.from({ length: PODS }, (_, i) => `app-${i}`);
    for (let i = 0; i < names.length; i += 5) {
      await Promise.all(names.slice(i, i + 5).map(async (name, k) => {
        const file = join(env.dir, `${name}.log`);
        await appendCriLines(file, podLines(name, t0));
        await env.createPod({ name, namespace: NS, labels: { app: 'orders', set: i + k < SET_A ? 'a' : 'b' } });
        await env.setPodLogs(NS, name, { logsFile: file });
      }));
    }
    process.stderr.write(`env up with ${PODS} pods × ${LINES} lines in ${((Date.now() - tEnv) / 1000).toFixed(1)} s\n`);

    const dir = join(env.dir, 'rsd');
    await mkdir(dir, { recursive: true });
    const [adminPort, bundlePort] = await freePorts(2);
    const configFile = join(dir, 'config.yaml');
    await writeFile(configFile, [
      'cluster: bench',
      'kubernetes:\n  enabled: false',
      `server:\n  host: 127.0.0.1\n  port: ${adminPort}`,
      'findings:\n  stdout: false',
      'log:\n  level: warn',
      // maxPods raised to 25 for (c); every other bound at its default (maxConcurrentBuilds 2, maxTotalLogLines 50,000).
      `bundles:\n  enabled: true\n  host: 127.0.0.1\n  port: ${bundlePort}\n  jwtSecretEnv: ${SECRET_ENV}\n  dir: ${join(dir, 'bundles')}\n  kubeconfig: ${kubeconfig}\n  maxPods: ${PODS}`,
      '',
    ].join('\n'));
    const nodeFlags = process.env.NODE_FLAGS ? process.env.NODE_FLAGS.split(/\s+/).filter(Boolean) : deploymentNodeFlags();
    const srv = managedProcess({
      name: 'robot-sre-detector',
      command: process.execPath,
      args: [...nodeFlags, join(repoRoot, 'src/cli.ts'), 'run', '-c', configFile],
      cwd: repoRoot,
      env: { ...process.env, [SECRET_ENV]: SECRET },
      logFile: join(dir, 'detector.log'),
      ready: { url: `http://127.0.0.1:${adminPort}/readyz` },
      readyTimeoutMs: 60_000,
    });
    server = srv;
    await srv.start();
    const base = `http://127.0.0.1:${bundlePort}`;
    const token = await new SignJWT({ allowedNamespaces: [NS], capabilities: ['pods', 'logs', 'events', 'metrics'] })
      .setProtectedHeader({ alg: 'HS256' }).setSubject('bench-agent').setIssuedAt().setExpirationTime('2h').sign(new TextEncoder().encode(SECRET));
    const auth = { authorization: `Bearer ${token}` };

    const bodyOf = (selector: string) => ({ timeWindow: { sinceSeconds: 3600 }, target: { namespace: NS, selector } });
    const post = async (body: unknown): Promise<{ status: number; bundleId?: string; retryAfter?: number; error?: string }> => {
      const res = await fetch(`${base}/v1/bundles`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const j = (await res.json()) as { bundleId?: string; error?: string };
      const ra = res.headers.get('retry-after');
      return { status: res.status, ...(j.bundleId ? { bundleId: j.bundleId } : {}), ...(ra !== null ? { retryAfter: Number(ra) } : {}), ...(j.error ? { error: j.error } : {}) };
    };
    const status = async (id: string): Promise<{ status: string; records: number; bytes: number; error?: string }> => {
      const res = await fetch(`${base}/v1/bundles/${id}`, { headers: auth });
      return (await res.json()) as { status: string; records: number; bytes: number; error?: string };
    };
    const waitBuilt = async (id: string, pollMs = 20): Promise<{ status: string; records: number; bytes: number; error?: string }> => {
      for (;;) {
        const s = await status(id);
        if (s.status !== 'building') return s;
        await sleep(pollMs);
      }
    };
    /** Downloads and counts: log records that carry a line, skip records, all records. */
    const download = async (id: string): Promise<{ bytes: number; records: number; logLines: number; skipped: Record<string, number> }> => {
      const res = await fetch(`${base}/v1/bundles/${id}/download`, { headers: auth });
      if (res.status !== 200) throw new Error(`download ${id}: HTTP ${res.status} ${await res.text()}`);
      const gz = Buffer.from(await res.arrayBuffer());
      const lines = gunzipSync(gz).toString('utf8').trimEnd().split('\n');
      let logLines = 0;
      const skipped: Record<string, number> = {};
      for (const l of lines) {
        const r = JSON.parse(l) as { type: string; line?: string; skipped?: boolean; reason?: string };
        if (r.type === 'log' && typeof r.line === 'string') logLines++;
        if (r.skipped) skipped[`${r.type}:${r.reason}`] = (skipped[`${r.type}:${r.reason}`] ?? 0) + 1;
      }
      return { bytes: gz.length, records: lines.length, logLines, skipped };
    };
    const built = async (): Promise<Record<string, number>> => {
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const out: Record<string, number> = {};
      for (const s of parseMetrics(text)) if (s.name === 'rsd_bundles_built_total') out[s.labels.outcome ?? '?'] = (out[s.labels.outcome ?? '?'] ?? 0) + s.value;
      return out;
    };

    /** One bundle, timed: POST → done, POST → downloaded; the contents checked. */
    const timedBundle = async (selector: string, expectLines: number, during?: () => void) => {
      const tp = performance.now();
      const p = await post(bodyOf(selector));
      if (p.status !== 202 || !p.bundleId) throw new Error(`POST: ${p.status} ${p.error ?? ''}`);
      const s = await waitBuilt(p.bundleId);
      const tReady = performance.now() - tp;
      if (s.status !== 'done') throw new Error(`bundle ${s.status}: ${s.error ?? ''}`);
      during?.();
      const d = await download(p.bundleId);
      const tDownloaded = performance.now() - tp;
      if (d.logLines !== expectLines) throw new Error(`bundle has ${d.logLines} log lines, expected ${expectLines} (skipped: ${JSON.stringify(d.skipped)})`);
      return { readyMs: tReady, downloadedMs: tDownloaded, ...d };
    };

    // Warm-up (not counted): the API server's and kwok's first reads of the files.
    await timedBundle('set=a', SET_A * LINES);

    // (a) 20 pods × 2,000 lines.
    const a: Array<Awaited<ReturnType<typeof timedBundle>>> = [];
    for (let i = 0; i < RUNS; i++) a.push(await timedBundle('set=a', SET_A * LINES));
    const resultA = {
      pods: SET_A,
      linesPerPod: LINES,
      logLines: a[0]!.logLines,
      records: a[0]!.records,
      gzipBytes: a[0]!.bytes,
      skipped: a[0]!.skipped,
      readyMs: a.map((x) => Math.round(x.readyMs)),
      downloadedMs: a.map((x) => Math.round(x.downloadedMs)),
      readyMsMedian: Math.round(median(a.map((x) => x.readyMs))),
      downloadedMsMedian: Math.round(median(a.map((x) => x.downloadedMs))),
    };
    console.log(`(a) ${SET_A} pods × ${LINES} lines: ${resultA.logLines} log lines, ${resultA.records} records, ${(resultA.gzipBytes / 2 ** 20).toFixed(2)} MiB gzip; POST → done ${resultA.readyMsMedian} ms, → downloaded ${resultA.downloadedMsMedian} ms (median of ${RUNS}: ${resultA.readyMs.join(', ')} / ${resultA.downloadedMs.join(', ')})`);

    // (b) 10 concurrent POSTs; the refused ones retried after Retry-After.
    const b: Array<Record<string, unknown>> = [];
    for (let run = 0; run < RUNS; run++) {
      const tb = performance.now();
      const first = await Promise.all(Array.from({ length: CONCURRENT }, () => post(bodyOf('set=a'))));
      const accepted = first.filter((x) => x.status === 202).map((x) => x.bundleId!);
      const refused = first.filter((x) => x.status !== 202);
      const otherStatus = refused.filter((x) => x.status !== 429);
      if (otherStatus.length) throw new Error(`unexpected answers: ${JSON.stringify(otherStatus)}`);
      const retryAfter = [...new Set(refused.map((x) => x.retryAfter))];
      let pending = refused.length;
      let attempts = CONCURRENT;
      let more429 = 0;
      let peak = 0;
      const ids = [...accepted];
      const finished = new Set<string>();
      // The refused ones: each waits its Retry-After, then tries again.
      const retries = refused.map(async (x) => {
        let wait = x.retryAfter ?? 1;
        for (;;) {
          await sleep(wait * 1000);
          attempts++;
          const p = await post(bodyOf('set=a'));
          if (p.status === 202) {
            ids.push(p.bundleId!);
            pending--;
            return;
          }
          if (p.status !== 429) throw new Error(`retry: ${p.status} ${p.error ?? ''}`);
          more429++;
          wait = p.retryAfter ?? 1;
        }
      });
      // Everyone's status every 50 ms: how many build at once.
      while (pending > 0 || finished.size < ids.length) {
        const open = ids.filter((id) => !finished.has(id));
        const st = await Promise.all(open.map(async (id) => [id, await status(id)] as const));
        let building = 0;
        for (const [id, s] of st) {
          if (s.status === 'building') building++;
          else if (s.status === 'done') finished.add(id);
          else throw new Error(`bundle ${id} ${s.status}: ${s.error ?? ''}`);
        }
        peak = Math.max(peak, building);
        await sleep(50);
      }
      await Promise.all(retries);
      const allBuiltMs = performance.now() - tb;
      const contents = await Promise.all(ids.map((id) => download(id)));
      const bad = contents.filter((c) => c.logLines !== SET_A * LINES);
      if (bad.length) throw new Error(`${bad.length} bundles without ${SET_A * LINES} log lines`);
      b.push({ accepted: accepted.length, refused429: refused.length, retryAfterSeconds: retryAfter, postsUntilAllAccepted: attempts, further429: more429, peakBuilding: peak, bound: 2, allBuiltMs: Math.round(allBuiltMs), bundles: ids.length });
      if (peak > 2) throw new Error(`peak ${peak} bundles building at once exceeds maxConcurrentBuilds 2`);
    }
    const resultB = { concurrent: CONCURRENT, maxConcurrentBuilds: 2, runs: b, allBuiltMsMedian: Math.round(median(b.map((x) => x.allBuiltMs as number))), peakBuildingMax: Math.max(...b.map((x) => x.peakBuilding as number)) };
    for (const x of b) console.log(`(b) ${CONCURRENT} concurrent POSTs: ${x.accepted} accepted, ${x.refused429} × 429 (Retry-After ${(x.retryAfterSeconds as number[]).join('/')} s), ${x.postsUntilAllAccepted} POSTs until all accepted, all ${x.bundles} built (40,000 lines each) in ${x.allBuiltMs} ms, peak building at once ${x.peakBuilding} (bound 2)`);
    console.log(`(b) median time until all 10 built: ${resultB.allBuiltMsMedian} ms`);
    process.stderr.write(`bundles built so far: ${JSON.stringify(await built())}\n`);

    // (c) 50,000 lines, in a fresh server process: RSS before and peak during.
    await srv.restart();
    const pid = srv.pid();
    if (!pid) throw new Error('no server pid');
    const rssKiB = async (): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]);
    await sleep(2000);
    const c: Array<Record<string, number>> = [];
    for (let run = 0; run < RUNS; run++) {
      const idle: number[] = [];
      for (let i = 0; i < 20; i++) {
        idle.push(await rssKiB());
        await sleep(50);
      }
      const before = median(idle);
      let peak = before;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await rssKiB());
          await sleep(50);
        }
      })();
      const t = await timedBundle('app=orders', PODS * LINES);
      sampling = false;
      await sampler;
      peak = Math.max(peak, await rssKiB());
      c.push({ rssBeforeMiB: r1(before / 1024), rssPeakMiB: r1(peak / 1024), growthMiB: r1((peak - before) / 1024), readyMs: Math.round(t.readyMs), downloadedMs: Math.round(t.downloadedMs), logLines: t.logLines, gzipBytes: t.bytes });
      await sleep(1500);
    }
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]);
    const resultC = {
      pods: PODS,
      linesPerPod: LINES,
      logLines: c[0]!.logLines,
      nodeFlags: nodeFlags.join(' '),
      runs: c,
      growthMiBFirst: c[0]!.growthMiB,
      growthMiBMax: Math.max(...c.map((x) => x.growthMiB!)),
      growthMiBMedian: r1(median(c.map((x) => x.growthMiB!))),
      readyMsMedian: Math.round(median(c.map((x) => x.readyMs!))),
      downloadedMsMedian: Math.round(median(c.map((x) => x.downloadedMs!))),
      rssHighWaterMiB: r1(hwm / 1024),
    };
    for (const [i, x] of c.entries()) console.log(`(c) ${PODS} pods × ${LINES} = ${x.logLines} lines${i === 0 ? ' (first bundle of a fresh process)' : ''}: RSS ${x.rssBeforeMiB} → peak ${x.rssPeakMiB} MiB (+${x.growthMiB} MiB); POST → done ${x.readyMs} ms, → downloaded ${x.downloadedMs} ms, ${(x.gzipBytes! / 2 ** 20).toFixed(2)} MiB gzip`);
    console.log(`(c) RSS growth: max ${resultC.growthMiBMax} MiB, median ${resultC.growthMiBMedian} MiB (budget 20 MiB); server flags: ${resultC.nodeFlags}`);

    const criteria = {
      bundle20x2000Within2s: resultA.readyMsMedian <= 2000,
      concurrencyBoundHeld: resultB.peakBuildingMax <= 2,
      rssGrowth50kWithin20MiB: resultC.growthMiBMax <= 20,
    };
    console.log(`criteria: ${Object.entries(criteria).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    console.log(JSON.stringify({ bench: 'bundles', runs: RUNS, a: resultA, b: resultB, c: resultC, criteria, builtTotal: await built(), secondsTotal: r3((Date.now() - tEnv) / 1000) }));
  } finally {
    await server?.stop().catch(() => undefined);
    await env.stop();
  }
}

await main();
