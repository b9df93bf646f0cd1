/**
 * The journald source as users run it: a real `run` process (journald: section, Loki sink, FileStore
 * state) against VictoriaLogs, reading a journal that the real `systemd-journal-remote` keeps
 * appending to, through the real `journalctl`. The detector is killed with SIGKILL in the middle
 * (entries arrive while it is down), started again, then stopped with SIGTERM and started once more.
 * What the store holds is compared with what was written: every entry stored, none stored under two
 * timestamps; after the SIGKILL only exact copies (same stream, nanosecond timestamp and line — Loki
 * drops them, VictoriaLogs keeps them) of what was not yet acknowledged, after the SIGTERM none.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { appendJournal, requireTools } from '../env/system-tools.ts';
import { freePort } from '../env/ports.ts';
import { managedProcess, type ManagedProcess } from '../env/process.ts';
import { exactDuplicates, queryLogs, startVictoriaLogs, type StoredEntry, type VictoriaLogsHandle } from '../env/victorialogs.ts';

const repo = new URL('../..', import.meta.url).pathname;
const skip = shouldSkip('journald-detector (real VictoriaLogs)', ['victoria-logs']);
const { journalctl: JOURNALCTL } = skip ? { journalctl: '' } : requireTools('journald-detector', 'journalRemote', 'journalctl');

const BOOT = '9d0c1b2a39484756a5b4c3d2e1f00718';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Entry timestamps: recent (VictoriaLogs' retention), 1 ms apart. */
const T0 = BigInt(Date.now() - 10 * 60_000) * 1000n;

function exportFormat(from: number, count: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = from; i < from + count; i++) {
    const msg = i % 10 === 3 ? null : `seq=${String(i).padStart(6, '0')} order accepted`;
    parts.push(Buffer.from(`__REALTIME_TIMESTAMP=${T0 + BigInt(i) * 1000n}\n__MONOTONIC_TIMESTAMP=${1_000_000 + i}\n_BOOT_ID=${BOOT}\nPRIORITY=${i % 7 === 0 ? 3 : 6}\n_SYSTEMD_UNIT=shop.service\nSYSLOG_IDENTIFIER=shop\n_HOSTNAME=edge-1\n`));
    if (msg === null) {
      // Every tenth entry: MESSAGE as a binary field (journalctl prints it as a byte array).
      const bytes = Buffer.concat([Buffer.from(`seq=${String(i).padStart(6, '0')} bin `), Buffer.from([0xff, 0x01])]);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(bytes.length));
      parts.push(Buffer.from('MESSAGE\n'), len, bytes, Buffer.from('\n'));
    } else parts.push(Buffer.from(`MESSAGE=${msg}\n`));
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

function append(dir: string, from: number, count: number): Promise<void> {
  return appendJournal(dir, exportFormat(from, count));
}

interface Detector {
  proc: ManagedProcess;
  port: number;
}

