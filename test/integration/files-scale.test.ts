/**
 * 10,000 files under the open-file bound: a real `run` process follows 10,000 files (100 directories ×
 * 100 files, 3 lines each) with files.maxOpenFiles 256 and pushes them to VictoriaLogs. The descriptors
 * it holds on those files are sampled from /proc; every line must be stored once, and a later write to
 * files that gave their slot up must still arrive.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { freePort } from '../env/ports.ts';
import { managedProcess } from '../env/process.ts';
import { queryLogs, startVictoriaLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';

const repo = new URL('../..', import.meta.url).pathname;
const skip = shouldSkip('files-scale (real VictoriaLogs)', ['victoria-logs']) || process.platform !== 'linux';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DIRS = 100;
const PER_DIR = 100;
const LINES = 3;
const MAX_OPEN = 256;

describe.skipIf(skip)('file source: 10,000 files under the open-file bound', () => {
  let vl: VictoriaLogsHandle;
  let dir = '';

  beforeAll(async () => {
    vl = await startVictoriaLogs();
    dir = await mkdtemp(join(tmpdir(), 'rsd-files-scale-'));
  });

  afterAll(async () => {
    await vl?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads every line of 10,000 files holding at most maxOpenFiles of them open', { timeout: 400_000 }, async () => {
    const logs = join(dir, 'logs');
    const name = (d: number, f: number) => `d${String(d).padStart(2, '0')}/f${String(f).padStart(3, '0')}.log`;
    for (let d = 0; d < DIRS; d++) {
      await mkdir(join(logs, `d${String(d).padStart(2, '0')}`), { recursive: true });
      await Promise.all(
        Array.from({ length: PER_DIR }, (_, f) => writeFile(join(logs, name(d, f)), Array.from({ length: LINES }, (_, l) => `${name(d, f)} line=${l + 1} ${'z'.repeat(50)}\n`).join(''))),
      );
    }
    const port = await freePort();
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      [
        'cluster: files-scale',
        'kubernetes: { enabled: false }',
        `loki: { url: "${vl.lokiUrl}" }`,
        `state: { store: file, dir: "${join(dir, 'state')}" }`,
        `server: { host: 127.0.0.1, port: ${port} }`,
        'files:',
        `  include: ["${logs}/*/*.log"]`,
        '  readFrom: start',
        `  maxOpenFiles: ${MAX_OPEN}`,
        '  labels: { service: scale }',
        '',
      ].join('\n'),
    );
    const proc = managedProcess({
      name: 'files-scale',
      command: process.execPath,
      args: ['src/cli.ts', 'run', '-c', config],
      cwd: repo,
      logFile: join(dir, 'detector.log'),
      ready: { url: `http://127.0.0.1:${port}/healthz` },
      readyTimeoutMs: 60_000,
    });
    const metric = async (m: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${m} `) || l.startsWith(`${m}{`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const t0 = Date.now();
    await proc.start();
    // Descriptors the detector holds on the followed files, sampled from /proc. A directory scan (glob,
    // rotation check) holds a handle on a directory of them for a moment: counted apart, not a file slot.
    let maxFds = 0;
    let maxDirFds = 0;
    let maxOpenGauge = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pid = proc.pid();
        if (pid) {
          // Synchronously, so the listing and its readlinks take about a millisecond: read one by one
          // across event-loop turns, a descriptor listed as a socket and reused for a log file before its
          // readlink counted as one more file than the process ever held at once.
          let n = 0;
          let dirs = 0;
          let fds: string[] = [];
          try {
            fds = readdirSync(`/proc/${pid}/fd`);
          } catch {
            fds = [];
          }
          for (const fd of fds) {
            let target = '';
            try {
              target = readlinkSync(`/proc/${pid}/fd/${fd}`);
            } catch {
              target = '';
            }
            if (target.startsWith(logs) && target.endsWith('.log')) n++;
            else if (target.startsWith(logs)) dirs++;
          }
          maxFds = Math.max(maxFds, n);
          maxDirFds = Math.max(maxDirFds, dirs);
          maxOpenGauge = Math.max(maxOpenGauge, await metric('rsd_files_open').catch(() => 0));
        }
        await sleep(25);
      }
    })();
    const total = DIRS * PER_DIR * LINES;
    const query = async () => queryLogs(vl.url, '{service_name="scale"}', { limit: 100_000 });
    let stored = await query();
    const deadline = Date.now() + 300_000;
    while (stored.length < total && Date.now() < deadline) {
      await sleep(1000);
      stored = await query();
    }
    const readAllMs = Date.now() - t0;
    const queuedTotal = await metric('rsd_files_queued_total');
    const tracked = await metric('rsd_files_tracked');
    // Later writes to 200 files, most of which gave their slot up.
    const t1 = Date.now();
    const touched = Array.from({ length: 200 }, (_, i) => name((i * 37) % DIRS, (i * 53) % PER_DIR));
    for (const [i, f] of touched.entries()) await appendFile(join(logs, f), `${f} later=${i} ${'z'.repeat(50)}\n`);
    let later = 0;
    const deadline2 = Date.now() + 60_000;
    while (later < touched.length && Date.now() < deadline2) {
      await sleep(500);
      later = (await query()).filter((e) => e.line.includes(' later=')).length;
    }
    const laterMs = Date.now() - t1;
    const rss = await metric('rsd_process_resident_memory_bytes');
    sampling = false;
    await sampler;
    await proc.stop();
    const lines = stored.map((e) => e.line);
    const distinct = new Set(lines).size;
    process.stderr.write(
      `\nfiles-scale: ${DIRS * PER_DIR} files, ${total} lines written, ${stored.length} stored (${distinct} distinct) in ${(readAllMs / 1000).toFixed(1)} s from start; tracked ${tracked}; ` +
        `max descriptors on the files ${maxFds} (rsd_files_open max ${maxOpenGauge}, bound ${MAX_OPEN}), on their directories ${maxDirFds}; rsd_files_queued_total ${queuedTotal}; ` +
        `200 later writes stored ${later}/200 in ${(laterMs / 1000).toFixed(1)} s; RSS ${(rss / 2 ** 20).toFixed(0)} MiB\n`,
    );
    expect(stored.length).toBe(total);
    expect(distinct).toBe(total);
    expect(maxFds).toBeLessThanOrEqual(MAX_OPEN);
    expect(maxOpenGauge).toBeLessThanOrEqual(MAX_OPEN);
    expect(queuedTotal).toBeGreaterThan(0);
    expect(tracked).toBe(DIRS * PER_DIR);
    expect(later).toBe(touched.length);
  });
});
