/**
 * The Debian tools some tests run as real parts (installed by `npm run setup` through
 * test/env/system-packages.sh). A missing one fails the suite with the command that installs it:
 * never a skip, so a green run always ran them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const first = (paths: string[]): string | null => paths.find((p) => existsSync(p)) ?? null;

export const tools = {
  logrotate: first(['/usr/sbin/logrotate', '/sbin/logrotate', '/usr/bin/logrotate']),
  journalctl: first(['/usr/bin/journalctl', '/bin/journalctl']),
  journalRemote: first(['/lib/systemd/systemd-journal-remote', '/usr/lib/systemd/systemd-journal-remote']),
  setpriv: first(['/usr/bin/setpriv', '/bin/setpriv']),
};

const PACKAGE: Record<keyof typeof tools, string> = { logrotate: 'logrotate', journalctl: 'systemd', journalRemote: 'systemd-journal-remote', setpriv: 'util-linux' };

/** Each named tool's path; throws, naming the packages to install, when any is missing. */
export function requireTools<K extends keyof typeof tools>(suite: string, ...names: K[]): { [P in K]: string } {
  const missing = names.filter((n) => tools[n] === null);
  if (missing.length) {
    const pkgs = [...new Set(missing.map((n) => PACKAGE[n]))].join(' ');
    throw new Error(`${suite}: ${missing.join(', ')} not installed; run npm run setup (or: apt-get install -y ${pkgs})`);
  }
  return Object.fromEntries(names.map((n) => [n, tools[n]!])) as { [P in K]: string };
}

/** Appends export-format entries to `<dir>/remote.journal` through the real systemd-journal-remote. */
export function appendJournal(dir: string, exportFormat: Buffer, opts: { compress?: boolean } = {}): Promise<void> {
  const { journalRemote } = requireTools('journal', 'journalRemote');
  return new Promise<void>((resolve, reject) => {
    const args = [`--output=${join(dir, 'remote.journal')}`, ...(opts.compress === false ? ['--compress=no'] : []), '-'];
    const p = spawn(journalRemote, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`systemd-journal-remote exited ${code}: ${err}`))));
    p.stdin.end(exportFormat);
  });
}
