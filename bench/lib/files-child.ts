/**
 * Child of bench/files-follow.ts: the file source following every file under a directory, with a sink
 * that acknowledges at once (as bench/kube.ts's child does for the API path), so its CPU is the
 * source's own. Prints one JSON sample per line on request (a line on stdin).
 */
import { createLogger } from '../../src/logger.ts';
import { FileSource } from '../../src/sources/files/source.ts';
import { acknowledge } from '../../src/delivery/acks.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';

const dir = process.argv[2]!;
const idleRss = process.memoryUsage().rss;
const src = new FileSource({
  include: [`${dir}/**/*.log`],
  exclude: [],
  readFrom: 'start',
  maxOpenFiles: 1024,
  fingerprintBytes: 1024,
  maxLineBytes: 256 * 1024,
  pollIntervalMs: 1000,
  scanIntervalMs: 10_000,
  closeIdleMs: 300_000,
  rotateWaitMs: 5000,
  positionsFlushMs: 200,
  scope: 'bench',
  multiline: { mode: 'none', maxLines: 500, maxBytes: 128 * 1024, timeoutMs: 1000 },
  target: { cluster: 'bench', namespace: 'bench', node: 'n1' },
  store: new MemoryStore(),
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
process.stdin.on('data', () => {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ idleRss, lines, userUs: cpu.user, systemUs: cpu.system, rss: mem.rss })}\n`);
});
