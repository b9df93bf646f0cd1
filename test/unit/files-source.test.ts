import { afterEach, describe, expect, it } from 'vitest';
import { appendFile, copyFile, mkdtemp, open, rename, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/logger.ts';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { FileSource, staticDir, type FileSourceOptions } from '../../src/sources/files/source.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { acknowledge } from '../../src/delivery/acks.ts';

const dirs: string[] = [];
const running: FileSource[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'rsd-files-'));
  dirs.push(d);
  return d;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A counter's value for the label set (summed over the other labels). */
async function count(m: { get(): Promise<{ values: Array<{ labels: Record<string, string | number>; value: number }> }> }, labels: Record<string, string> = {}): Promise<number> {
  const snap = await m.get();
  return snap.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

interface Run {
  src: FileSource;
  got: LogRecord[];
  lines(): string[];
  ackAll(): void;
  stop(): Promise<void>;
}

async function run(store: MemoryStore, o: Partial<FileSourceOptions> & { include: string[] }, autoAck = true): Promise<Run> {
  const src = new FileSource({
    exclude: ['**/*.gz'],
    readFrom: 'start',
    maxOpenFiles: 16,
    fingerprintBytes: 1024,
    maxLineBytes: 64 * 1024,
    pollIntervalMs: 50,
    scanIntervalMs: 200,
    closeIdleMs: 60_000,
    rotateWaitMs: 300,
    positionsFlushMs: 10,
    scope: 'test-host',
    multiline: { mode: 'none', maxLines: 100, maxBytes: 64 * 1024, timeoutMs: 100 },
    target: { cluster: 'c1', namespace: 'default', service: 'svc', node: 'test-host' },
    store,
    log: createLogger('silent'),
    batchMaxWaitMs: 5,
    ...o,
  });
  const got: LogRecord[] = [];
  src.records$.subscribe((batch) => {
    got.push(...batch);
    if (autoAck) acknowledge(batch);
  });
  await src.start();
  running.push(src);
  return {
    src,
    got,
    lines: () => got.map((r) => r.line),
    ackAll: () => acknowledge(got),
    stop: async () => {
      running.splice(running.indexOf(src), 1);
      await src.stop();
    },
  };
}

const numbered = (prefix: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${prefix} ${from + i}`);
const text = (ls: string[]) => ls.map((l) => `${l}\n`).join('');

describe('file source: reading and positions', () => {
  it('reads existing files from the start or the end at the first start; later files from their start', async () => {
    const d = await tmp();
    await writeFile(join(d, 'a.log'), text(['old a1', 'old a2']));
    await writeFile(join(d, 'b.log'), 'partial without newline');
    const r = await run(new MemoryStore(), { include: [join(d, '*.log')], readFrom: 'end' });
    await sleep(200);
    await appendFile(join(d, 'a.log'), text(['new a3']));
    await appendFile(join(d, 'b.log'), ' still old\nnew b1\n');
    await writeFile(join(d, 'c.log'), text(['c1', 'c2'])); // appears while running
    await until('new lines', () => r.lines().length >= 4);
    await sleep(300);
    expect(r.lines().sort()).toEqual(['c1', 'c2', 'new a3', 'new b1']);
    const rec = r.got.find((x) => x.line === 'c1')!;
    expect(rec).toMatchObject({ kind: 'file', stream: 'unknown', target: { cluster: 'c1', service: 'svc', node: 'test-host', file: join(d, 'c.log') } });
    expect(rec.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });

  it('advances positions only on acknowledgement; a re-read gets the very same timestamps', async () => {
    const d = await tmp();
    const f = join(d, 'app.log');
    await writeFile(f, text(numbered('line', 1, 50)));
    const store = new MemoryStore();
    const r1 = await run(store, { include: [f] }, false);
    await until('50 lines', () => r1.got.length === 50);
    const first = r1.got.map((x) => [x.line, x.ts]);
    await r1.stop(); // nothing acknowledged
    const r2 = await run(store, { include: [f] }, false);
    await until('re-read', () => r2.got.length === 50);
    expect(r2.got.map((x) => [x.line, x.ts])).toEqual(first);
    acknowledge(r2.got.slice(0, 30));
    await r2.stop();
    await appendFile(f, text(numbered('line', 51, 5)));
    const r3 = await run(store, { include: [f] });
    await until('rest', () => r3.got.length === 25);
    await sleep(200);
    expect(r3.lines()).toEqual(numbered('line', 31, 25));
    expect(r3.got.slice(0, 20).map((x) => [x.line, x.ts])).toEqual(first.slice(30));
    await r3.stop();
    const r4 = await run(store, { include: [f] });
    await sleep(300);
    expect(r4.got).toEqual([]);
  });

  it('a file that appeared while the detector was down is read from its start even with readFrom: end', async () => {
    const d = await tmp();
    const store = new MemoryStore();
    await writeFile(join(d, 'a.log'), text(['before first start']));
    const r1 = await run(store, { include: [join(d, '*.log')], readFrom: 'end' });
    await sleep(150);
    await r1.stop();
    await sleep(20);
    await writeFile(join(d, 'b.log'), text(['written while down']));
    await appendFile(join(d, 'a.log'), text(['a while down']));
    const r2 = await run(store, { include: [join(d, '*.log')], readFrom: 'end' });
    await until('both', () => r2.got.length >= 2);
    await sleep(200);
    expect(r2.lines().sort()).toEqual(['a while down', 'written while down']);
  });

  it('follows rename + create: the rotated file is drained, the new one read from its start', async () => {
    const d = await tmp();
    const f = join(d, 'app.log');
    await writeFile(f, text(numbered('gen1', 1, 10)));
    const r = await run(new MemoryStore(), { include: [join(d, 'app.log*')] });
    await until('gen1', () => r.got.length === 10);
    const fh = await open(f, 'a'); // the writer keeps its descriptor, as a daemon does
    await rename(f, `${f}.1`);
    await fh.appendFile(text(['gen1 late']));
    await writeFile(f, text(numbered('gen2', 1, 5)));
    await fh.appendFile(text(['gen1 later']));
    await fh.close();
    await until('all', () => r.got.length === 17);
    await sleep(400);
    expect(r.lines().filter((l) => l.startsWith('gen1'))).toEqual([...numbered('gen1', 1, 10), 'gen1 late', 'gen1 later']);
    expect(r.lines().filter((l) => l.startsWith('gen2'))).toEqual(numbered('gen2', 1, 5));
    expect(r.got.find((x) => x.line === 'gen1 late')!.target.file).toBe(`${f}.1`);
  });

  it('drains a file renamed out of the include patterns, and a deleted one, then lets them go', async () => {
    const d = await tmp();
    const f = join(d, 'app.log');
    const g = join(d, 'other.log');
    await writeFile(f, text(['f1']));
    await writeFile(g, text(['g1']));
    const store = new MemoryStore();
    const r = await run(store, { include: [join(d, '*.log')] });
    await until('first', () => r.got.length === 2);
    const ff = await open(f, 'a');
    const gf = await open(g, 'a');
    await rename(f, join(d, 'app.old'));
    await unlink(g);
    await ff.appendFile(text(['f2 after rename']));
    await gf.appendFile(text(['g2 after delete']));
    await until('drained', () => r.got.length === 4);
    await ff.close();
    await gf.close();
    await until('let go', () => r.src.stats().tracked === 0, 3000);
    await until('records deleted', async () => (await store.get('files.test-host._index')) !== null && [...(store as unknown as { data: Map<string, unknown> }).data.keys()].length === 1, 3000);
    expect(r.lines().sort()).toEqual(['f1', 'f2 after rename', 'g1', 'g2 after delete']);
  });

  it('a truncated file is read again from its start', async () => {
    const d = await tmp();
    const f = join(d, 'app.log');
    await writeFile(f, text(numbered('before', 1, 20)));
    const r = await run(new MemoryStore(), { include: [f] });
    await until('before', () => r.got.length === 20);
    const before = (await count(metrics.filesRotations, { kind: 'truncated' })) + (await count(metrics.filesRotations, { kind: 'replaced' }));
    await truncate(f, 0);
    // Longer than what was read before, so only the fingerprint can tell.
    await appendFile(f, text(numbered('after truncation, a longer line than before', 1, 30)));
    await until('after', () => r.got.length === 50);
    await sleep(200);
    expect(r.lines().slice(20)).toEqual(numbered('after truncation, a longer line than before', 1, 30));
    expect((await count(metrics.filesRotations, { kind: 'truncated' })) + (await count(metrics.filesRotations, { kind: 'replaced' }))).toBeGreaterThan(before);
  });

  it('a file rewritten past the read position with the same first bytes is read again from its start', async () => {
    const d = await tmp();
    const f = join(d, 'app.log');
    const header = `# ${'h'.repeat(1200)}\n`; // the same fingerprint before and after
    await writeFile(f, header + text(numbered('old', 1, 20)));
    const pressure = { fill: 0 };
    const r = await run(new MemoryStore(), { include: [f], pollIntervalMs: 60_000, pressure });
    await until('old', () => r.got.length === 21);
    pressure.fill = 1;
    await sleep(150);
    await writeFile(f, header + text(numbered('new and longer than the old lines were', 1, 20)));
    pressure.fill = 0;
    await until('new', () => r.got.length >= 41);
    await sleep(300);
    expect(r.lines().slice(21)).toEqual([header.trimEnd(), ...numbered('new and longer than the old lines were', 1, 20)]);
  });

  it('a reused inode is a new file: a stored position of the old file does not apply', async () => {
    const d = await tmp();
    const store = new MemoryStore();
    const a = join(d, 'a.log');
    await writeFile(a, text(numbered('old file with a long first line so its position is far', 1, 40)));
    const r1 = await run(store, { include: [join(d, '*.log')] });
    await until('old', () => r1.got.length === 40);
    await r1.stop();
    const ino = (await stat(a)).ino;
    await unlink(a);
    // ext4 hands out the lowest free inode of the directory's group: fill the lower ones (names the
    // pattern does not match) until a new file gets the old inode.
    let reused: string | null = null;
    for (let i = 0; i < 500 && !reused; i++) {
      const p = join(d, `fill-${i}.tmp`);
      await writeFile(p, '');
      if ((await stat(p)).ino !== ino) continue;
      reused = join(d, 'b.log');
      await rename(p, reused);
      await writeFile(reused, text(['new 1', 'new 2']));
    }
    expect(reused, 'the filesystem did not reuse the inode').not.toBeNull();
    const r2 = await run(store, { include: [join(d, '*.log')] });
    await until('new file', () => r2.got.length === 2);
    expect(r2.lines()).toEqual(['new 1', 'new 2']);
  });

  it('copytruncate: the copy continues where the original was read up to, the truncated original starts over', async () => {
    const d = await tmp();
    const f = join(d, 'app.log');
    await writeFile(f, text(numbered('seq', 1, 100)));
    const pressure = { fill: 0 };
    const r = await run(new MemoryStore(), { include: [join(d, 'app.log*')], pressure });
    await until('first 100', () => r.got.length === 100);
    // The sink is full: the source stops reading while the writer goes on, then the file is rotated.
    pressure.fill = 1;
    await sleep(100);
    await appendFile(f, text(numbered('seq', 101, 50)));
    await copyFile(f, `${f}.1`);
    await truncate(f, 0);
    await appendFile(f, text(numbered('seq', 151, 20)));
    pressure.fill = 0;
    await until('all 170', () => r.got.length >= 170);
    await sleep(500);
    const seen = r.lines();
    expect(seen.length).toBe(170);
    expect(new Set(seen).size).toBe(170);
    expect(r.got.filter((x) => x.target.file === `${f}.1`).map((x) => x.line)).toEqual(numbered('seq', 101, 50));
  });

  it('a plain copy of a followed file that is never truncated is read as a file of its own after rotateWait', async () => {
    const d = await tmp();
    const f = join(d, 'app.log');
    await writeFile(f, text(numbered('a line long enough to fill the fingerprint of this file', 1, 30)));
    const r = await run(new MemoryStore(), { include: [join(d, '*')] });
    await until('original', () => r.got.length === 30);
    await copyFile(f, join(d, 'backup'));
    await until('copy read', () => r.got.length === 60, 5000);
    expect(r.got.filter((x) => x.target.file === join(d, 'backup')).length).toBe(30);
  });
});

