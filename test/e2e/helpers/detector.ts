/**
 * The product as a child process: `node src/cli.ts run -c <config>`, exactly what the container runs.
 * Output goes to a log file (never a pipe a chatty process could fill); readiness is its own /readyz;
 * its /metrics is the window into what it read and sent (Loki silently drops exact duplicates, so
 * "each line exactly once in Loki" alone cannot prove the detector did not send a line twice).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpCall } from '../../env/http.ts';
import { readTail, waitForHttp } from '../../env/process.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface DetectorProcess {
  readonly port: number;
  readonly logFile: string;
  running(): boolean;
  /** Spawn and wait until /readyz answers 200 (pods and events listed, the first watch open). */
  start(readyTimeoutMs?: number): Promise<void>;
  /** SIGTERM (the detector flushes its sinks and cursors), wait for the exit; the exit code or the signal name. */
  stop(timeoutMs?: number): Promise<number | string>;
  kill(): Promise<void>;
  /** Samples of one metric family from /metrics, summed over the samples whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** The samples of the rsd_* families named, as text (for failure messages); '' when /metrics does not answer. */
  metricsText(prefixes: string[]): Promise<string>;
  readyz(): Promise<{ status: number; body: string }>;
  tail(bytes?: number): string;
}

/** `name{a="x",b="y"} 12` → labels and value (Prometheus text format as src/prometheus.ts writes it). */
export function parseMetrics(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export function detectorProcess(o: { configFile: string; port: number; logFile: string; env?: NodeJS.ProcessEnv }): DetectorProcess {
  let child: ChildProcess | null = null;
  let exited: Promise<number | string> = Promise.resolve(0);
  const base = `http://127.0.0.1:${o.port}`;
  const running = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;

  const metrics = async (): Promise<string> => {
    const res = await httpCall(`${base}/metrics`, { timeoutMs: 10_000 });
    if (res.status !== 200) throw new Error(`detector /metrics: HTTP ${res.status}`);
    return res.body;
  };

  return {
    port: o.port,
    logFile: o.logFile,
    running,
    async start(readyTimeoutMs = 60_000) {
      if (running()) throw new Error('detector already running');
      const fd = openSync(o.logFile, 'a');
      writeSync(fd, `\n=== ${new Date().toISOString()} starting detector\n`);
      let c: ChildProcess;
      try {
        // process.execPath: the Node 24 running the tests (type stripping, no build step).
        c = spawn(process.execPath, [join(repoRoot, 'src', 'cli.ts'), 'run', '-c', o.configFile], {
          cwd: repoRoot,
          env: { ...process.env, ...o.env },
          stdio: ['ignore', fd, fd],
        });
      } finally {
        closeSync(fd);
      }
      child = c;
      exited = new Promise((resolve) => c.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
      try {
        await waitForHttp({ url: `${base}/readyz` }, readyTimeoutMs, () => c.exitCode === null && c.signalCode === null);
      } catch (err) {
        if (running()) c.kill('SIGKILL');
        await exited;
        throw new Error(`detector did not become ready: ${(err as Error).message}\n--- ${o.logFile} (tail) ---\n${readTail(o.logFile, 6000)}`);
      }
    },
    async stop(timeoutMs = 30_000) {
      const c = child;
      if (!c || !running()) return exited;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child && running()) child.kill('SIGKILL');
      await exited;
    },
    async metric(name, labels = {}) {
      let sum = 0;
      for (const s of parseMetrics(await metrics())) {
        if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
      }
      return sum;
    },
    async metricsText(prefixes) {
      try {
        return (await metrics()).split('\n').filter((l) => !l.startsWith('#') && prefixes.some((p) => l.startsWith(p))).join('\n');
      } catch {
        return '';
      }
    },
    async readyz() {
      const res = await httpCall(`${base}/readyz`, { timeoutMs: 5_000 });
      return { status: res.status, body: res.body };
    },
    tail: (bytes = 6000) => readTail(o.logFile, bytes),
  };
}
