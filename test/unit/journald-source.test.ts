/**
 * The journald source's process handling against a stand-in journalctl (a shell script printing
 * journalctl's JSON): back-pressure pauses reading its output, an exit is retried with backoff from
 * the last entry read, a missing binary is unready. The real journalctl is in the integration test.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { JournaldSource, type JournaldSourceOptions } from '../../src/sources/journald/source.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { acknowledge } from '../../src/delivery/acks.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rsd-journald-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake journalctl: logs its arguments, prints `count` entries (after the cursor's number), then runs `then`. */
async function fake(name: string, count: number, then: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(
    p,
    `#!/bin/sh
# (the loop's output is written by a child of this shell when "then" is not exec'd: stop() must not wait for it)
echo "$@" >> "${p}.args"
start=0
for a in "$@"; do case "$a" in --after-cursor=*) start=$(( \${a#--after-cursor=c} + 1 ));; esac; done
i=$start; end=$(( start + ${count} ))
while [ $i -lt $end ]; do
  printf '{"__CURSOR":"c%d","__REALTIME_TIMESTAMP":"%d","MESSAGE":"m %d","PRIORITY":"6","_SYSTEMD_UNIT":"x.service"}\\n' $i $(( 1700000000000000 + i )) $i
  i=$(( i + 1 ))
done
${then}
`,
  );
  await chmod(p, 0o755);
  return p;
}

function source(o: Partial<JournaldSourceOptions>): { src: JournaldSource; got: LogRecord[] } {
  const src = new JournaldSource({
    journalctl: 'journalctl',
    merge: false,
    units: [],
    identifiers: [],
    readFrom: 'start',
    maxLineBytes: 1024,
    flushDelayMs: 0,
    scope: 'u',
    target: { cluster: 'c', namespace: 'default', node: 'h' },
    store: new MemoryStore(),
    log: createLogger('silent'),
    restartBackoff: { baseMs: 50, maxMs: 100 },
    batchMaxWaitMs: 5,
    ...o,
  });
  const got: LogRecord[] = [];
  src.records$.subscribe((b) => got.push(...b));
  return { src, got };
}

describe('journald: source process handling', () => {
  it('stops reading journalctl while the sink is under pressure, and resumes', async () => {
    const bin = await fake('pressure', 20_000, 'sleep 5');
    const pressure = { fill: 1 };
    const { src, got } = source({ journalctl: bin, pressure });
    await src.start();
    await until('paused', () => src.stats().paused);
    await sleep(300);
    const during = got.length;
    await sleep(300);
    expect(got.length).toBe(during); // nothing read while paused
    expect(during).toBeLessThan(20_000);
    pressure.fill = 0;
    await until('all', () => got.length === 20_000);
    expect(got.at(-1)!.line).toBe('m 19999');
    await src.stop();
    expect(src.stats().running).toBe(false);
  });

  it('pauses when acknowledgements lag (maxUnacked) and resumes as they arrive', async () => {
    const bin = await fake('lag', 5000, 'exec sleep 30');
    const { src, got } = source({ journalctl: bin, maxUnacked: 1000 });
    await src.start();
    await until('paused', () => src.stats().paused);
    await sleep(200);
    expect(got.length).toBeLessThan(5000);
    for (let n = 0; got.length < 5000 && n < 100; n++) {
      acknowledge(got.slice());
      await sleep(50);
    }
    expect(got.length).toBe(5000);
    acknowledge(got);
    expect(src.stats().acked).toBe('c4999');
    await src.stop();
  });

  it('restarts journalctl with backoff after it exits, after the last entry read', async () => {
    const bin = await fake('exits', 3, 'echo "something broke" >&2; exit 3');
    const { src, got } = source({ journalctl: bin });
    await src.start();
    await until('9 records', () => got.length >= 9);
    expect(got.slice(0, 9).map((r) => r.line)).toEqual(['m 0', 'm 1', 'm 2', 'm 3', 'm 4', 'm 5', 'm 6', 'm 7', 'm 8']);
    expect(src.unready()).toBe('journalctl exited (code 3): "something broke" (retrying)');
    await src.stop();
    const args = (await readFile(`${bin}.args`, 'utf8')).trim().split('\n');
    expect(args[0]).toBe('--output=json --all --follow --no-pager --no-tail');
    expect(args[1]).toBe('--output=json --all --follow --no-pager --after-cursor=c2 --no-tail');
    expect(args[2]).toBe('--output=json --all --follow --no-pager --after-cursor=c5 --no-tail');
  });

  it('starts after the stored cursor, marks oversized messages, and kills journalctl on stop', async () => {
    const p = join(dir, 'big');
    await writeFile(p, `#!/bin/sh\necho "$@" > "${p}.args"\necho '{"__CURSOR":"z1","__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":"${'a'.repeat(3000)}"}'\nexec sleep 30\n`);
    await chmod(p, 0o755);
    const store = new MemoryStore();
    await store.put('journald.u.cursor', Buffer.from(JSON.stringify({ v: 1, cursor: 'z0', at: 1 })));
    const { src, got } = source({ journalctl: p, store });
    await src.start();
    await until('1 record', () => got.length >= 1);
    expect(got[0]!.line.length).toBe(1024);
    expect(got[0]!.malformed).toBe('truncated');
    expect(await readFile(`${p}.args`, 'utf8')).toContain('--after-cursor=z0 --no-tail');
    await until('running', () => src.unready() === null && src.stats().running);
    const t = Date.now();
    await src.stop();
    expect(Date.now() - t).toBeLessThan(2500);
    expect(src.stats().running).toBe(false);
  });

  it('a missing journalctl is unready, and retried', async () => {
    const { src } = source({ journalctl: join(dir, 'absent') });
    await src.start();
    await until('unready', () => src.unready() !== null);
    expect(src.unready()).toMatch(/^journalctl not found \(.*absent\): install systemd \(journalctl\) in the image or mount the host's journal tools/);
    await until('retried', () => src.stats().spawns >= 3);
    await src.stop();
  });
});
