/**
 * The findings spool (the shared delivery buffer in append mode, with the JetStream sink's codec) when
 * the disk fails it: a full disk (a real 64 KiB tmpfs when this user may mount one, else /dev/full,
 * which answers every write with ENOSPC), and a segment whose tail is torn or corrupt. Each loss is
 * reported with its count and the spool keeps working.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeliveryBuffer } from '../../src/delivery/buffer.ts';
import { findingSpoolCodec, type QueuedFinding } from '../../src/sinks/jetstream-spool.ts';
import { smallDisk, unmountAll } from '../helpers/small-disk.ts';

let order = 0;
const item = (i: number): QueuedFinding => {
  const payload = JSON.stringify({ n: i, pad: 'p'.repeat(900) });
  return { subject: 'ops.findings.x', msgId: `id-${i}`, payload, bytes: Buffer.byteLength(payload), order: order++, enqueuedAt: Date.now() };
};
afterAll(unmountAll);

function lossRecorder(): { losses: Record<string, number>; errors: string[]; onDrop: (r: string, n: number, o: readonly number[], e?: unknown) => void } {
  const losses: Record<string, number> = { spool_write_error: 0, spool_corrupt: 0, overflow: 0 };
  const errors: string[] = [];
  return { losses, errors, onDrop: (r, n, _o, e) => ((losses[r] = (losses[r] ?? 0) + n), e && errors.push((e as NodeJS.ErrnoException).code ?? String(e))) };
}

/** Memory holds nothing: every finding goes to the spool, as during a long NATS outage. */
function spool(dir: string, onDrop: ReturnType<typeof lossRecorder>['onDrop']): DeliveryBuffer<QueuedFinding> {
  return new DeliveryBuffer<QueuedFinding>({
    name: 'jetstream-test',
    memory: { maxBytes: 0 },
    spool: { dir, maxBytes: 10 * 1024 * 1024, mode: 'append', segmentBatches: 10 },
    codec: findingSpoolCodec,
    reasons: { memoryFull: 'overflow', spoolFull: 'overflow', spoolError: 'spool_write_error', spoolCorrupt: 'spool_corrupt' },
    onDrop,
  });
}

const n = (f: QueuedFinding): number => (JSON.parse(f.payload) as { n: number }).n;

describe('findings spool on a failing disk', () => {
  it('a full disk: the findings of failed writes are counted as lost, the spool goes on, and what is on disk reads back', async () => {
    const rec = lossRecorder();
    const disk = smallDisk();
    const dir = disk ?? mkdtempSync(join(tmpdir(), 'rsd-devfull-'));
    const buf = spool(dir, rec.onDrop);
    if (!disk) {
      // No mount allowed: the 3rd segment onwards is /dev/full (every write fails with ENOSPC); made
      // after the directory scan, so they are not taken for a previous run's segments.
      await buf.ready;
      for (let s = 2; s < 20; s++) symlinkSync('/dev/full', join(dir, `seg-${String(500_000_000_000_000 + s).padStart(15, '0')}.spool`));
    }
    // 150 findings of ~1 KiB: more than 64 KiB, written one tick at a time.
    for (let i = 0; i < 150; i++) {
      buf.push(item(i));
      if (i % 5 === 4) await new Promise((r) => setImmediate(r));
    }
    await buf.settle();
    expect(rec.losses.spool_write_error).toBeGreaterThan(0);
    expect(rec.errors).toContain('ENOSPC');
    expect(buf.memoryBytes()).toBe(0);
    // What was written reads back, oldest first, and the byte account matches what is on disk.
    const read: number[] = [];
    for (let f = await buf.takeOldest(); f; f = await buf.takeOldest()) {
      read.push(n(f));
      await buf.done(f);
    }
    expect(read.length + rec.losses.spool_write_error!).toBe(150);
    expect(read).toEqual([...read].sort((a, b) => a - b));
    expect(read.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(buf.spoolBytes()).toBe(0);
    // Space freed: the spool writes again.
    if (disk) {
      const after = spool(dir, rec.onDrop);
      const lost = rec.losses.spool_write_error;
      for (let i = 0; i < 5; i++) after.push(item(1000 + i));
      await after.settle();
      expect(rec.losses.spool_write_error).toBe(lost);
      const back: number[] = [];
      for (let f = await after.takeOldest(); f; f = await after.takeOldest()) back.push(n(f));
      expect(back).toEqual([1000, 1001, 1002, 1003, 1004]);
    }
  });

  it('a segment with a torn or corrupt tail: the good lines are read, the bad ones counted and dropped', async () => {
    const rec = lossRecorder();
    const dir = mkdtempSync(join(tmpdir(), 'rsd-spool-corrupt-'));
    mkdirSync(dir, { recursive: true });
    const good = [item(1), item(2), item(3)].map((i) => `${JSON.stringify({ s: i.subject, m: i.msgId, p: i.payload })}\n`).join('');
    writeFileSync(join(dir, 'seg-500000000000001.ndjson'), good);
    appendFileSync(join(dir, 'seg-500000000000001.ndjson'), '{"s":"ops.findings.x","m":"id-4","p":"{\\"n\\":4,\\"pa\n\u0000\u0000garbage\n{"s":1}\n');
    const buf = spool(dir, rec.onDrop);
    const got: QueuedFinding[] = [];
    for (let f = await buf.takeOldest(); f; f = await buf.takeOldest()) got.push(f);
    expect(got.map((x) => x.msgId)).toEqual(['id-1', 'id-2', 'id-3']);
    expect(rec.losses.spool_corrupt).toBe(3);
    for (const f of got) await buf.done(f);
    expect(readdirSync(dir)).toEqual([]);
  });
});
