/**
 * The findings spool when the disk fails it: a full disk (a real 64 KiB tmpfs when this user may
 * mount one, else /dev/full, which answers every write with ENOSPC), and a segment whose tail is
 * torn or corrupt. Each loss is reported with its count and the spool keeps working.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FindingSpool, type SpoolLoss } from '../../src/sinks/jetstream-spool.ts';
import { smallDisk, unmountAll } from '../helpers/small-disk.ts';

const item = (i: number) => ({ subject: 'ops.findings.x', msgId: `id-${i}`, payload: JSON.stringify({ n: i, pad: 'p'.repeat(900) }) });
afterAll(unmountAll);

function lossRecorder(): { losses: Record<SpoolLoss, number>; errors: string[]; onLoss: (r: SpoolLoss, n: number, e?: Error) => void } {
  const losses: Record<SpoolLoss, number> = { write_error: 0, corrupt: 0 };
  const errors: string[] = [];
  return { losses, errors, onLoss: (r, n, e) => ((losses[r] += n), e && errors.push((e as NodeJS.ErrnoException).code ?? e.message)) };
}

describe('findings spool on a failing disk', () => {
  it('a full disk: the findings of failed writes are counted as lost, the spool goes on, and what is on disk reads back', async () => {
    const rec = lossRecorder();
    const disk = smallDisk();
    const dir = disk ?? mkdtempSync(join(tmpdir(), 'rsd-devfull-'));
    const spool = new FindingSpool(dir, { maxBytes: 10 * 1024 * 1024, segmentItems: 10, onLoss: rec.onLoss });
    if (!disk) {
      // No mount allowed: the 3rd segment onwards is /dev/full (every write fails with ENOSPC); made
      // after the directory scan, so they are not taken for a previous run's segments.
      await spool.opened;
      for (let s = 2; s < 20; s++) symlinkSync('/dev/full', join(dir, `seg-${String(500_000_000_000_000 + s).padStart(15, '0')}.spool`));
    }
    // 150 findings of ~1 KiB: more than 64 KiB, written one tick at a time.
    for (let i = 0; i < 150; i++) {
      expect(spool.append(item(i))).toBe(true);
      if (i % 5 === 4) await new Promise((r) => setImmediate(r));
    }
    await spool.settle();
    expect(rec.losses.write_error).toBeGreaterThan(0);
    expect(rec.errors).toContain('ENOSPC');
    // What was written reads back, oldest first, and the byte account matches what is on disk.
    const read: number[] = [];
    for (let seg = await spool.shift(); seg; seg = await spool.shift()) {
      read.push(...seg.items.map((x) => (JSON.parse(x.payload) as { n: number }).n));
      await seg.release();
    }
    expect(read.length + rec.losses.write_error).toBe(150);
    expect(read).toEqual([...read].sort((a, b) => a - b));
    expect(read.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(spool.bytes()).toBe(0);
    // Space freed: the spool writes again.
    if (disk) {
      const after = new FindingSpool(dir, { maxBytes: 10 * 1024 * 1024, segmentItems: 10, onLoss: rec.onLoss });
      const lost = rec.losses.write_error;
      for (let i = 0; i < 5; i++) after.append(item(1000 + i));
      await after.settle();
      expect(rec.losses.write_error).toBe(lost);
      expect((await after.shift())!.items).toHaveLength(5);
    }
  });

  it('a segment with a torn or corrupt tail: the good lines are read, the bad ones counted and dropped', async () => {
    const rec = lossRecorder();
    const dir = mkdtempSync(join(tmpdir(), 'rsd-spool-corrupt-'));
    mkdirSync(dir, { recursive: true });
    const good = [item(1), item(2), item(3)].map((i) => `${JSON.stringify({ s: i.subject, m: i.msgId, p: i.payload })}\n`).join('');
    writeFileSync(join(dir, 'seg-500000000000001.ndjson'), good);
    appendFileSync(join(dir, 'seg-500000000000001.ndjson'), '{"s":"ops.findings.x","m":"id-4","p":"{\\"n\\":4,\\"pa\n\u0000\u0000garbage\n{"s":1}\n');
    const spool = new FindingSpool(dir, { maxBytes: 1 << 20, segmentItems: 10, onLoss: rec.onLoss });
    const seg = (await spool.shift())!;
    expect(seg.items.map((x) => x.msgId)).toEqual(['id-1', 'id-2', 'id-3']);
    expect(rec.losses.corrupt).toBe(3);
    await seg.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
