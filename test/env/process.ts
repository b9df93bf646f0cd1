/**
 * One server process for tests: output goes to a log file (not a pipe, so a chatty server can never
 * block on a full pipe), readiness is an HTTP poll, and stop/kill/restart keep ports and data dirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { httpCall, type HttpOptions } from './http.ts';

export interface ReadyProbe {
  url: string;
  /** Accepted status codes (default 200). */
  status?: number[];
  /** Extra condition on the body, e.g. /readyz text. */
  bodyMatches?: RegExp;
  http?: HttpOptions;
}

export interface ProcessSpec {
  name: string;
  command: string;
  /** Called at every (re)start so flags may depend on state; usually a constant array. */
  args: string[] | (() => string[]);
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  ready?: ReadyProbe;
  readyTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL in stop(). */
  stopTimeoutMs?: number;
}

export interface ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  pid(): number | undefined;
  running(): boolean;
  /** Start and wait for the ready probe; throws with the log tail if it exits or times out. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after stopTimeoutMs. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL right away (crash/outage tests). */
  kill(): Promise<void>;
  /** stop() then start() with the same arguments. */
  restart(): Promise<void>;
  /** Last bytes of the log file, for failure messages. */
  tail(bytes?: number): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

// A crashed or interrupted test run must not leave servers holding ports and data dirs.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function readTail(file: string, bytes = 4000): string {
  try {
    const size = statSync(file).size;
    const buf = readFileSync(file);
    return buf.subarray(Math.max(0, size - bytes)).toString('utf8');
  } catch {
    return '';
  }
}

/** Poll until the probe answers as expected, `alive()` turns false or the deadline passes. */
export async function waitForHttp(probe: ReadyProbe, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const okStatus = probe.status ?? [200];
  let last = 'no attempt';
  let delay = 50;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`process exited while waiting for ${probe.url} (last: ${last})`);
    try {
      const res = await httpCall(probe.url, { timeoutMs: 2_000, ...probe.http });
      if (okStatus.includes(res.status) && (!probe.bodyMatches || probe.bodyMatches.test(res.body))) return;
      last = `HTTP ${res.status} ${res.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 500);
  }
  throw new Error(`not ready after ${timeoutMs} ms: ${probe.url} (last: ${last})`);
}

export function managedProcess(spec: ProcessSpec): ManagedProcess {
  installExitHook();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const isRunning = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;

  const launch = async (): Promise<void> => {
    if (isRunning()) throw new Error(`${spec.name} is already running`);
    const fd = openSync(spec.logFile, 'a');
    writeSync(fd, `\n=== ${new Date().toISOString()} starting ${spec.name}\n`);
    const args = typeof spec.args === 'function' ? spec.args() : spec.args;
    let c: ChildProcess;
    try {
      c = spawn(spec.command, args, {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    child = c;
    live.add(c);
    exited = new Promise<void>((resolve) => {
      c.once('exit', () => {
        live.delete(c);
        resolve();
      });
      c.once('error', () => {
        live.delete(c);
        resolve();
      });
    });
    let spawnError: Error | null = null;
    c.once('error', (e) => {
      spawnError = e;
    });
    if (!spec.ready) return;
    try {
      await waitForHttp(spec.ready, spec.readyTimeoutMs ?? 60_000, () => spawnError === null && c.exitCode === null && c.signalCode === null);
    } catch (err) {
      const why = spawnError ? `spawn failed: ${(spawnError as Error).message}` : (err as Error).message;
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await exited;
      throw new Error(`${spec.name}: ${why}\n--- ${spec.logFile} (tail) ---\n${readTail(spec.logFile)}`);
    }
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || !isRunning()) return;
    c.kill(signal);
    if (signal === 'SIGKILL') {
      await exited;
      return;
    }
    const timer = setTimeout(() => c.kill('SIGKILL'), spec.stopTimeoutMs ?? 10_000);
    await exited;
    clearTimeout(timer);
  };

  return {
    name: spec.name,
    logFile: spec.logFile,
    pid: () => (isRunning() ? child?.pid : undefined),
    running: isRunning,
    start: launch,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
    async restart() {
      await terminate('SIGTERM');
      // Ports were ours a moment ago; the kernel may need a beat to release them (TIME_WAIT is fine
      // for listeners with SO_REUSEADDR, which Go sets, but be tolerant anyway).
      for (let attempt = 0; ; attempt++) {
        try {
          await launch();
          return;
        } catch (err) {
          if (attempt >= 3) throw err;
          await sleep(300);
        }
      }
    },
    tail: (bytes?: number) => readTail(spec.logFile, bytes),
  };
}
