/**
 * The file source as users run it: a real `run` process (files: section, Loki sink, FileStore state)
 * against VictoriaLogs, a writer appending 5,000 lines/s, the real `logrotate` (Debian package) in
 * copytruncate and create modes, and the detector killed with SIGKILL and started again in the middle
 * (one rotation happens while it is down). What the store holds is compared with what was written:
 * nothing lost, nothing stored twice except exact copies (same stream, nanosecond timestamp and line),
 * which VictoriaLogs keeps and Loki drops. Then a truncated file and a reused inode, across a restart.
 *
 * copytruncate has a window no reader can close: logrotate copies the file, fsyncs the copy, then
 * truncates the original, so lines written between the end of the copy and the truncation are in no
 * file afterwards. A running detector rescues most of them by reading the original in time (it follows
 * writes through inotify); those written in the last moment before the truncation, and all of them
 * when the rotation happens while the detector is down, are gone. The test keeps every rotated file,
 * asserts that every line that is in a file is stored exactly once, and reports the window.
 */
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, mkdir, readFile, readdir, rename, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { requireTools } from '../env/system-tools.ts';
import { freePort } from '../env/ports.ts';
import { managedProcess, type ManagedProcess } from '../env/process.ts';
import { exactDuplicates, queryLogs, startVictoriaLogs, type StoredEntry, type VictoriaLogsHandle } from '../env/victorialogs.ts';

const run = promisify(execFile);
const repo = new URL('../..', import.meta.url).pathname;

const skip = shouldSkip('files-rotation (real VictoriaLogs)', ['victoria-logs']);
const { logrotate: LOGROTATE } = skip ? { logrotate: '' } : requireTools('files-rotation', 'logrotate');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Detector {
  proc: ManagedProcess;
  port: number;
  metric(name: string): Promise<number>;
}

async function detector(dir: string, name: string, files: string, lokiUrl: string): Promise<Detector> {
  const port = await freePort();
  const config = join(dir, `${name}.yaml`);
  await writeFile(
    config,
    [
      'cluster: files-it',
      'kubernetes: { enabled: false }',
      `loki: { url: "${lokiUrl}" }`,
      `state: { store: file, dir: "${join(dir, 'state')}" }`,
      `server: { host: 127.0.0.1, port: ${port} }`,
      'findings: { stdout: false }',
      files,
      '',
    ].join('\n'),
  );
  const proc = managedProcess({
    name,
    command: process.execPath,
    args: ['src/cli.ts', 'run', '-c', config],
    cwd: repo,
    env: { ...process.env, LOG_LEVEL: 'info' },
    logFile: join(dir, `${name}.log`),
    ready: { url: `http://127.0.0.1:${port}/healthz` },
    readyTimeoutMs: 60_000,
  });
  return {
    proc,
    port,
    async metric(metricName) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) if (line.startsWith(metricName) && /^[\w]+(\{[^}]*\})? /.test(line)) sum += Number(line.split(' ').at(-1));
      return sum;
    },
  };
}

const WRITER = `
import { closeSync, openSync, writeSync } from 'node:fs';
const [file, rate, seconds, tag] = process.argv.slice(2);
let fd = openSync(file, 'a');
// create mode: postrotate sends SIGHUP, the writer reopens its file as daemons do.
process.on('SIGHUP', () => { const old = fd; fd = openSync(file, 'a'); closeSync(old); });
const total = Number(rate) * Number(seconds);
const pad = 'x'.repeat(60);
const t0 = Date.now();
let n = 0;
const tick = () => {
  const due = Math.min(total, Math.floor(((Date.now() - t0) * Number(rate)) / 1000));
  while (n < due) { n++; writeSync(fd, 'seq=' + String(n).padStart(7, '0') + ' ' + tag + ' ' + pad + '\\n'); }
  if (n >= total) { closeSync(fd); process.stdout.write(String(n)); process.exit(0); }
  setTimeout(tick, 1);
};
process.stdout.write('ready\\n');
tick();
`;

