/**
 * The journald source against real journal files: the test writes entries in the journal export
 * format, the real `systemd-journal-remote` (Debian package systemd-journal-remote) turns them into a
 * journal file, and the source reads it through the real `journalctl` (package systemd) — text and
 * byte-array MESSAGEs, PRIORITY, units, identifiers, hosts, the filters, following appends, resuming
 * from the cursor in a file-backed state store after a restart with no gap and no duplicate, and a
 * journal the detector's user may not read.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { JournaldSource, type JournaldSourceOptions } from '../../src/sources/journald/source.ts';
import { FileStore } from '../../src/state/file-store.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import type { StateStore } from '../../src/state/store.ts';
import { appendJournal, requireTools, tools } from '../env/system-tools.ts';
import { acknowledge } from '../../src/delivery/acks.ts';

const run = promisify(execFile);
const { journalctl: JOURNALCTL } = requireTools('journald-journal', 'journalRemote', 'journalctl');
const SETPRIV = tools.setpriv;

const BOOT = '6c3f1f6e5d3b4c8e9a0b1c2d3e4f5a6b';
const T0 = 1_764_748_800_000_000n; // 2025-12-03T08:00:00Z in µs
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Field = string | Buffer;
interface Ent {
  i: number;
  fields: Record<string, Field>;
}

/** Journal export format: `KEY=value\n`, binary as `KEY\n<u64 LE length><bytes>\n`, an empty line after each entry. */
function exportFormat(entries: readonly Ent[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(Buffer.from(`__REALTIME_TIMESTAMP=${T0 + BigInt(e.i) * 1000n + 7n}\n__MONOTONIC_TIMESTAMP=${1_000_000 + e.i}\n_BOOT_ID=${BOOT}\n`));
    for (const [k, v] of Object.entries(e.fields)) {
      if (Buffer.isBuffer(v)) {
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(v.length));
        parts.push(Buffer.from(`${k}\n`), len, v, Buffer.from('\n'));
      } else parts.push(Buffer.from(`${k}=${v}\n`));
    }
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** Appends entries to `<dir>/remote.journal` through the real systemd-journal-remote. */
function writeJournal(dir: string, entries: readonly Ent[]): Promise<void> {
  return appendJournal(dir, exportFormat(entries), { compress: false });
}

const plain = (i: number, extra: Record<string, Field> = {}): Ent => ({
  i,
  fields: { MESSAGE: `line ${i}`, PRIORITY: '6', _SYSTEMD_UNIT: 'shop.service', SYSLOG_IDENTIFIER: 'shop', _HOSTNAME: 'node-a', ...extra },
});

interface Harness {
  src: JournaldSource;
  got: LogRecord[];
  sub: Subscription;
  /** Acknowledge what arrived (all, or the first n). */
  ack(n?: number): void;
  stop(): Promise<void>;
}

function harness(o: Partial<JournaldSourceOptions> & { store: StateStore }): Harness {
  const src = new JournaldSource({
    journalctl: JOURNALCTL,
    merge: false,
    units: [],
    identifiers: [],
    readFrom: 'start',
    maxLineBytes: 256 * 1024,
    flushDelayMs: 20,
    scope: 'it',
    target: { cluster: 'c1', namespace: 'default', node: 'config-host' },
    log: createLogger('silent'),
    restartBackoff: { baseMs: 100, maxMs: 400 },
    batchMaxWaitMs: 10,
    ...o,
  });
  const got: LogRecord[] = [];
  const sub = src.records$.subscribe((b) => got.push(...b));
  let acked = 0;
  return {
    src,
    got,
    sub,
    ack(n = got.length) {
      acknowledge(got.slice(acked, n));
      acked = Math.max(acked, n);
    },
    async stop() {
      await src.stop();
      sub.unsubscribe();
    },
  };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('journald source: real journal files, real journalctl', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rsd-journald-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads text and byte-array messages, PRIORITY as level, unit → service, _HOSTNAME → node, µs timestamps', async () => {
    const dir = join(root, 'basic');
    await mkdir(dir);
    await writeJournal(dir, [
      plain(0),
      { i: 1, fields: { MESSAGE: Buffer.from([0x62, 0x69, 0x6e, 0xff, 0xfe, 0x20, 0x6f, 0x6b]), PRIORITY: '3', _SYSTEMD_UNIT: 'nginx.service', _HOSTNAME: 'node-b' } },
      { i: 2, fields: { MESSAGE: Buffer.from('first\nsecond\n'), PRIORITY: '4', _SYSTEMD_UNIT: 'getty@tty1.service', SYSLOG_IDENTIFIER: 'agetty', _HOSTNAME: 'node-a' } },
      { i: 3, fields: { MESSAGE: 'Out of memory: Killed process 4242', PRIORITY: '2', SYSLOG_IDENTIFIER: 'kernel', _TRANSPORT: 'kernel' } },
      { i: 4, fields: { MESSAGE: 'session opened', PRIORITY: '5', _SYSTEMD_UNIT: 'session-42.scope', SYSLOG_IDENTIFIER: 'sshd', _HOSTNAME: 'node-a' } },
      { i: 5, fields: { CODE_FILE: 'no message here', _HOSTNAME: 'node-a' } },
      { i: 6, fields: { MESSAGE: 'debug detail', PRIORITY: '7', _SYSTEMD_UNIT: 'docker.socket', _HOSTNAME: 'node-a' } },
    ]);
    const h = harness({ directory: dir, store: new MemoryStore() });
    await h.src.start();
    await until('6 records', () => h.got.length >= 6);
    await sleep(200);
    const view = h.got.map((r) => ({ line: r.line, level: r.level, service: r.target.service, node: r.target.node, kind: r.kind, ts: r.ts }));
    expect(view).toEqual([
      { line: 'line 0', level: 'info', service: 'shop', node: 'node-a', kind: 'journal', ts: '2025-12-03T08:00:00.000007000Z' },
      { line: 'bin\uFFFD\uFFFD ok', level: 'error', service: 'nginx', node: 'node-b', kind: 'journal', ts: '2025-12-03T08:00:00.001007000Z' },
      { line: 'first\nsecond', level: 'warn', service: 'getty', node: 'node-a', kind: 'journal', ts: '2025-12-03T08:00:00.002007000Z' },
      { line: 'Out of memory: Killed process 4242', level: 'fatal', service: 'kernel', node: 'config-host', kind: 'journal', ts: '2025-12-03T08:00:00.003007000Z' },
      { line: 'session opened', level: 'info', service: 'sshd', node: 'node-a', kind: 'journal', ts: '2025-12-03T08:00:00.004007000Z' },
      { line: 'debug detail', level: 'debug', service: 'docker.socket', node: 'node-a', kind: 'journal', ts: '2025-12-03T08:00:00.006007000Z' },
    ]);
    expect(h.got[0]!.tsMs).toBe(Number(T0 / 1000n));
    expect(h.src.unready()).toBeNull();
    // The entry without MESSAGE is not sent, and does not hold the cursor back.
    h.ack();
    await h.src.flushState();
    expect(h.src.stats().pending).toBe(0);
    expect(h.src.stats().acked).toBe(h.src.stats().lastRead);
    await h.stop();
  });

  it('filters by unit, identifier and priority through journalctl', async () => {
    const dir = join(root, 'filters');
    await mkdir(dir);
    await writeJournal(dir, [
      plain(0, { _SYSTEMD_UNIT: 'a.service', SYSLOG_IDENTIFIER: 'a', PRIORITY: '6' }),
      plain(1, { _SYSTEMD_UNIT: 'b.service', SYSLOG_IDENTIFIER: 'b', PRIORITY: '3' }),
      plain(2, { _SYSTEMD_UNIT: 'c.service', SYSLOG_IDENTIFIER: 'c', PRIORITY: '4' }),
      plain(3, { _SYSTEMD_UNIT: 'a.service', SYSLOG_IDENTIFIER: 'a', PRIORITY: '3' }),
    ]);
    const lines = async (o: Partial<JournaldSourceOptions>, expected: number) => {
      const h = harness({ directory: dir, store: new MemoryStore(), ...o });
      await h.src.start();
      await until(`${expected} records`, () => h.got.length >= expected);
      await sleep(300);
      await h.stop();
      return h.got.map((r) => r.line);
    };
    expect(await lines({ units: ['a.service', 'c.service'] }, 3)).toEqual(['line 0', 'line 2', 'line 3']);
    expect(await lines({ identifiers: ['b'] }, 1)).toEqual(['line 1']);
    expect(await lines({ priority: 'warning' }, 3)).toEqual(['line 1', 'line 2', 'line 3']);
    expect(await lines({ units: ['a.service'], priority: 'err' }, 1)).toEqual(['line 3']);
  });

  it('follows entries appended while it runs; readFrom end skips what was there', async () => {
    const dir = join(root, 'follow');
    await mkdir(dir);
    await writeJournal(dir, [plain(0), plain(1)]);
    const h = harness({ directory: dir, store: new MemoryStore(), readFrom: 'end' });
    await h.src.start();
    await until('journalctl running', () => h.src.stats().running);
    await sleep(1200);
    await writeJournal(dir, [plain(2), plain(3)]);
    await until('2 records', () => h.got.length >= 2);
    await sleep(200);
    expect(h.got.map((r) => r.line)).toEqual(['line 2', 'line 3']);
    await h.stop();
  });

  it('resumes from the acknowledged cursor after a restart (file state store): no gap, no duplicate', async () => {
    const dir = join(root, 'restart');
    const state = join(root, 'restart-state');
    await mkdir(dir);
    const N = 300;
    await writeJournal(dir, Array.from({ length: N }, (_, i) => plain(i)));

    // First run: reads all, the sink acknowledges only the first 120 (the rest was in flight at the crash).
    const a = harness({ directory: dir, store: new FileStore(state) });
    await a.src.start();
    await until(`${N} records`, () => a.got.length >= N);
    a.ack(120);
    await a.src.flushState();
    await a.stop();
    const firstAcked = a.got.slice(0, 120).map((r) => r.line);

    // While it is down, more entries arrive.
    await writeJournal(dir, Array.from({ length: 100 }, (_, i) => plain(N + i)));

    // Second run, a new store object on the same directory: starts right after entry 119.
    const b = harness({ directory: dir, store: new FileStore(state), readFrom: 'end' });
    await b.src.start();
    await until('the rest', () => b.got.length >= N + 100 - 120);
    await sleep(300);
    // An acknowledgement out of order holds the cursor until the older one arrives.
    acknowledge([b.got[5]!]);
    expect(b.src.stats().pending).toBe(N + 100 - 120);
    b.ack(10);
    expect(b.src.stats().pending).toBe(N + 100 - 130);
    await b.src.flushState();
    await b.stop();

    // Third run: after entry 129.
    await writeJournal(dir, [plain(N + 100)]);
    const c = harness({ directory: dir, store: new FileStore(state) });
    await c.src.start();
    await until('the rest again', () => c.got.length >= N + 101 - 130);
    await sleep(300);
    await c.stop();

    const delivered = [...firstAcked, ...b.got.slice(0, 10).map((r) => r.line), ...c.got.map((r) => r.line)];
    expect(delivered).toEqual(Array.from({ length: N + 101 }, (_, i) => `line ${i}`));
    expect(b.got[0]!.line).toBe('line 120');
    expect(c.got[0]!.line).toBe('line 130');
    expect(new Set(delivered).size).toBe(delivered.length);
  });

  it('restarts journalctl when it is killed and continues after the last entry read', async () => {
    const dir = join(root, 'kill');
    await mkdir(dir);
    await writeJournal(dir, [plain(0), plain(1)]);
    const h = harness({ directory: dir, store: new MemoryStore() });
    await h.src.start();
    await until('2 records', () => h.got.length >= 2);
    await sleep(1200);
    const pid = (h.src as unknown as { child: { pid: number } }).child.pid;
    process.kill(pid, 'SIGKILL');
    await until('restart', () => h.src.stats().spawns >= 2 && h.src.stats().running);
    await writeJournal(dir, [plain(2)]);
    await until('3 records', () => h.got.length >= 3);
    await sleep(300);
    expect(h.got.map((r) => r.line)).toEqual(['line 0', 'line 1', 'line 2']);
    await h.stop();
  });

  it('a missing journalctl is unready with what to install', async () => {
    const h = harness({ journalctl: join(root, 'no-such-journalctl'), store: new MemoryStore() });
    await h.src.start();
    await until('unready', () => h.src.unready() !== null);
    expect(h.src.unready()).toBe(`journalctl not found (${join(root, 'no-such-journalctl')}): install systemd (journalctl) in the image or mount the host's journal tools, or set journald.journalctl to its path`);
    await h.stop();
  });

  it('a journal the user may not read is unready with the documented error', async () => {
    const dir = join(root, 'denied');
    await mkdir(dir);
    await writeJournal(dir, [plain(0)]);
    // As root, permissions do not apply: journalctl runs as nobody through setpriv (the wrapper).
    let journalctl = JOURNALCTL;
    if (process.getuid?.() === 0) {
      expect(SETPRIV, 'setpriv (util-linux) is needed to drop root').not.toBeNull();
      journalctl = join(root, 'journalctl-as-nobody');
      await writeFile(journalctl, `#!/bin/sh\nexec ${SETPRIV} --reuid=65534 --regid=65534 --clear-groups ${JOURNALCTL} "$@"\n`);
      await chmod(journalctl, 0o755);
    }
    await chmod(root, 0o755);
    // The file not readable (0640 root): "No journal files were opened due to insufficient permissions."
    await chmod(dir, 0o755);
    await chmod(join(dir, 'remote.journal'), 0o600);
    if (process.getuid?.() !== 0) await chmod(join(dir, 'remote.journal'), 0o000);
    const h = harness({ journalctl, directory: dir, store: new MemoryStore() });
    await h.src.start();
    await until('unready', () => h.src.unready() !== null);
    expect(h.src.unready()).toBe(
      `journal not readable (${dir}): journalctl said "No journal files were opened due to insufficient permissions."; run the detector as root or in group systemd-journal (or adm), or mount the journal readable for its user`,
    );
    expect(h.got).toEqual([]);
    await h.stop();

    // The directory not readable: "Failed to open <dir>: Permission denied".
    await chmod(dir, 0o700);
    if (process.getuid?.() !== 0) await chmod(dir, 0o000);
    const h2 = harness({ journalctl, directory: dir, store: new MemoryStore() });
    await h2.src.start();
    await until('unready', () => h2.src.unready() !== null);
    expect(h2.src.unready()).toBe(
      `journal not readable (${dir}): journalctl said "Failed to open ${dir}: Permission denied"; run the detector as root or in group systemd-journal (or adm), or mount the journal readable for its user`,
    );
    await h2.stop();

    // Made readable: the same source recovers on its next restart.
    await chmod(dir, 0o755);
    await chmod(join(dir, 'remote.journal'), 0o644);
    const h3 = harness({ journalctl, directory: dir, store: new MemoryStore() });
    await h3.src.start();
    await until('1 record', () => h3.got.length >= 1);
    await until('ready', () => h3.src.unready() === null);
    await h3.stop();
  });

  it('a missing or still empty journal directory is unready, and recovers once entries arrive', async () => {
    const absent = join(root, 'not-there');
    const h = harness({ directory: absent, store: new MemoryStore() });
    await h.src.start();
    await until('unready', () => h.src.unready() !== null);
    expect(h.src.unready()).toBe(
      `journal directory not found (${absent}): journalctl said "Failed to open ${absent}: No such file or directory"; mount the host's journal there (e.g. /var/log/journal) or fix journald.directory`,
    );
    await h.stop();

    const empty = join(root, 'empty');
    await mkdir(empty);
    const e = harness({ directory: empty, store: new MemoryStore() });
    await e.src.start();
    await until('unready', () => e.src.unready() !== null);
    expect(e.src.unready()).toMatch(new RegExp(`^no journal entries to follow yet in ${empty}: journalctl said ".+" \\(retrying\\)$`));
    await writeJournal(empty, [plain(0), plain(1)]);
    await until('2 records', () => e.got.length >= 2);
    await until('ready', () => e.src.unready() === null);
    expect(e.got.map((r) => r.line)).toEqual(['line 0', 'line 1']);
    await e.stop();
  });

  it('journalctl itself agrees with what the source read (byte arrays in its JSON)', async () => {
    const dir = join(root, 'basic');
    const { stdout } = await run(JOURNALCTL, [`--directory=${dir}`, '--output=json', '--all', '--no-pager']);
    const bin = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)[1]!;
    expect(bin.MESSAGE).toEqual([0x62, 0x69, 0x6e, 0xff, 0xfe, 0x20, 0x6f, 0x6b]);
  });
});
