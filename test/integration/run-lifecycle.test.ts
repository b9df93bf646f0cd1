import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startNats, natsUnavailableSkip, freePort, type NatsServerHandle } from '../env/nats.ts';

/** The `run` command as users start it: config file, /healthz /readyz /metrics, clean exit on SIGTERM. */
async function startDetector(config: string): Promise<{ port: number; stop(): Promise<{ code: number | null; ms: number }>; output(): string }> {
  const dir = await mkdtemp(join(tmpdir(), 'rsd-run-'));
  const port = await freePort();
  const file = join(dir, 'config.yaml');
  await writeFile(file, `${config}\nserver: { host: 127.0.0.1, port: ${port} }\nstate: { store: memory }\n`);
  const child = spawn(process.execPath, ['src/cli.ts', 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`detector did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    output: () => out,
    stop: async () => {
      const t0 = Date.now();
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
      if (code === null) child.kill('SIGKILL');
      return { code, ms: Date.now() - t0 };
    },
  };
}

describe.skipIf(natsUnavailableSkip())('run command lifecycle', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('serves /healthz, /readyz and /metrics, provisions the streams, and exits 0 on SIGTERM', async () => {
    const d = await startDetector(`cluster: t1\nkubernetes: { enabled: false }\nnats: { servers: ["${nats.url}"] }`);
    // Liveness comes first; readiness follows once NATS is connected and the streams are provisioned.
    const readyBy = Date.now() + 10_000;
    let ready = await fetch(`http://127.0.0.1:${d.port}/readyz`);
    while (ready.status !== 200 && Date.now() < readyBy) {
      expect(await ready.text()).toContain('starting');
      await new Promise((r) => setTimeout(r, 50));
      ready = await fetch(`http://127.0.0.1:${d.port}/readyz`);
    }
    expect(ready.status, d.output()).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
    expect(metrics).toContain('rsd_lines_in_total');
    expect(metrics).toContain('rsd_process_resident_memory_bytes');
    expect(d.output()).toContain('JetStream layout applied');
    const { code, ms } = await d.stop();
    expect(code, d.output()).toBe(0);
    expect(ms).toBeLessThan(10_000);
  });

  it('still exits promptly on SIGTERM when NATS never came up', async () => {
    const deadPort = await freePort();
    const d = await startDetector(`cluster: t2\nkubernetes: { enabled: false }\nnats: { servers: ["nats://127.0.0.1:${deadPort}"] }`);
    const { code, ms } = await d.stop();
    expect(code, d.output()).toBe(0);
    expect(ms).toBeLessThan(12_000);
  });

  it('rejects a bad config with the file, field and reason, exit code 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsd-run-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'loki:\n  url: ftp://nowhere\n');
    const child = spawn(process.execPath, ['src/cli.ts', 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(2);
    expect(err).toContain(`${file}: field loki.url: must be an http(s) URL`);
  });
});
