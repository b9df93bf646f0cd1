/**
 * A tap session against a running detector's admin server: the real HTTP server and tap hub, the
 * real engine with the default rules, and the `tap` command as a user runs it (a child process).
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRules } from '../../src/detect/rulesets.ts';
import { createLogger } from '../../src/logger.ts';
import { registry } from '../../src/metrics.ts';
import { startServer } from '../../src/server.ts';
import { TapHub } from '../../src/tap.ts';
import { rec } from '../helpers/records.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const api = { namespace: 'shop', app: 'api', workload: 'api', pod: 'api-1' };
const web = { namespace: 'shop', app: 'web', workload: 'web', pod: 'web-1' };
const other = { namespace: 'batch', app: 'api', workload: 'api', pod: 'api-9' };

async function until(f: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(opts: ConstructorParameters<typeof TapHub>[2] = {}) {
  const engine = detectionEngine({ rules: await loadRules({}) });
  const hub = new TapHub(engine, createLogger('silent'), opts);
  const server: Server = await startServer({ host: '127.0.0.1', port: 0, readiness: [], routes: { '/tap': (req, res) => hub.handle(req, res) } });
  const port = (server.address() as { port: number }).port;
  return { engine, hub, server, port };
}

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

describe('tap', () => {
  it('streams the selected records, the rules verdicts and signals to the tap command, and nothing else', async () => {
    const { engine, hub, server, port } = await setup();
    cleanup.push(() => server.close());
    const child = spawn(process.execPath, ['src/cli.ts', 'tap', '--url', `http://127.0.0.1:${port}`, '--selector', 'namespace=shop,app=api', '--signals', '--output', 'ndjson'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('"type":"hello"'), 'the hello line');
    expect(hub.size).toBe(1);

    const refused = 'dial tcp 10.0.0.5:5433: connect: connection refused password=hunter2';
    engine.process([rec(0, refused, api), rec(1000, 'GET /cart 200', web), rec(2000, refused, other)]);
    engine.process([rec(3000, refused, api), rec(4000, refused, api), rec(5000, 'payment ok', api)]);
    await until(() => out.split('\n').filter((l) => l.includes('"type":"record"')).length >= 4, 'four records');
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));

    const msgs = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const records = msgs.filter((m) => m.type === 'record');
    expect(records.map((m) => m.labels)).toEqual(Array(4).fill({ namespace: 'shop', pod: 'api-1', container: 'app', workload: 'api', app: 'api' }));
    // Lines leave the process redacted, as evidence does.
    expect(records[0]!.line).toBe('dial tcp 10.0.0.5:5433: connect: connection refused password=[REDACTED]');
    expect(JSON.stringify(msgs)).not.toContain('hunter2');
    const verdicts = msgs.filter((m) => m.type === 'match').map((m) => `${m.rule}:${m.verdict}`);
    expect(verdicts).toEqual(['dependency-refused:below_threshold', 'dependency-refused:below_threshold', 'dependency-refused:signalled']);
    expect(msgs.filter((m) => m.type === 'signal').map((m) => `${m.rule}:${m.outcome}`)).toEqual(['dependency-refused:observed']);
    // The client left: the tracer is gone and the engine runs untraced again.
    await until(() => hub.size === 0, 'the hub to forget the client');
  });

  it('a client that stops reading is disconnected and counted; the engine never waits for it', async () => {
    const { engine, hub, server, port } = await setup({ maxRate: 10_000, maxBufferedBytes: 64 * 1024, maxLineBytes: 4096 });
    cleanup.push(() => server.close());
    const before = (await registry.metrics()).match(/rsd_tap_dropped_total\{reason="slow_client"\} (\d+)/)?.[1] ?? '0';
    // A raw socket that sends the request and then never reads a byte.
    const sock = connect(port, '127.0.0.1');
    cleanup.push(() => sock.destroy());
    sock.write(`GET /tap?selector=namespace=shop HTTP/1.1\r\nHost: x\r\n\r\n`);
    sock.pause();
    await until(() => hub.size === 1, 'the stalled client to connect');
    const line = `ERROR ${'x'.repeat(3000)} connection refused`;
    let processed = 0;
    const started = Date.now();
    while (hub.size > 0 && Date.now() - started < 20_000) {
      const batch = Array.from({ length: 200 }, (_, i) => rec(processed + i, line, api));
      engine.process(batch);
      processed += batch.length;
      await new Promise((r) => setImmediate(r));
    }
    expect(hub.size, `still connected after ${processed} records`).toBe(0);
    const after = (await registry.metrics()).match(/rsd_tap_dropped_total\{reason="slow_client"\} (\d+)/)?.[1];
    expect(Number(after)).toBe(Number(before) + 1);
  });

  it('refuses bad selectors, too many clients and non-loopback peers', async () => {
    const { hub, server, port } = await setup({ maxClients: 1 });
    cleanup.push(() => server.close());
    const bad = await fetch(`http://127.0.0.1:${port}/tap?selector=team=a`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('unknown label "team"');
    const ac = new AbortController();
    cleanup.push(() => ac.abort());
    const first = await fetch(`http://127.0.0.1:${port}/tap`, { signal: ac.signal });
    expect(first.status).toBe(200);
    const second = await fetch(`http://127.0.0.1:${port}/tap`);
    expect(second.status).toBe(429);
    // The peer check reads the socket's address: a request from elsewhere is refused before anything else.
    let status = 0;
    let body = '';
    const fakeRes = { writeHead: (s: number) => ((status = s), { end: (b: string) => (body = b) }) };
    hub.handle({ socket: { remoteAddress: '10.1.2.3' }, url: '/tap' } as never, fakeRes as never);
    expect(status).toBe(403);
    expect(body).toContain('loopback');
  });
});
