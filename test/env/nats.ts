/**
 * A real nats-server with JetStream for tests and benches: loopback, free port, temporary store.
 * restart() reuses the port and store dir so a test can kill -9 the server and bring it back
 * with its data, exactly like a crashed pod with a persistent volume.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface NatsServerOptions {
  /** Require this token from clients (`--auth`). */
  token?: string;
  /** Require this user/password (`--user`/`--pass`). */
  user?: string;
  pass?: string;
  /** Extra command-line flags. */
  args?: string[];
  /** How long to wait for "Server is ready". */
  readyTimeoutMs?: number;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  /** The server's combined output so far (for failure messages). */
  output(): string;
  /** Graceful stop and removal of the store dir. */
  stop(): Promise<void>;
  /** SIGKILL: no flush, no goodbye; the store dir stays. */
  kill(): Promise<void>;
  /** Start again on the same port with the same store dir. */
  restart(): Promise<void>;
}

let installTried = false;

/** Path of the nats-server binary, installing Debian's package once when running as root. */
export function natsServerBinary(): string | null {
  const found = lookup();
  if (found || installTried) return found;
  installTried = true;
  if (process.getuid?.() === 0) {
    process.stderr.write('[test/env/nats] nats-server missing: apt-get install -y nats-server\n');
    let r = spawnSync('apt-get', ['install', '-y', 'nats-server'], { stdio: 'ignore', timeout: 300_000 });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'ignore', timeout: 300_000 });
      r = spawnSync('apt-get', ['install', '-y', 'nats-server'], { stdio: 'ignore', timeout: 300_000 });
    }
  }
  return lookup();
}

function lookup(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, 'nats-server');
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * True when nats-server tests cannot run here and are allowed to skip (never in CI).
 * Prints one loud line so a skipped run is never mistaken for a green one.
 */
export function natsUnavailableSkip(): boolean {
  if (natsServerBinary()) return false;
  if (process.env.CI) return false; // let startNats throw: CI must fail, not skip
  process.stderr.write('\n!!! nats-server not found and not installable: SKIPPING JetStream integration tests !!!\n\n');
  return true;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startNats(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = natsServerBinary();
  if (!bin) {
    throw new Error(
      'nats-server not found (looked on PATH and /usr/sbin) and could not be installed; install it with `apt-get install -y nats-server`',
    );
  }
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'rsd-nats-'));
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir];
  if (opts.token) args.push('--auth', opts.token);
  if (opts.user) args.push('--user', opts.user, '--pass', opts.pass ?? '');
  args.push(...(opts.args ?? []));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;

  let proc: ChildProcess | null = null;
  let out = '';

  const launch = async (): Promise<void> => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server not ready after ${readyTimeoutMs} ms:\n${out}`)), readyTimeoutMs);
      const onData = (b: Buffer): void => {
        out += b.toString();
        if (out.length > 200_000) out = out.slice(-100_000);
        if (/Server is ready/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited early (code ${code}, signal ${sig}):\n${out}`));
      });
    });
  };

  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    output: () => out,
    async stop() {
      await waitExit('SIGTERM');
      await rm(storeDir, { recursive: true, force: true });
    },
    async kill() {
      await waitExit('SIGKILL');
    },
    async restart() {
      await waitExit('SIGTERM');
      out = '';
      // The port was ours a moment ago; a few retries cover the kernel releasing it.
      for (let i = 0; ; i++) {
        try {
          await launch();
          return;
        } catch (err) {
          if (i >= 10) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
  };
}
