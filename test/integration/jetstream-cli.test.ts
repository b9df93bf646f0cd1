import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as findingsRun } from '../../src/commands/findings.ts';
import { run as streamsRun } from '../../src/commands/streams.ts';
import { connectNats } from '../../src/nats/connection.ts';
import { JetStreamFindingSink } from '../../src/sinks/jetstream.ts';
import { natsUnavailableSkip, startNats, type NatsServerHandle } from '../env/nats.ts';
import { makeFinding, waitFor } from './jetstream-fixtures.ts';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

describe.skipIf(natsUnavailableSkip())('CLI: streams apply, findings tail (token auth)', () => {
  let server: NatsServerHandle;
  const token = 's3cret-token';
  const env = (): NodeJS.ProcessEnv => ({ NATS_URL: server.url, NATS_TOKEN: token });

  beforeAll(async () => {
    server = await startNats({ token });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('streams apply: created, then unchanged; --dry-run; bad usage', async () => {
    const io1 = { stdout: new Capture(), stderr: new Capture(), env: env() };
    expect(await streamsRun(['apply'], io1)).toBe(0);
    expect(io1.stdout.text).toMatch(/^OPS_FINDINGS\s+created$/m);
    expect(io1.stdout.text).toMatch(/^KV robot_sre_detector_state\s+created$/m);
    const io2 = { stdout: new Capture(), stderr: new Capture(), env: env() };
    expect(await streamsRun(['apply', '--json'], io2)).toBe(0);
    const results = JSON.parse(io2.stdout.text) as Array<{ action: string }>;
    expect(results).toHaveLength(6);
    expect(results.every((r) => r.action === 'unchanged')).toBe(true);
    const io3 = { stdout: new Capture(), stderr: new Capture(), env: env() };
    expect(await streamsRun(['apply', '--dry-run', '--replicas', '0'], io3)).toBe(2);
    expect(await streamsRun(['bogus'], io3)).toBe(2);
  });

  it('refuses to connect without the token', async () => {
    const io = { stdout: new Capture(), stderr: new Capture(), env: { NATS_URL: server.url } };
    await expect(streamsRun(['apply'], io)).rejects.toThrow(/author/i);
  });

  it('findings tail prints matching findings, readable or as NDJSON', async () => {
    const nc = await connectNats({ servers: server.url, token });
    const out = new Capture();
    const ac = new AbortController();
    const running = findingsRun(['tail', '--namespace', 'shop', '--event', 'observed', '--count', '2'], { stdout: out, stderr: new Capture(), env: env(), signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300)); // tail starts at "new"
    const sink = new JetStreamFindingSink({ connection: nc });
    sink.publish(makeFinding('cli-1'));
    sink.publish(makeFinding('cli-2', { resource_scope: { cluster: 'edge', namespace: 'other' } }));
    sink.publish(makeFinding('cli-3', { status: 'recovered' }));
    sink.publish(makeFinding('cli-4', { severity: 'critical' }));
    await sink.close(5_000);
    await waitFor(() => out.text.includes('fid-cli-4'), 10_000, 'tail output');
    expect(await running).toBe(0);
    expect(out.text).toContain('OBSERVED');
    expect(out.text).toContain('shop/Deployment/api');
    expect(out.text).not.toContain('fid-cli-2');
    expect(out.text).not.toContain('fid-cli-3');

    const nd = new Capture();
    expect(await findingsRun(['tail', '--all', '--type', 'crashloop', '--count', '4', '--output', 'ndjson'], { stdout: nd, stderr: new Capture(), env: env() })).toBe(0);
    const ids = nd.text.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toEqual(['fid-cli-1', 'fid-cli-2', 'fid-cli-3', 'fid-cli-4']);
    ac.abort();
    await nc.close();
  });
});