async function detector(dir: string, name: string, journal: string, lokiUrl: string): Promise<Detector> {
  const port = await freePort();
  const config = join(dir, `${name}.yaml`);
  await writeFile(
    config,
    [
      'cluster: journald-it',
      'kubernetes: { enabled: false }',
      `loki: { url: "${lokiUrl}" }`,
      `state: { store: file, dir: "${join(dir, 'state')}" }`,
      `server: { host: 127.0.0.1, port: ${port} }`,
      'findings: { stdout: false }',
      `journald: { journalctl: "${JOURNALCTL}", directory: "${journal}", readFrom: start, positions: { flushDelay: 50ms }, labels: { host: fallback-host } }`,
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
  return { proc, port };
}

const seqOf = (e: StoredEntry) => Number(/^seq=(\d{6}) /.exec(e.line)?.[1] ?? -1);

function figures(entries: StoredEntry[], written: number): { missing: number[]; realDuplicates: number; exactCopies: number; damaged: number } {
  const times = new Map<number, Set<string>>();
  let damaged = 0;
  for (const e of entries) {
    const s = seqOf(e);
    if (s < 0) {
      damaged++;
      continue;
    }
    let set = times.get(s);
    if (!set) times.set(s, (set = new Set()));
    set.add(e.ts);
  }
  const missing: number[] = [];
  for (let i = 0; i < written; i++) if (!times.has(i)) missing.push(i);
  let realDuplicates = 0;
  for (const s of times.values()) realDuplicates += s.size - 1;
  return { missing, realDuplicates, exactCopies: exactDuplicates(entries).length, damaged };
}

describe.skipIf(skip)('journald source: a real detector, systemd-journal-remote + journalctl, SIGKILL and SIGTERM restarts', () => {
  let vl: VictoriaLogsHandle;
  let dir: string;

  beforeAll(async () => {
    vl = await startVictoriaLogs();
    dir = await mkdtemp(join(tmpdir(), 'rsd-journald-det-'));
  });
  afterAll(async () => {
    await vl?.stop();
    if (!process.env.RSD_KEEP) await rm(dir, { recursive: true, force: true });
  });

  it('stores every entry once across the restarts (exact copies only after SIGKILL)', async () => {
    const journal = join(dir, 'journal');
    await mkdir(journal);
    const BATCH = 500;
    let written = 0;
    const write = async (n: number) => {
      await append(journal, written, n);
      written += n;
    };
    const query = () => queryLogs(vl.url, '{service_name="shop",source="journal"}', { limit: 100_000 });
    const waitFor = async (n: number, what: string) => {
      const end = Date.now() + 60_000;
      for (;;) {
        const f = figures(await query(), n);
        if (f.missing.length === 0) return;
        if (Date.now() > end) throw new Error(`${what}: ${f.missing.length} of ${n} entries not stored (first ${f.missing.slice(0, 5).join(',')})`);
        await sleep(250);
      }
    };

    await write(BATCH);
    const d1 = await detector(dir, 'd1', journal, vl.lokiUrl);
    await d1.proc.start();
    for (let k = 0; k < 3; k++) {
      await write(BATCH);
      await sleep(150);
    }
    await write(BATCH);
    await sleep(30); // killed while that batch is being read and delivered
    await d1.proc.kill(); // SIGKILL: what was read and not acknowledged (or not persisted) is re-read
    await write(BATCH); // while it is down
    const afterKill = written;

    const d2 = await detector(dir, 'd2', journal, vl.lokiUrl);
    await d2.proc.start();
    await write(BATCH);
    await waitFor(written, 'after the SIGKILL restart');
    const ready = await fetch(`http://127.0.0.1:${d2.port}/readyz`);
    expect(ready.status, await ready.text()).toBe(200);
    const copiesBefore = figures(await query(), written).exactCopies;
    await d2.proc.stop(); // SIGTERM: the acknowledged cursor is written on the way out

    await write(BATCH);
    const d3 = await detector(dir, 'd3', journal, vl.lokiUrl);
    await d3.proc.start();
    await write(BATCH);
    await waitFor(written, 'after the SIGTERM restart');
    await sleep(1000); // anything re-sent would have arrived by now
    await d3.proc.stop();

    const entries = await query();
    const f = figures(entries, written);
    process.stderr.write(`\njournald-detector: written ${written}, stored ${entries.length}, missing ${f.missing.length}, real duplicates ${f.realDuplicates}, exact copies ${f.exactCopies} (after SIGKILL at ~${afterKill - BATCH}), damaged ${f.damaged}\n`);
    expect(f.missing).toEqual([]);
    expect(f.realDuplicates).toBe(0);
    expect(f.damaged).toBe(0);
    expect(f.exactCopies).toBe(copiesBefore); // the SIGTERM restart added none

    // What the records carried: the binary MESSAGE decoded, the level, the labels and the host.
    const bin = entries.find((e) => seqOf(e) === 3)!;
    expect(bin.line).toBe('seq=000003 bin \uFFFD\u0001');
    expect(bin.labels).toMatchObject({ cluster: 'journald-it', namespace: 'default', service_name: 'shop', source: 'journal' });
    expect(bin.structuredMetadata).toMatchObject({ node: 'edge-1' });
    expect(entries.find((e) => seqOf(e) === 7)!.structuredMetadata.level).toBe('error');
    expect(entries.find((e) => seqOf(e) === 1)!.structuredMetadata.level).toBe('info');
    expect(entries.find((e) => seqOf(e) === 1)!.ts).toBe(((T0 + 1000n) * 1000n).toString());
  });
});
