/**
 * A directory on a real 64 KiB tmpfs, for "the disk is full" tests; null when this user may not mount
 * (the caller then falls back to /dev/full or skips). `unmountAll()` in afterAll.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const mounts: string[] = [];

export function smallDisk(size = '64k'): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'rsd-fulldisk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    mounts.push(dir);
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

export function unmountAll(): void {
  for (const m of mounts.splice(0)) {
    try {
      execFileSync('umount', [m]);
    } catch {
      // already gone
    }
    rmSync(m, { recursive: true, force: true });
  }
}
