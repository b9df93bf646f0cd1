/**
 * Side by side against the OpenTelemetry Collector and vlagent: the same input file, the same real
 * Loki-protocol store (VictoriaLogs, fresh per run), the same five stream labels; each tool runs alone.
 * (Grafana Alloy and Promtail were the peers until 2026-12; they can no longer be built here: see
 * bench/peers/versions.env and docs/benchmarks.md.)
 *   npx node bench/peers/run.ts [--lines 1000000] [--rounds 3] [--tools rsd,otelcol,vlagent] [--input file|files] [--files 500]
 *                               [--peer-regex gap|literal|none|plain] [--rsd-queue-mib 16]
 *                               [--rsd-node-flags '<the base Deployment's NODE_OPTIONS>'] [--timeout 900] [--keep]
 * Peers come from bench/peers/build.sh (cached as $CACHE/bin/<name>-<version>); a missing one is
 * skipped with the reason printed. Per run: CPU seconds of the tool process (utime+stime+cutime+cstime
 * from /proc/<pid>/stat), peak RSS (VmHWM), and the wall time from the tool's start until Loki answers
 * a count of every line (LogsQL `| stats count()`). Rounds alternate the tools (A B C A B C …); the table
 * shows medians and the ratios robot-sre-detector / peer. Final line: one JSON object.
 * robot-sre-detector runs as the container image does: the JavaScript build (scripts/build.ts, made
 * here), the base Deployment's NODE_OPTIONS and the base config's Loki memory queue (16 MiB).
 *
 * `--input files [--files 500]`: the same lines as CRI records (`<ts> stdout F <line>`) in the
 * kubelet's layout, `<root>/bench_<pod>_<uid>/app/0.log`, one pod per file, lines dealt round-robin,
 * written afresh (recent timestamps) before every run. Each tool reads them from the start:
 * robot-sre-detector as the DaemonSet's files profile (`kubernetesFiles:`: CRI parsed, labels from a
 * node-scoped pods informer; the informer's API is test/unit/kube-fake-apiserver.ts in this process,
 * serving the 500 pods, so the API server's CPU is in no tool's figure), the OpenTelemetry Collector's
 * filelog receiver with its `container` operator (CRI parsed, namespace/pod/uid/container from the
 * path, the same per-rule regexes), vlagent's file collector (lines shipped as they are, CRI prefix
 * included: it has no CRI parser outside its -kubernetesCollector, which needs the nodes API).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { forceFlush, startVictoriaLogs, type VictoriaLogsHandle } from '../../test/env/victorialogs.ts';
import { freePort } from '../../test/env/ports.ts';
import { FakeKube, podObject } from '../../test/unit/kube-fake-apiserver.ts';
import { otelcolConfig, otelcolFilesConfig, vlagentArgs, vlagentFilesArgs } from './configs.ts';
import { writeInput, type InputStats } from './input.ts';
import { peerRules, toJsRegExp, type PeerRegexVariant } from './rules.ts';
import { buildDist, deploymentNodeFlags } from '../lib/image.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    tools: { type: 'string', default: 'rsd,otelcol,vlagent' },
    datasets: { type: 'string', default: resolve(ROOT, '../shared/datasets/loghub-2k') },
    timeout: { type: 'string', default: '900' },
    keep: { type: 'boolean', default: false },
    'peer-regex': { type: 'string', default: 'gap' },
    input: { type: 'string', default: 'file' },
    files: { type: 'string', default: '500' },
    // loki.memoryQueue of manifests/base/config/config.yaml.
    'rsd-queue-mib': { type: 'string', default: '16' },
    // NODE_OPTIONS of manifests/base/deployment.yaml.
    'rsd-node-flags': { type: 'string', default: deploymentNodeFlags().join(' ') },
  },
});
const VARIANT = values['peer-regex'] as PeerRegexVariant;
if (!['gap', 'literal', 'none', 'plain'].includes(VARIANT)) throw new Error('--peer-regex must be gap, literal, none or plain');
const RULES = peerRules(VARIANT);
const LINES = Number(values.lines);
const ROUNDS = Number(values.rounds);
const TIMEOUT_MS = Number(values.timeout) * 1000;
const CLK_TCK = 100; // getconf CLK_TCK on Linux x86_64/arm64
const MODE = values.input as 'file' | 'files';
if (MODE !== 'file' && MODE !== 'files') throw new Error('--input must be file or files');
const FILES = Number(values.files);

type ToolName = 'rsd' | 'otelcol' | 'vlagent';
interface Tool {
  name: ToolName;
  label: string;
  version: string;
  /** Why it cannot run (binary missing), or null. */
  missing: string | null;
  /** `root`: the pod log directory in --input files mode (then `file` is the source of its lines only). */
  start(ctx: { file: string; root?: string; loki: VictoriaLogsHandle; dir: string; log: string }): Promise<{ proc: ChildProcess; metricsUrl?: string; summary?: Promise<Record<string, unknown>> }>;
}