describe('file source: bounds and content', () => {
  it('keeps at most maxOpenFiles open; the others wait their turn and are all read', async () => {
    const d = await tmp();
    for (let i = 0; i < 40; i++) await writeFile(join(d, `f${String(i).padStart(2, '0')}.log`), text(numbered(`file${i}`, 1, 5)));
    const queued = await count(metrics.filesQueuedTotal);
    const r = await run(new MemoryStore(), { include: [join(d, '*.log')], maxOpenFiles: 3 });
    let maxOpen = 0;
    const sampler = setInterval(() => (maxOpen = Math.max(maxOpen, r.src.stats().open)), 2);
    await until('200 lines', () => r.got.length === 200, 10_000);
    // A write to a file that gave its slot up brings it back.
    await appendFile(join(d, 'f00.log'), text(['file0 again']));
    await until('again', () => r.got.length === 201);
    clearInterval(sampler);
    expect(maxOpen).toBeLessThanOrEqual(3);
    expect((await count(metrics.filesQueuedTotal)) - queued).toBeGreaterThan(0);
    expect(new Set(r.lines()).size).toBe(201);
  });

  it('caps long lines (marked truncated, counted) and replaces invalid UTF-8', async () => {
    const d = await tmp();
    const f = join(d, 'x.log');
    const truncatedBefore = await count(metrics.malformed, { reason: 'truncated' });
    await writeFile(f, Buffer.concat([Buffer.from(`${'x'.repeat(5000)}\nok\nbad `), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]));
    const r = await run(new MemoryStore(), { include: [f], maxLineBytes: 1024 });
    await until('3 lines', () => r.got.length === 3);
    expect(r.got[0]).toMatchObject({ line: 'x'.repeat(1024), malformed: 'truncated' });
    expect(r.got[1]!.malformed).toBeUndefined();
    expect(r.got[2]).toMatchObject({ line: 'bad \uFFFD(', malformed: 'invalid_utf8' });
    expect((await count(metrics.malformed, { reason: 'truncated' })) - truncatedBefore).toBe(1);
  });

  it('joins stack traces and flushes the last one on timeout', async () => {
    const d = await tmp();
    const f = join(d, 'java.log');
    const trace = 'ERROR request failed\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)';
    await writeFile(f, `INFO start\n${trace}\n`);
    const r = await run(new MemoryStore(), { include: [f], multiline: { mode: 'java', maxLines: 100, maxBytes: 65536, timeoutMs: 150 } });
    await until('joined', () => r.got.length === 2);
    expect(r.lines()).toEqual(['INFO start', trace]);
    // Its position is the end of its last line: after a restart nothing is re-read.
    const p = r.got[1]!.position as unknown as { end: number };
    expect(p.end).toBe(Buffer.byteLength(`INFO start\n${trace}\n`));
  });

  it('stops reading under sink pressure and resumes when it falls', async () => {
    const d = await tmp();
    const f = join(d, 'p.log');
    await writeFile(f, text(['first']));
    const pressure = { fill: 0.95 };
    const r = await run(new MemoryStore(), { include: [f], pressure });
    await sleep(300);
    expect(r.got).toEqual([]);
    expect(r.src.stats().paused).toBe(1);
    pressure.fill = 0.8; // between the thresholds: still paused
    await sleep(200);
    expect(r.got).toEqual([]);
    pressure.fill = 0.1;
    await until('read', () => r.got.length === 1);
  });

  it('a catch-up of 300 files at once overshoots a small sink queue by a few reads at most, and loses nothing', async () => {
    const d = await tmp();
    const FILES = 300;
    const LINES = 400;
    const pad = 'x'.repeat(80);
    await Promise.all(Array.from({ length: FILES }, (_, i) => writeFile(join(d, `f${i}.log`), text(Array.from({ length: LINES }, (_, j) => `f${i} line ${j} ${pad}`)))));
    // A sink that takes 1 MiB and drains 256 KiB every 10 ms; the source reads its fill as pressure.
    const CAP = 1 << 20;
    let queued = 0;
    let peak = 0;
    const pressure = { fill: 0 };
    const drain = setInterval(() => {
      queued = Math.max(0, queued - 256 * 1024);
      pressure.fill = queued / CAP;
    }, 10);
    try {
      const src = new FileSource({
        include: [join(d, '*.log')], exclude: [], readFrom: 'start', maxOpenFiles: 1024, fingerprintBytes: 1024, maxLineBytes: 64 * 1024,
        pollIntervalMs: 50, scanIntervalMs: 60_000, closeIdleMs: 60_000, rotateWaitMs: 300, positionsFlushMs: 10, scope: 'catch-up',
        multiline: { mode: 'none', maxLines: 1, maxBytes: 64 * 1024, timeoutMs: 100 },
        target: { cluster: 'c1', namespace: 'default', service: 'svc' }, store: new MemoryStore(), log: createLogger('silent'), pressure, batchMaxWaitMs: 5,
      });
      const seen = new Set<string>();
      let dup = 0;
      src.records$.subscribe((batch) => {
        for (const r of batch) {
          if (seen.has(r.line)) dup++;
          seen.add(r.line);
          queued += r.line.length;
        }
        peak = Math.max(peak, queued);
        pressure.fill = queued / CAP;
        acknowledge(batch);
      });
      await src.start();
      running.push(src);
      await until('every line', () => seen.size === FILES * LINES, 30_000);
      expect(dup).toBe(0);
      // Before the reads took turns, 300 readers put ~12 MiB past the pressure check in one go.
      expect(peak).toBeLessThan(CAP + 1.5 * (1 << 20));
      // The last reads can leave the queue above the pause threshold for a drain tick or two, with
      // every reader woken by the poll waiting for its turn: nothing stays paused once it drains.
      await until('nothing paused', () => src.stats().paused === 0, 2000);
    } finally {
      clearInterval(drain);
    }
  }, 60_000);

  it('honours exclude patterns', async () => {
    const d = await tmp();
    await writeFile(join(d, 'a.log'), text(['a']));
    await writeFile(join(d, 'a.log.1.gz'), 'binary');
    await writeFile(join(d, 'debug.log'), text(['debug']));
    const r = await run(new MemoryStore(), { include: [join(d, '*.log*')], exclude: ['**/*.gz', join(d, 'debug.*')] });
    await until('a', () => r.got.length === 1);
    await sleep(300);
    expect(r.lines()).toEqual(['a']);
  });

  it('finds the static directory of a pattern', () => {
    expect(staticDir('/var/log/pods/*/*/*.log')).toBe('/var/log/pods');
    expect(staticDir('/var/log/app.log')).toBe('/var/log');
    expect(staticDir('/srv/{a,b}/x.log')).toBe('/srv');
  });
});
