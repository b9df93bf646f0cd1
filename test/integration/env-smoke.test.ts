/**
 * Smoke test of the real Loki started by test/env: push one JSON line, read it back with its labels
 * and structured metadata, survive a SIGKILL + restart (WAL replay), and honour `limits` (429).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shouldSkip } from '../env/binaries.ts';
import { queryRange, startLoki, waitForEntries, type LokiHandle } from '../env/loki.ts';

const skip = shouldSkip('env-smoke (Loki)', ['loki']);

async function pushJson(url: string, stream: Record<string, string>, values: [string, string, Record<string, string>?][]): Promise<Response> {
  return fetch(`${url}/loki/api/v1/push`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ streams: [{ stream, values }] }),
  });
}

describe.skipIf(skip)('real Loki (test/env/loki.ts)', () => {
  let loki: LokiHandle | undefined;
  const run = randomUUID().slice(0, 8);
  const ts = (BigInt(Date.now()) * 1_000_000n + 123_456n).toString();

  beforeAll(async () => {
    loki = await startLoki();
  });
  afterAll(async () => {
    await loki?.stop();
  });

  it('stores a pushed JSON line and returns it with labels, exact ns timestamp and structured metadata', async () => {
    const l = loki!;
    const res = await pushJson(l.url, { job: 'env-smoke', run }, [[ts, '{"msg":"hello loki","level":"info"}', { trace_id: 'abc123' }]]);
    expect(res.status, await res.text()).toBe(204);
    const entries = await waitForEntries(l.url, `{job="env-smoke", run="${run}"}`, (e) => e.length > 0);
    expect(entries).toEqual([
      { labels: { job: 'env-smoke', run }, ts, line: '{"msg":"hello loki","level":"info"}', structuredMetadata: { trace_id: 'abc123' }, parsed: {} },
    ]);
    const parsed = await queryRange(l.url, `{job="env-smoke", run="${run}"} | json | trace_id="abc123"`);
    expect(parsed.map((e) => e.parsed)).toEqual([{ msg: 'hello loki', level: 'info' }]);
  });

  it('keeps acknowledged data across SIGKILL and restart (WAL replay)', async () => {
    const l = loki!;
    await l.kill();
    await expect(fetch(`${l.url}/ready`)).rejects.toThrow();
    await l.restart();
    const entries = await waitForEntries(l.url, `{job="env-smoke", run="${run}"}`, (e) => e.length > 0);
    expect(entries.map((e) => [e.ts, e.line])).toEqual([[ts, '{"msg":"hello loki","level":"info"}']]);
  });

  it('applies limits: a tiny ingestion rate answers 429', async () => {
    const tiny = await startLoki({ limits: { ingestion_rate_mb: 0.0001, ingestion_burst_size_mb: 0.0001 } });
    try {
      const now = BigInt(Date.now()) * 1_000_000n;
      const res = await pushJson(tiny.url, { job: 'env-smoke-limits' }, [[now.toString(), 'x'.repeat(2_000)]]);
      expect(res.status).toBe(429);
      expect(await res.text()).toMatch(/rate limit/i);
    } finally {
      await tiny.stop();
    }
  });
});