interface Figures {
  written: number;
  stored: number;
  distinct: number;
  missing: number[];
  /** Same line stored under two timestamps: a real duplicate (Loki would keep both). */
  duplicated: number;
  duplicatedSeqs: number[];
  /** Same stream, timestamp and line twice: VictoriaLogs keeps both, Loki one. */
  exactCopies: number;
  /** Stored lines that are not a whole written line (a fragment). */
  damaged: number;
}

async function linesOnDisk(dir: string): Promise<Set<number>> {
  const seqs = new Set<number>();
  for (const name of await readdir(dir)) {
    for (const m of (await readFile(join(dir, name), 'utf8')).matchAll(/^seq=(\d{7}) /gm)) seqs.add(Number(m[1]));
  }
  return seqs;
}

function analyse(entries: StoredEntry[], written: number, tag: string): Figures {
  const re = new RegExp(`^seq=(\\d{7}) ${tag} x{60}$`);
  const timesBySeq = new Map<number, Set<string>>();
  let damaged = 0;
  for (const e of entries) {
    const m = re.exec(e.line);
    if (!m) {
      damaged++;
      continue;
    }
    const seq = Number(m[1]);
    let set = timesBySeq.get(seq);
    if (!set) timesBySeq.set(seq, (set = new Set()));
    set.add(e.ts);
  }
  const missing: number[] = [];
  for (let i = 1; i <= written; i++) if (!timesBySeq.has(i)) missing.push(i);
  let duplicated = 0;
  const duplicatedSeqs: number[] = [];
  for (const [seq, s] of timesBySeq) {
    duplicated += s.size - 1;
    if (s.size > 1) duplicatedSeqs.push(seq);
  }
  duplicatedSeqs.sort((a, b) => a - b);
  return { written, stored: entries.length, distinct: timesBySeq.size, missing, duplicated, duplicatedSeqs, exactCopies: exactDuplicates(entries).length, damaged };
}

const report: string[] = [];

/** 1,2,3,7,8 → "1-3,7-8" */
function ranges(nums: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
    out.push(i === j ? String(nums[i]) : `${nums[i]}-${nums[j]}`);
    i = j + 1;
  }
  return out.slice(0, 12).join(',') + (out.length > 12 ? ',…' : '');
}