function readEnv(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(l.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
const peerVersions = readEnv(join(import.meta.dirname, 'versions.env'));
const CACHE = process.env.ROBOT_SRE_CACHE ?? join(process.env.HOME ?? '/root', '.cache/robot-sre-detector');
const peerBin = (name: string, version: string): { path: string; missing: string | null } => {
  const path = join(CACHE, 'bin', `${name}-${version}`);
  return { path, missing: existsSync(path) ? null : `${path} not built (run: nice -n 10 bench/peers/build.sh ${name})` };
};

function logTo(file: string): ReturnType<typeof createWriteStream> {
  return createWriteStream(file, { flags: 'a' });
}

async function waitOpen(stream: ReturnType<typeof createWriteStream>): Promise<void> {
  if (stream.pending) await new Promise((r) => stream.once('open', r));
}

const otelcol = peerBin('otelcol', peerVersions.OTELCOL_VERSION ?? '?');
const vlagent = peerBin('vlagent', peerVersions.VLAGENT_VERSION ?? '?');
const pkgVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const TOOLS: Record<ToolName, Tool> = {
  rsd: {
    name: 'rsd',
    label: 'robot-sre-detector',
    version: pkgVersion,
    missing: null,
    async start({ file, root, loki, log }) {
      const out = logTo(log);
      await waitOpen(out);
      const nodeFlags = values['rsd-node-flags'].split(/\s+/).filter(Boolean);
      const runner = join(ROOT, 'dist/bench/peers/rsd-runner.js');
      const what = root ? ['--pods-root', root, '--kubeconfig', fakeKubeconfig!] : ['--file', file, '--stay'];
      const proc = spawn(process.execPath, [...nodeFlags, runner, '--loki', loki.lokiUrl, ...what, '--memory-queue-mib', values['rsd-queue-mib']], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', out],
        env: { ...process.env, LOG_LEVEL: 'warn' },
      });
      const summary = new Promise<Record<string, unknown>>((res) => {
        let buf = '';
        proc.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const nl = buf.indexOf('\n');
          if (nl >= 0) {
            try {
              res(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
            } catch {
              res({ unparsed: buf.slice(0, nl) });
            }
          }
        });
        proc.once('exit', () => res({}));
      });
      // The files profile follows until SIGTERM and prints no summary.
      return root ? { proc } : { proc, summary };
    },
  },
  otelcol: {
    name: 'otelcol',
    label: 'OpenTelemetry Collector',
    version: peerVersions.OTELCOL_VERSION ?? '?',
    missing: otelcol.missing,
    async start({ file, root, loki, dir, log }) {
      const cfg = join(dir, 'otelcol.yaml');
      await writeFile(cfg, root ? otelcolFilesConfig({ root, storeUrl: loki.url, dir, rules: RULES }) : otelcolConfig({ file, storeUrl: loki.url, dir, metricsPort: await freePort(), rules: RULES }));
      const out = logTo(log);
      await waitOpen(out);
      const proc = spawn(otelcol.path, ['--config', cfg], { cwd: dir, stdio: ['ignore', out, out] });
      return { proc };
    },
  },
  vlagent: {
    name: 'vlagent',
    label: 'vlagent (no rules)',
    version: peerVersions.VLAGENT_VERSION ?? '?',
    missing: vlagent.missing,
    async start({ file, root, loki, dir, log }) {
      const out = logTo(log);
      await waitOpen(out);
      const port = await freePort();
      const args = root ? vlagentFilesArgs({ root, storeUrl: loki.url, dir, httpPort: port }) : vlagentArgs({ file, storeUrl: loki.url, dir, httpPort: port });
      const proc = spawn(vlagent.path, args, { cwd: dir, stdio: ['ignore', out, out] });
      return { proc };
    },
  },
};

