/**
 * File source benchmark (in process, acknowledging at once, MemoryStore; no sink, no parse stage).
 *   node bench/files.ts [--lines N] [--files N]
 * 1. Catch-up: one file of N lines (~110 bytes each) read from its start: lines/s, MiB/s, CPU ms.
 * 2. The same file with multiline: stacktraces (every line held until the next one arrives).
 * 3. Many small files (3 lines each) with maxOpenFiles 256: time until every line is read.
 * Each figure is the median of 3 runs. The last line printed is one JSON object.
 * The file path against the API path (500 CRI files trickling, same-run ratio) is bench/files-follow.ts
 * beside bench/kube.ts; 1M CRI lines in 500 files through the files profile, the default pipeline and
 * the store, against the OpenTelemetry Collector and vlagent, is `npm run bench:peers -- --input files`
 * (docs/benchmarks.md).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLogger } from '../src/logger.ts';
import type { MultilineMode } from '../src/sources/files/multiline.ts';
import { FileSource } from '../src/sources/files/source.ts';
import { acknowledge } from '../src/delivery/acks.ts';
import { MemoryStore } from '../src/state/memory-store.ts';

const args = process.argv.slice(2);
const argNum = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const LINES = argNum('--lines', 500_000);
const FILES = argNum('--files', 5_000);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

async function readAll(include: string, expected: number, mode: MultilineMode, maxOpenFiles = 1024): Promise<{ ms: number; cpuMs: number }> {
  const src = new FileSource({
    include: [include],
    exclude: [],
    readFrom: 'start',
    maxOpenFiles,
    fingerprintBytes: 1024,
    maxLineBytes: 256 * 1024,
    pollIntervalMs: 1000,
    scanIntervalMs: 60_000,
    closeIdleMs: 300_000,
    rotateWaitMs: 5000,
    positionsFlushMs: 200,
    scope: 'bench',
    multiline: { mode, maxLines: 500, maxBytes: 128 * 1024, timeoutMs: 50 },
    target: { cluster: 'bench', namespace: 'default', service: 'bench' },
    store: new MemoryStore(),
    log: createLogger('silent'),
  });
  let n = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  src.records$.subscribe((batch) => {
    for (const r of batch) n += mode === 'none' ? 1 : r.line.split('\n').length;
    acknowledge(batch);
    if (n >= expected) resolveDone();
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await src.start();
  await done;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await src.stop();
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

// The source's timers do not hold the process open (the detector's server does): this does.
const keepAlive = setInterval(() => {}, 1000);
const dir = await mkdtemp(join(tmpdir(), 'rsd-bench-files-'));
try {
  const big = join(dir, 'big.log');
  const chunk: string[] = [];
  for (let i = 0; i < LINES; i++) chunk.push(`2026-03-01T10:00:00.${String(i % 1000).padStart(3, '0')}Z level=info msg="request served" path=/api/v1/items/${i} ms=${i % 97}\n`);
  let text: string | null = chunk.join('');
  chunk.length = 0;
  await writeFile(big, text);
  const mib = Buffer.byteLength(text) / 2 ** 20;
  text = null; // the figures are about the source, not this input
  const plain = [];
  const joined = [];
  for (let r = 0; r < 3; r++) plain.push(await readAll(big, LINES, 'none'));
  for (let r = 0; r < 3; r++) joined.push(await readAll(big, LINES, 'stacktraces'));
  const small = join(dir, 'small');
  for (let d = 0; d < Math.ceil(FILES / 100); d++) {
    await mkdir(join(small, `d${d}`), { recursive: true });
    await Promise.all(Array.from({ length: Math.min(100, FILES - d * 100) }, (_, f) => writeFile(join(small, `d${d}`, `f${f}.log`), `a ${d}/${f}\nb ${d}/${f}\nc ${d}/${f}\n`)));
  }
  const many = [];
  for (let r = 0; r < 3; r++) many.push(await readAll(join(small, '*', '*.log'), FILES * 3, 'none', 256));
  const ms = median(plain.map((x) => x.ms));
  const mlMs = median(joined.map((x) => x.ms));
  const manyMs = median(many.map((x) => x.ms));
  const result = {
    bench: 'files',
    lines: LINES,
    mib: round(mib),
    catchUp: { linesPerSec: Math.round(LINES / (ms / 1000)), mibPerSec: round(mib / (ms / 1000)), cpuMs: Math.round(median(plain.map((x) => x.cpuMs))) },
    multilineStacktraces: { linesPerSec: Math.round(LINES / (mlMs / 1000)), cpuMs: Math.round(median(joined.map((x) => x.cpuMs))) },
    manySmallFiles: { files: FILES, maxOpenFiles: 256, seconds: round(manyMs / 1000, 2), filesPerSec: Math.round(FILES / (manyMs / 1000)) },
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
  process.stderr.write(`catch-up ${result.catchUp.linesPerSec} lines/s (${result.catchUp.mibPerSec} MiB/s); multiline stacktraces ${result.multilineStacktraces.linesPerSec} lines/s; ${FILES} small files in ${result.manySmallFiles.seconds} s\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  clearInterval(keepAlive);
  await rm(dir, { recursive: true, force: true });
}
