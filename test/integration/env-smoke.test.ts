/**
 * Smoke test of the servers test/env builds: the Loki-protocol store (VictoriaLogs) takes a Loki JSON
 * push and returns the line with its labels, exact nanosecond timestamp and structured metadata, and
 * keeps it across a stop and start; nats-server is the pinned release line with JetStream on.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaries, shouldSkip } from '../env/binaries.ts';
import { natsBinaryInfo, startNats } from '../env/nats.ts';
import { queryLogs, startVictoriaLogs, waitForLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';

const skip = shouldSkip('env-smoke (VictoriaLogs, nats-server)', ['victoria-logs', 'nats-server', 'nats-server-newest']);

async function pushJson(url: string, stream: Record<string, string>, values: [string, string, Record<string, string>?][]): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ streams: [{ stream, values }] }) });
}

describe.skipIf(skip)('real VictoriaLogs (test/env/victorialogs.ts)', () => {
  let store: VictoriaLogsHandle | undefined;
  const run = randomUUID().slice(0, 8);
  const ts = (BigInt(Date.now()) * 1_000_000n + 123_456n).toString();

  beforeAll(async () => {
    store = await startVictoriaLogs();
  });
  afterAll(async () => {
    await store?.stop();
  });

  it('stores a Loki JSON push and returns it with labels, exact ns timestamp and structured metadata', async () => {
    const s = store!;
    const res = await pushJson(s.pushUrl, { job: 'env-smoke', run }, [[ts, '{"msg":"hello","level":"info"}', { trace_id: 'abc123' }]]);
    expect(res.status, await res.text()).toBe(204);
    const entries = await waitForLogs(s.url, `{job="env-smoke", run="${run}"}`, (e) => e.length > 0);
    // The JSON line is kept as the message (not split into fields): what Loki stores too.
    expect(entries).toEqual([{ labels: { job: 'env-smoke', run }, ts, line: '{"msg":"hello","level":"info"}', structuredMetadata: { trace_id: 'abc123' } }]);
    expect(await queryLogs(s.url, `{job="env-smoke"} trace_id:="abc123"`)).toHaveLength(1);
    expect(await queryLogs(s.url, `{job="env-smoke"} trace_id:="other"`)).toHaveLength(0);
  });

  it('keeps stored data across a stop and start', async () => {
    const s = store!;
    await s.pause();
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();
    await s.start();
    const entries = await queryLogs(s.url, `{job="env-smoke", run="${run}"}`);
    expect(entries.map((e) => [e.ts, e.line])).toEqual([[ts, '{"msg":"hello","level":"info"}']]);
  });
});

describe.skipIf(skip)('nats-server built from its module', () => {
  it.each([
    ['', () => binaries().natsServer.version],
    ['2.15', () => binaries().natsServerNewest.version],
  ])('RSD_NATS_VERSION=%s runs the pinned release with JetStream', async (want, version) => {
    const before = process.env.RSD_NATS_VERSION;
    if (want) process.env.RSD_NATS_VERSION = want;
    else delete process.env.RSD_NATS_VERSION;
    try {
      const info = natsBinaryInfo();
      expect(info.version).toBe(version());
      expect(execFileSync(info.path!, ['--version'], { encoding: 'utf8' })).toContain(info.version);
      const nats = await startNats();
      try {
        expect(nats.output()).toMatch(/Starting JetStream/);
        expect(nats.output()).toContain(info.version.slice(1));
      } finally {
        await nats.stop();
      }
    } finally {
      if (before === undefined) delete process.env.RSD_NATS_VERSION;
      else process.env.RSD_NATS_VERSION = before;
    }
  });
});