/** utime+stime (+ reaped children) in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17.
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function storeMetric(url: string, name: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    let n = 0;
    for (const l of text.split('\n')) if (l.startsWith(name) && (l[name.length] === '{' || l[name.length] === ' ')) n += Number(l.slice(l.lastIndexOf(' ') + 1));
    return n;
  } catch {
    return 0;
  }
}

/** Lines of the bench stream the store can answer a query with. */
async function storeCount(url: string): Promise<number> {
  await forceFlush(url);
  const u = new URL('/select/logsql/query', url);
  u.searchParams.set('query', '{cluster="bench"} | stats count() as n');
  const res = await fetch(u);
  if (!res.ok) throw new Error(`count query: ${res.status} ${(await res.text()).slice(0, 200)}`);
  const row = (await res.text()).split('\n').find(Boolean);
  return row ? Number((JSON.parse(row) as { n: string }).n) : 0;
}

/** Per-rule counters a peer exposes (`…rule_<id>_total`). */
async function ruleCounters(metricsUrl: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const text = await (await fetch(metricsUrl)).text();
  for (const l of text.split('\n')) {
    const m = /^\S*?(rule_[a-z_]+_total|lines_total)(?:\{[^}]*\})? (\S+)$/.exec(l);
    if (m && /custom/.test(l)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

interface RunResult {
  tool: ToolName;
  round: number;
  ok: boolean;
  error?: string;
  cpu_s: number;
  cpu_s_per_mline: number;
  peak_rss_mb: number;
  wall_s: number;
  lines_in_loki: number;
  extra: Record<string, unknown>;
}

async function runOnce(tool: Tool, round: number, input: string, workDir: string): Promise<RunResult> {
  const dir = await mkdtemp(join(workDir, `${tool.name}-r${round}-`));
  const loki = await startVictoriaLogs();
  const log = join(dir, `${tool.name}.log`);
  const res: RunResult = { tool: tool.name, round, ok: false, cpu_s: NaN, cpu_s_per_mline: NaN, peak_rss_mb: NaN, wall_s: NaN, lines_in_loki: 0, extra: {} };
  let proc: ChildProcess | undefined;
  try {
    // Files mode: the pod log files are written afresh for every run (recent timestamps, no positions).
    const root = MODE === 'files' ? await writePodFiles(input, join(dir, 'pods')) : undefined;
    const t0 = performance.now();
    const started = await tool.start({ file: input, ...(root ? { root } : {}), loki, dir, log });
    proc = started.proc;
    const pid = proc.pid!;
    let exited: string | null = null;
    proc.once('exit', (code, sig) => (exited = `exited early: code ${code} signal ${sig}`));
    const deadline = t0 + TIMEOUT_MS;
    let count = 0;
    // Cheap signal first (the store's ingested-rows counter), then the query that proves the lines
    // are queryable: the query itself costs the store CPU on the same 2 cores.
    while (performance.now() < deadline) {
      if (exited) throw new Error(`${exited}; log: ${log}`);
      const received = await storeMetric(loki.url, 'vl_rows_ingested_total');
      if (received >= LINES) {
        count = await storeCount(loki.url);
        if (count >= LINES) break;
        await sleep(500);
      } else {
        await sleep(200);
      }
    }
    res.wall_s = (performance.now() - t0) / 1000;
    res.lines_in_loki = count;
    if (exited) throw new Error(`${exited}; log: ${log}`);
    res.cpu_s = cpuSeconds(pid);
    res.peak_rss_mb = peakRssMb(pid);
    res.cpu_s_per_mline = res.cpu_s / (LINES / 1e6);
    if (count < LINES) throw new Error(`only ${count}/${LINES} lines queryable after ${values.timeout}s; log: ${log}`);
    if (started.metricsUrl) res.extra.counters = await ruleCounters(started.metricsUrl);
    if (started.summary) res.extra.summary = await Promise.race([started.summary, sleep(30_000).then(() => ({ timeout: true }))]);
    res.ok = true;
  } catch (err) {
    res.error = String(err instanceof Error ? err.message : err);
  } finally {
    if (proc && proc.exitCode === null) {
      const gone = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([gone, sleep(10_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    await loki.stop();
    if (!values.keep && res.ok) await rm(dir, { recursive: true, force: true });
  }
  return res;
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r2 = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
const r3 = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

// ── main ─────────────────────────────────────────────────────────────────────────────────────
const wanted = values.tools.split(',').map((s) => s.trim()) as ToolName[];
for (const t of wanted) if (!(t in TOOLS)) throw new Error(`unknown tool ${t} (rsd, otelcol, vlagent)`);
const skipped: Record<string, string> = {};
const tools = wanted.map((t) => TOOLS[t]).filter((t) => {
  if (t.missing) {
    skipped[t.name] = t.missing;
    process.stderr.write(`SKIPPING ${t.label}: ${t.missing}\n`);
    return false;
  }
  return true;
});
if (tools.some((t) => t.name === 'rsd')) buildDist(true);

const workDir = await mkdtemp(join(tmpdir(), 'rsd-peers-'));

// Files mode: the pods the files belong to, served to rsd's informer by a small in-process API.
const podUids = Array.from({ length: FILES }, () => randomUUID());
const podName = (i: number) => `bench-${String(i).padStart(4, '0')}`;
let fakeKube: FakeKube | undefined;
let fakeKubeconfig: string | undefined;
// Started two hours ago: every line of the files (the last 40 minutes) is from the running instance.
const CONTAINERS_STARTED = new Date(Date.now() - 2 * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
if (MODE === 'files') {
  fakeKube = new FakeKube();
  await fakeKube.start();
  for (let i = 0; i < FILES; i++) {
    const pod = podObject({ name: podName(i), namespace: 'bench', node: 'node-a', labels: { app: `app-${i % 50}` }, containers: [{ name: 'app', id: `containerd://${podUids[i]!.replaceAll('-', '')}`, startedAt: CONTAINERS_STARTED }] });
    pod.metadata.uid = podUids[i]!;
    fakeKube.put('pods', pod);
  }
  fakeKubeconfig = fakeKube.kubeconfigFile();
}

/** The input's lines as CRI records in FILES pod log files (round-robin, fresh timestamps); returns the root. */
async function writePodFiles(input: string, root: string): Promise<string> {
  const rows = (await readFile(input, 'utf8')).split('\n').filter(Boolean);
  // 40 minutes: inside the files profile's resume age (lookback) and Loki's out-of-order window.
  const span = 40 * 60_000;
  const end = Date.now();
  const bufs: string[][] = Array.from({ length: FILES }, () => []);
  rows.forEach((row, i) => {
    const ms = end - span + Math.floor((i * span) / rows.length);
    const ns = String((i * 7919) % 1_000_000).padStart(6, '0');
    const ts = `${new Date(ms).toISOString().slice(0, 23)}${ns}Z`;
    bufs[i % FILES]!.push(`${ts} stdout F ${row.slice(row.indexOf(' ') + 1)}\n`);
  });
  for (let i = 0; i < FILES; i++) {
    const d = join(root, `bench_${podName(i)}_${podUids[i]}`, 'app');
    await mkdir(d, { recursive: true });
    await writeFile(join(d, '0.log'), bufs[i]!.join(''));
  }
  return root;
}
const input = join(workDir, 'input.log');
const stats: InputStats = await writeInput(input, { lines: LINES, datasets: values.datasets, samples: join(ROOT, 'samples/incident.ndjson') });
process.stderr.write(`input: ${input} ${stats.lines} lines, ${(stats.bytes / 1048576).toFixed(1)} MiB (${stats.loghub} Loghub, ${stats.samples} incident samples, ${stats.incidents} incident lines), ${stats.firstTs} … ${stats.lastTs}\n`);

// Expected per-rule matches (JS engine, same patterns): the peers' counters should agree.
const expected: Record<string, number> = {};
{
  const res = RULES.map((r) => ({ id: r.id, re: toJsRegExp(r.re2) }));
  for (const r of res) expected[`rule_${r.id}_total`] = 0;
  for (const row of (await readFile(input, 'utf8')).split('\n')) {
    if (!row) continue;
    for (const r of res) if (r.re.test(row)) expected[`rule_${r.id}_total`]!++;
  }
}

const results: RunResult[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const tool of tools) {
    process.stderr.write(`round ${round}/${ROUNDS} ${tool.label} … `);
    const r = await runOnce(tool, round, input, workDir);
    results.push(r);
    process.stderr.write(
      r.ok
        ? `cpu ${r.cpu_s.toFixed(2)} s, peak RSS ${r.peak_rss_mb.toFixed(0)} MB, queryable after ${r.wall_s.toFixed(1)} s\n`
        : `FAILED: ${r.error}\n`,
    );
  }
}

interface Summary {
  tool: string;
  version: string;
  runs_ok: number;
  cpu_s_per_mline: number | null;
  peak_rss_mb: number | null;
  wall_to_queryable_s: number | null;
  lines_per_cpu_s: number | null;
}
const summaries: Record<string, Summary> = {};
for (const tool of tools) {
  const ok = results.filter((r) => r.tool === tool.name && r.ok);
  const cpu = median(ok.map((r) => r.cpu_s_per_mline));
  summaries[tool.name] = {
    tool: tool.label,
    version: tool.version,
    runs_ok: ok.length,
    cpu_s_per_mline: r2(cpu),
    peak_rss_mb: r2(median(ok.map((r) => r.peak_rss_mb))),
    wall_to_queryable_s: r2(median(ok.map((r) => r.wall_s))),
    lines_per_cpu_s: Number.isFinite(cpu) ? Math.round(1e6 / cpu) : null,
  };
}

const ratios: Record<string, { cpu: number | null; rss: number | null; wall: number | null }> = {};
const rsd = summaries.rsd;
// The goal compares against peers that run the rules (vlagent has no rule stage: it is the shipping baseline).
const peers = tools.filter((t) => t.name !== 'rsd' && t.name !== 'vlagent').map((t) => summaries[t.name]!);
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a != null && b != null && b > 0 ? r3(a / b) : null);
for (const t of tools) {
  if (t.name === 'rsd' || !rsd) continue;
  const p = summaries[t.name]!;
  ratios[t.name] = { cpu: ratio(rsd.cpu_s_per_mline, p.cpu_s_per_mline), rss: ratio(rsd.peak_rss_mb, p.peak_rss_mb), wall: ratio(rsd.wall_to_queryable_s, p.wall_to_queryable_s) };
}
const finite = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x != null);
const bestCpu = finite(peers.map((p) => p.cpu_s_per_mline));
const bestRss = finite(peers.map((p) => p.peak_rss_mb));
const goal =
  rsd && bestCpu.length && bestRss.length
    ? {
        cpu_vs_best_peer: ratio(rsd.cpu_s_per_mline, Math.min(...bestCpu)),
        rss_vs_best_peer: ratio(rsd.peak_rss_mb, Math.min(...bestRss)),
        // The goal of the servers issue: CPU per line ≤ 0.5× the best peer's, peak RSS ≤ the best peer's.
        met: (ratio(rsd.cpu_s_per_mline, Math.min(...bestCpu)) ?? 9) <= 0.5 && (ratio(rsd.peak_rss_mb, Math.min(...bestRss)) ?? 9) <= 1,
      }
    : null;

// Human-readable table (stderr), then the JSON line (stdout).
const rows = tools.map((t) => {
  const s = summaries[t.name]!;
  const rt = ratios[t.name];
  return `| ${s.tool} ${s.version} | ${s.cpu_s_per_mline ?? '–'} | ${s.peak_rss_mb ?? '–'} | ${s.wall_to_queryable_s ?? '–'} | ${rt ? `${rt.cpu ?? '–'} / ${rt.rss ?? '–'} / ${rt.wall ?? '–'}` : '–'} | ${s.runs_ok}/${ROUNDS} |`;
});
process.stderr.write(
  [
    '',
    `| tool | CPU s / 1M lines | peak RSS MB | wall s to all queryable | rsd ÷ peer (cpu / rss / wall) | runs ok |`,
    `|---|---|---|---|---|---|`,
    ...rows,
    '',
  ].join('\n'),
);

const detail = results.map((r) => ({ tool: r.tool, round: r.round, ok: r.ok, ...(r.error ? { error: r.error } : {}), cpu_s: r2(r.cpu_s), peak_rss_mb: r2(r.peak_rss_mb), wall_s: r2(r.wall_s), lines_in_loki: r.lines_in_loki, ...r.extra }));
process.stdout.write(
  `${JSON.stringify({
    bench: 'peers',
    input: MODE === 'files' ? { mode: 'files', files: FILES, layout: '<root>/bench_<pod>_<uid>/app/0.log (CRI)' } : { mode: 'file' },
    lines: LINES,
    input_mib: r2(stats.bytes / 1048576),
    rounds: ROUNDS,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', node: process.version },
    store: 'VictoriaLogs (test/env/victorialogs.ts)',
    peer_rules: RULES.length,
    peer_regex: VARIANT,
    rsd_memory_queue_mib: values['rsd-queue-mib'] ? Number(values['rsd-queue-mib']) : 64,
    rsd_node_flags: values['rsd-node-flags'],
    expected_rule_matches: expected,
    skipped,
    medians: summaries,
    ratios_rsd_over_peer: ratios,
    goal,
    runs: detail,
  })}\n`,
);
await fakeKube?.stop();
if (!values.keep) await rm(workDir, { recursive: true, force: true });