describe.skipIf(skip)('file source: real logrotate, a writer at 5,000 lines/s, SIGKILL and restart', () => {
  let vl: VictoriaLogsHandle;
  const dirs: string[] = [];

  beforeAll(async () => {
    vl = await startVictoriaLogs();
  });

  afterAll(async () => {
    await vl?.stop();
    if (!process.env.RSD_KEEP) for (const d of dirs) await rm(d, { recursive: true, force: true });
    else process.stderr.write(`kept: ${dirs.join(' ')}\n`);
    if (report.length) process.stderr.write(`\nfiles-rotation figures:\n${report.map((l) => `  ${l}`).join('\n')}\n`);
  });

  for (const mode of ['copytruncate', 'create'] as const) {
    const title = mode === 'create' ? 'create: 0 lines lost, 0 duplicated' : 'copytruncate: every line that is in a file stored once (0 lost, 0 duplicated); the copy→truncate window reported';
    it(title, async () => {
      const dir = await mkdtemp(join(tmpdir(), `rsd-rot-${mode}-`));
      dirs.push(dir);
      const logs = join(dir, 'logs');
      await mkdir(logs);
      const file = join(logs, 'app.log');
      await writeFile(file, '');
      const tag = `rot-${mode}`;
      const files = `files:\n  include: ["${logs}/app.log*"]\n  readFrom: start\n  labels: { service: ${tag} }`;
      const d1 = await detector(dir, `${mode}-1`, files, vl.lokiUrl);
      await d1.proc.start();

      // The writer: 5,000 lines/s for 12 s.
      const script = join(dir, 'writer.mjs');
      await writeFile(script, WRITER);
      const { spawn } = await import('node:child_process');
      const writer = spawn(process.execPath, [script, file, '5000', '12', tag], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      writer.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const writerDone = new Promise<number>((resolve) => writer.once('exit', () => resolve(Number(out.trim().split('\n').at(-1)))));
      while (!out.includes('ready')) await sleep(10);
      const t0 = Date.now();

      const conf = join(dir, 'logrotate.conf');
      await writeFile(
        conf,
        `${file} {\n  ${mode}\n  rotate ${mode === 'copytruncate' ? 10 : 3}\n  missingok\n  nocompress\n${mode === 'create' ? `  postrotate\n    kill -HUP ${writer.pid}\n  endscript\n` : ''}}\n`,
        { mode: 0o644 },
      );
      const rotations: string[] = [];
      const rotatedAt: number[] = [];
      const rotate = async () => {
        rotatedAt.push((Date.now() - t0) / 1000);
        const r = await run(LOGROTATE, ['-f', '-s', join(dir, 'logrotate.status'), conf]);
        rotations.push(`${rotatedAt.at(-1)!.toFixed(1)}s${r.stderr ? ` (${r.stderr.trim()})` : ''}`);
      };
      const at = async (s: number) => sleep(Math.max(0, t0 + s * 1000 - Date.now()));

      await at(1.5);
      await rotate();
      await at(3);
      await rotate();
      await at(4.2);
      const killedAt = Date.now();
      const downFrom = (killedAt - t0) / 1000;
      await d1.proc.kill(); // SIGKILL: the sink's queue and unflushed positions are lost with it
      await at(5);
      await rotate(); // while the detector is down
      await at(6);
      const d2 = await detector(dir, `${mode}-2`, files, vl.lokiUrl);
      await d2.proc.start();
      const downMs = Date.now() - killedAt;
      const downTo = (Date.now() - t0) / 1000;
      await at(8);
      await rotate();
      await at(10);
      await rotate();
      const written = await writerDone;
      expect(written).toBe(60_000);

      // copytruncate: what logrotate left in no file (its copy→truncate window) cannot be expected.
      const onDisk = mode === 'copytruncate' ? await linesOnDisk(logs) : null;
      const expected = (seq: number) => !onDisk || onDisk.has(seq);
      // Everything expected in the store (or give up after a minute).
      let figures = analyse([], written, tag);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        figures = analyse(await queryLogs(vl.url, `{service_name="${tag}"}`, { limit: 500_000 }), written, tag);
        if (figures.missing.filter(expected).length === 0) break;
        await sleep(1000);
      }
      await sleep(1500); // late re-sends would show up as duplicates
      figures = analyse(await queryLogs(vl.url, `{service_name="${tag}"}`, { limit: 500_000 }), written, tag);
      const rotationsSeen = await d2.metric('rsd_files_rotations_total');
      await d2.proc.stop();
      const left = (await readdir(logs)).sort();
      const lostFromFiles = figures.missing.filter(expected);
      let windowNote = '';
      if (onDisk) {
        // Lines in no file, by the rotation whose window they fell in (seq ≈ 5,000 × seconds).
        const stored = new Set<number>();
        for (let i = 1; i <= written; i++) if (!figures.missing.includes(i)) stored.add(i);
        const per = rotatedAt.map((at, i) => ({ at, i, window: 0, rescued: 0 }));
        for (let i = 1; i <= written; i++) {
          if (onDisk.has(i)) continue;
          const near = per.reduce((a, b) => (Math.abs(b.at - i / 5000) < Math.abs(a.at - i / 5000) ? b : a));
          near.window++;
          if (stored.has(i)) near.rescued++;
        }
        windowNote = `; in no file after logrotate (copy→truncate window) ${written - onDisk.size}: ${per.map((p) => `@${p.at.toFixed(1)}s ${p.rescued}/${p.window} rescued${p.at > downFrom && p.at < downTo ? ' (detector down)' : ''}`).join(', ')}`;
      }
      report.push(
        `${mode}: written ${figures.written}, stored ${figures.stored}, distinct ${figures.distinct}, lost ${figures.missing.length}${figures.missing.length ? ` [${ranges(figures.missing)}]` : ''} (of lines in a file: ${lostFromFiles.length}), duplicated ${figures.duplicated}${figures.duplicated ? ` [${ranges(figures.duplicatedSeqs)}]` : ''}, exact copies (Loki drops them) ${figures.exactCopies}, damaged ${figures.damaged}; logrotate at ${rotations.join(', ')}; detector down ${downMs} ms; rotations followed by the 2nd process ${rotationsSeen}; files left ${left.join(' ')}${windowNote}`,
      );
      expect(lostFromFiles, `lost lines; ${report.at(-1)}\n${d2.proc.tail(3000)}`).toEqual([]);
      expect(figures.duplicated, report.at(-1)).toBe(0);
      expect(figures.damaged, report.at(-1)).toBe(0);
      expect(rotations.length).toBe(5);
      expect(left).toEqual(mode === 'copytruncate' ? ['app.log', 'app.log.1', 'app.log.2', 'app.log.3', 'app.log.4', 'app.log.5'] : ['app.log', 'app.log.1', 'app.log.2', 'app.log.3']);
      if (mode === 'create') expect(figures.missing).toEqual([]);
    });
  }

  it('a truncated file and a reused inode, across a restart: every line stored once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsd-trunc-'));
    dirs.push(dir);
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const tag = 'trunc-reuse';
    const files = `files:\n  include: ["${logs}/*.log"]\n  readFrom: start\n  labels: { service: ${tag} }`;
    const lines = (name: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${name} ${from + i} ${'y'.repeat(40)}\n`).join('');
    const a = join(logs, 'a.log');
    const t = join(logs, 't.log');
    await writeFile(a, lines('a-old', 1, 500));
    await writeFile(t, lines('t-before', 1, 300));
    const d1 = await detector(dir, 'trunc-1', files, vl.lokiUrl);
    await d1.proc.start();
    const stored = async () => (await queryLogs(vl.url, `{service_name="${tag}"}`, { limit: 100_000 })).map((e) => e.line.split(' ').slice(0, 2).join(' '));
    const until = async (n: number) => {
      const end = Date.now() + 30_000;
      while ((await stored()).length < n && Date.now() < end) await sleep(300);
    };
    await until(800);
    // Truncated in place while followed, then longer than before.
    await truncate(t, 0);
    await appendFile(t, lines('t-after', 1, 400));
    await until(1200);
    await d1.proc.stop();
    // While the detector is down a.log is deleted and a new file takes its inode.
    const ino = (await stat(a)).ino;
    await unlink(a);
    // ext4 hands out the lowest free inode of the directory's group: fill the lower ones (with names
    // the include pattern does not match) until a new file gets a.log's inode.
    let reused = false;
    for (let i = 0; i < 500 && !reused; i++) {
      const p = join(logs, `fill-${i}.tmp`);
      await writeFile(p, '');
      if ((await stat(p)).ino !== ino) continue;
      await rename(p, join(logs, 'b.log'));
      await writeFile(join(logs, 'b.log'), lines('b-new', 1, 600));
      reused = (await stat(join(logs, 'b.log'))).ino === ino;
    }
    expect(reused, 'the filesystem did not hand the inode out again').toBe(true);
    const d2 = await detector(dir, 'trunc-2', files, vl.lokiUrl);
    await d2.proc.start();
    await until(1800);
    await sleep(1500);
    const all = await stored();
    await d2.proc.stop();
    const count = (p: string) => all.filter((l) => l.startsWith(`${p} `)).length;
    const figures = { aOld: count('a-old'), tBefore: count('t-before'), tAfter: count('t-after'), bNew: count('b-new'), total: all.length, distinct: new Set(all).size };
    report.push(`truncate + reused inode: a-old ${figures.aOld}/500, t-before ${figures.tBefore}/300, t-after ${figures.tAfter}/400, b-new (reused inode) ${figures.bNew}/600, stored ${figures.total}, distinct ${figures.distinct}`);
    expect(figures).toEqual({ aOld: 500, tBefore: 300, tAfter: 400, bNew: 600, total: 1800, distinct: 1800 });
  });
});
