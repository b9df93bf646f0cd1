/**
 * The file path's CPU per line in the shape of bench/kube.ts: N files (containers) each appended
 * 10 CRI lines/s, followed by the file source in a child process with an immediately acknowledging
 * sink; after a warm-up, CPU seconds and RSS of the child over a window. Compare `cpuMicrosPerLine`
 * with bench:kube's at the same N (the API path: the same lines through the kube-apiserver).
 *   [BENCH_CHILD_ARGS='--max-semi-space-size=4 …'] node bench/files-follow.ts [sizes=100,250,500] [windowSeconds=20]
 * Final line: one JSON object with every figure.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sizes = (process.argv[2] ?? '100,250,500').split(',').map(Number);
const windowS = Number(process.argv[3] ?? 20);
const child = fileURLToPath(new URL('./lib/files-child.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const line = (i: number, seq: number) =>
  `${new Date().toISOString().replace('Z', '000000Z')} stdout F level=info msg="request served" path=/api/items/${seq % 97} status=200 bytes=${512 + (seq % 300)} container=c${i} seq=${seq}\n`;

interface Sample { idleRss: number; lines: number; userUs: number; systemUs: number; rss: number }
const results: unknown[] = [];
for (const n of sizes) {
  const dir = await mkdtemp(join(tmpdir(), 'rsd-files-follow-'));
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = join(dir, `bench_pod-${i}_uid${i}`, 'app');
    await mkdir(d, { recursive: true });
    files.push(join(d, '0.log'));
    await writeFile(files[i]!, '');
  }
  // BENCH_CHILD_ARGS: V8 flags for the child (as bench/kube.ts takes them), e.g. the Deployment's NODE_OPTIONS.
  const p = spawn(process.execPath, [...(process.env.BENCH_CHILD_ARGS ?? '').split(' ').filter(Boolean), child, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  const waiting: Array<(s: Sample) => void> = [];
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let k: number;
    while ((k = buf.indexOf('\n')) >= 0) {
      const s = JSON.parse(buf.slice(0, k)) as Sample;
      buf = buf.slice(k + 1);
      waiting.shift()?.(s);
    }
  });
  const sample = () => new Promise<Sample>((r) => {
    waiting.push(r);
    p.stdin.write('\n');
  });
  let seq = 0;
  let writing = true;
  const writer = (async () => {
    // 10 lines/s per file: one line per file every 100 ms.
    while (writing) {
      const t0 = Date.now();
      await Promise.all(files.map((f, i) => appendFile(f, line(i, seq))));
      seq++;
      await sleep(Math.max(0, 100 - (Date.now() - t0)));
    }
  })();
  await sleep(8000); // warm-up: every file found, opened and read to its end
  const a = await sample();
  await sleep(windowS * 1000);
  const b = await sample();
  writing = false;
  await writer;
  // Closing stdin ends the child (so a --cpu-prof profile is written); SIGTERM if it lingers.
  const exited = new Promise((r) => p.once('exit', r));
  p.stdin.end();
  await Promise.race([exited, sleep(5000)]);
  p.kill('SIGTERM');
  const cpuS = (b.userUs - a.userUs + b.systemUs - a.systemUs) / 1e6;
  const observed = (b.lines - a.lines) / windowS;
  const r = { containers: n, offeredLinesPerSecond: n * 10, observedLinesPerSecond: Math.round(observed), cpuSecondsPerSecond: +(cpuS / windowS).toFixed(3), systemShare: cpuS > 0 ? +((b.systemUs - a.systemUs) / 1e6 / cpuS).toFixed(2) : null, cpuMicrosPerLine: observed > 0 ? +((cpuS * 1e6) / (observed * windowS)).toFixed(1) : null, rssMiB: Math.round(b.rss / 1048576), idleRssMiB: Math.round(b.idleRss / 1048576) };
  console.log(JSON.stringify(r));
  results.push(r);
  await rm(dir, { recursive: true, force: true });
  await rm(`${dir}-state`, { recursive: true, force: true });
}
console.log(JSON.stringify({ bench: 'files-follow', windowSeconds: windowS, linesPerContainerPerSecond: 10, results }));
