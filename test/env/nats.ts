/**
 * A real nats-server with JetStream for tests and benches: loopback, free port, temporary store.
 * restart() reuses the port and store dir so a test can kill -9 the server and bring it back
 * with its data, exactly like a crashed pod with a persistent volume.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaries, requireBinary, shouldSkip, type BinaryInfo } from './binaries.ts';
import { ensureOrThrow } from './ensure.ts';

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

/**
 * Which nats-server the tests run against: `RSD_NATS_VERSION` names a release line of versions.env
 * (`2.12`, the line manifests/nats deploys, by default; or `2.15`, the newest served). `npm test` runs
 * the JetStream suites once per line (vitest projects in vitest.config.ts).
 */
export function natsBinaryInfo(): BinaryInfo {
  const want = process.env.RSD_NATS_VERSION ?? '';
  const b = binaries();
  if (!want || b.natsServer.version.startsWith(`v${want}`)) return b.natsServer;
  if (b.natsServerNewest.version.startsWith(`v${want}`)) return b.natsServerNewest;
  throw new Error(`RSD_NATS_VERSION=${want} matches neither NATS_VERSION (${b.natsServer.version}) nor NATS_NEWEST_VERSION (${b.natsServerNewest.version}) in test/env/versions.env`);
}

/** Path of the nats-server binary of the chosen release line (built from its module into the cache). */
export function natsServerBinary(): string | null {
  return natsBinaryInfo().path;
}

/**
 * True when nats-server tests cannot run here and are allowed to skip (never in CI).
 * Prints one loud line so a skipped run is never mistaken for a green one.
 */
export function natsUnavailableSkip(): boolean {
  return shouldSkip('JetStream integration', [natsBinaryInfo().name]);
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
  if (!natsServerBinary()) await ensureOrThrow('nats');
  const bin = requireBinary(natsBinaryInfo());
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
