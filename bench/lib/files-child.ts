/**
 * Child of bench/files-follow.ts: the file source following every file under a directory, with a sink
 * that acknowledges at once (as bench/kube.ts's child does for the API path), so its CPU is the
 * source's own. Prints one JSON sample per line on request (a line on stdin).
 */
import { writeFileSync } from 'node:fs';
import { createLogger } from '../../src/logger.ts';
import { FileSource } from '../../src/sources/files/source.ts';
import { acknowledge } from '../../src/delivery/acks.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { FileStore } from '../../src/state/file-store.ts';
import { FILES_DEFAULTS } from '../../src/sources/kube-files/defaults.ts';

const dir = process.argv[2]!;
const idleRss = process.memoryUsage().rss;
// As the node-files profile drives the file source (src/sources/kube-files): its defaults, no anchors
// (CRI lines carry their timestamps) and positions in a file store. BENCH_STORE=memory keeps them in
// memory, BENCH_ANCHORS=1 dates lines by anchors (the plain files source), BENCH_POSITIONS_FLUSH_MS
// overrides the flush period.
const state = `${dir}-state`;
const src = new FileSource({
  include: [`${dir}/**/*.log`],
  exclude: [],
  readFrom: 'start',
  maxOpenFiles: FILES_DEFAULTS.maxOpenFiles,
  fingerprintBytes: 1024,
  maxLineBytes: FILES_DEFAULTS.maxLineBytes + 64,
  pollIntervalMs: FILES_DEFAULTS.pollIntervalMs,
  scanIntervalMs: FILES_DEFAULTS.scanIntervalMs,
  closeIdleMs: FILES_DEFAULTS.closeIdleMs,
  rotateWaitMs: FILES_DEFAULTS.rotateWaitMs,
  positionsFlushMs: Number(process.env.BENCH_POSITIONS_FLUSH_MS ?? FILES_DEFAULTS.positionsFlushMs),
  anchors: process.env.BENCH_ANCHORS === '1',
  scope: 'bench',
  multiline: { mode: 'none', maxLines: 1, maxBytes: FILES_DEFAULTS.maxLineBytes + 64, timeoutMs: 1000 },
  target: { cluster: 'bench', namespace: 'bench', node: 'n1' },
  store: process.env.BENCH_STORE === 'memory' ? new MemoryStore() : new FileStore(state),
  log: createLogger('warn'),
  watch: true,
});
let lines = 0;
src.records$.subscribe((batch) => {
  lines += batch.length;
  acknowledge(batch);
});
await src.start();
// stdin closed: the bench is done (exit, so a --cpu-prof profile is written).
process.stdin.on('end', () => process.exit(0));
// BENCH_PROFILE=<file.cpuprofile>: a CPU profile of the measured window only (first sample to second).
const profileTo = process.env.BENCH_PROFILE;
const profiler = profileTo ? new (await import('node:inspector/promises')).Session() : null;
let samples = 0;
process.stdin.on('data', () => {
  if (profiler && samples === 0) {
    profiler.connect();
    void profiler.post('Profiler.enable').then(() => profiler.post('Profiler.start'));
  } else if (profiler && samples === 1) {
    void profiler.post('Profiler.stop').then(({ profile }) => writeFileSync(profileTo!, JSON.stringify(profile)));
  }
  samples++;
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ idleRss, lines, userUs: cpu.user, systemUs: cpu.system, rss: mem.rss })}\n`);
});
