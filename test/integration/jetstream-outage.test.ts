import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { metrics } from '../../src/metrics.ts';
import { connectNats } from '../../src/nats/connection.ts';
import { encodeFinding } from '../../src/nats/envelope.ts';
import { applyLayout, FINDINGS_STREAM } from '../../src/nats/streams.ts';
import { JetStreamFindingSink } from '../../src/sinks/jetstream.ts';
import { natsUnavailableSkip, startNats, type NatsServerHandle } from '../env/nats.ts';
import { counterValue, makeFinding, waitFor } from './jetstream-fixtures.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(natsUnavailableSkip())('JetStream findings sink: NATS down', () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let spoolDir: string;

  beforeAll(async () => {
    server = await startNats();
    nc = await connectNats({ servers: server.url, reconnectMaxWaitMs: 300 });
    await applyLayout(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });
  beforeEach(async () => {
    await (await jetstreamManager(nc)).streams.purge(FINDINGS_STREAM);
    spoolDir = await mkdtemp(join(tmpdir(), 'rsd-spool-'));
    return async () => {
      await rm(spoolDir, { recursive: true, force: true });
    };
  });

  const storedIds = async (): Promise<Set<string>> => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(FINDINGS_STREAM);
    const ids = new Set<string>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(FINDINGS_STREAM, { seq });
      const id = m?.header?.get('Nats-Msg-Id');
      if (id) ids.add(id);
    }
    expect(info.state.messages).toBe(ids.size); // every stored message is a distinct finding
    return ids;
  };

  it('loses nothing when nats-server is killed -9 and restarted during publishing', async () => {
    const sink = new JetStreamFindingSink({ connection: nc, publishTimeoutMs: 1_000, retryMaxMs: 300 });
    const total = 600;
    const errorsBefore = await counterValue(metrics.natsPublish, { outcome: 'error' });
    for (let i = 0; i < total; i++) {
      sink.publish(makeFinding(`kill-${i}`));
      if (i === 200) await server.kill(); // mid-stream, PubAcks in flight
      if (i === 400) await server.restart();
      if (i % 20 === 0) await sleep(5);
    }
    await sink.close(30_000);
    expect(sink.pending().memory).toBe(0);
    const ids = await storedIds();
    const missing = Array.from({ length: total }, (_, i) => `fid-kill-${i}`).filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
    expect(ids.size).toBe(total);
    // The outage was real: some publishes failed and were retried.
    expect(await counterValue(metrics.natsPublish, { outcome: 'error' })).toBeGreaterThan(errorsBefore);
  });

  it('memory-only queue: overflow while NATS is down is counted, the rest is delivered on reconnect', async () => {
    const dropsBefore = await counterValue(metrics.dropped, { component: 'jetstream', reason: 'overflow' });
    await server.kill();
    await waitFor(() => nc.isClosed() === false, 1_000);
    await sleep(100); // let the client notice the disconnect
    const sink = new JetStreamFindingSink({ connection: nc, maxQueue: 10, publishTimeoutMs: 500, retryMaxMs: 200 });
    for (let i = 0; i < 25; i++) sink.publish(makeFinding(`ovf-${i}`));
    expect(sink.pending().memory).toBe(10);
    expect((await counterValue(metrics.dropped, { component: 'jetstream', reason: 'overflow' })) - dropsBefore).toBe(15);
    // The byte bound holds too: room for 4 envelopes of this size.
    const size = encodeFinding(makeFinding('ovfb-0')).bytes;
    const byBytes = new JetStreamFindingSink({ connection: nc, maxQueueBytes: Math.floor(size * 4.5), publishTimeoutMs: 500 });
    for (let i = 0; i < 12; i++) byBytes.publish(makeFinding(`ovfb-${i}`));
    expect(byBytes.pending().memory).toBe(4);
    await byBytes.close(0);
    await server.restart();
    await sink.close(20_000);
    const ids = await storedIds();
    expect(ids.size).toBe(10);
    // The freshest findings survive: the oldest were dropped first.
    expect(ids.has('fid-ovf-24')).toBe(true);
    expect(ids.has('fid-ovf-0')).toBe(false);
  });

  it('disk spool: findings beyond memory and findings unsent at shutdown survive into the next process', async () => {
    await server.kill();
    await sleep(100);
    const first = new JetStreamFindingSink({ connection: nc, maxQueue: 20, spoolDir, publishTimeoutMs: 500, retryMaxMs: 200 });
    for (let i = 0; i < 300; i++) first.publish(makeFinding(`spool-${i}`));
    expect(first.pending().memory).toBe(20);
    expect(first.pending().spoolBytes).toBeGreaterThan(0);
    await first.close(300); // NATS still down: everything must land on disk
    expect((await readdir(spoolDir)).length).toBeGreaterThan(0);

    await server.restart();
    const second = new JetStreamFindingSink({ connection: nc, maxQueue: 20, spoolDir, publishTimeoutMs: 1_000 });
    await second.flush(20_000);
    await second.close(5_000);
    const ids = await storedIds();
    expect(ids.size).toBe(300);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('disk spool bound: past memory and spool, the oldest segments go, counted; the rest arrives', async () => {
    const dropsBefore = await counterValue(metrics.dropped, { component: 'jetstream', reason: 'overflow' });
    await server.kill();
    await sleep(100);
    const size = Buffer.byteLength(JSON.stringify({ s: 'x', m: 'y', p: encodeFinding(makeFinding('bound-00')).payload })) + 60;
    const spoolMaxBytes = size * 30;
    const sink = new JetStreamFindingSink({ connection: nc, maxQueue: 10, spoolDir, spoolMaxBytes, publishTimeoutMs: 500, retryMaxMs: 200 });
    let maxSpool = 0;
    for (let i = 0; i < 100; i++) {
      sink.publish(makeFinding(`bound-${String(i).padStart(2, '0')}`));
      maxSpool = Math.max(maxSpool, sink.pending().spoolBytes);
      if (i % 10 === 0) await sleep(5); // let segment drops land
    }
    await sleep(50);
    expect(maxSpool).toBeLessThanOrEqual(spoolMaxBytes);
    await server.restart();
    await sink.flush(20_000);
    await sink.close(5_000);
    const ids = await storedIds();
    const dropped = (await counterValue(metrics.dropped, { component: 'jetstream', reason: 'overflow' })) - dropsBefore;
    expect(dropped).toBeGreaterThan(0);
    expect(ids.size + dropped).toBe(100);
    expect(ids.has('fid-bound-99')).toBe(true); // the newest made it
  });
});
