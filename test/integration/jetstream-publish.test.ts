import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeFindings, type FindingContext } from '../../src/consumer/index.ts';
import { metrics } from '../../src/metrics.ts';
import type { Finding } from '../../src/model/finding.ts';
import { connectNats } from '../../src/nats/connection.ts';
import { decodeEnvelope, MAX_ENVELOPE_BYTES } from '../../src/nats/envelope.ts';
import { applyLayout, FINDINGS_STREAM } from '../../src/nats/streams.ts';
import { JetStreamFindingSink } from '../../src/sinks/jetstream.ts';
import { natsUnavailableSkip, startNats, type NatsServerHandle } from '../env/nats.ts';
import { counterValue, makeFinding, waitFor } from './jetstream-fixtures.ts';

describe.skipIf(natsUnavailableSkip())('JetStream findings: publish, consume, dedupe, caps', () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNats();
    nc = await connectNats({ servers: server.url });
    await applyLayout(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  const streamMessages = async (): Promise<number> => (await (await jetstreamManager(nc)).streams.info(FINDINGS_STREAM)).state.messages;
  const purge = async (): Promise<void> => {
    await (await jetstreamManager(nc)).streams.purge(FINDINGS_STREAM);
  };

  it('publishes findings that a durable consumer receives on the right subject', async () => {
    await purge();
    const sink = new JetStreamFindingSink({ connection: nc });
    const f1 = makeFinding('pc-1');
    const f2 = makeFinding('pc-2', { status: 'recovered', resource_scope: { cluster: 'edge', namespace: 'kube-system' } });
    sink.publish(f1);
    sink.publish(f2);
    await sink.close(5_000);
    expect(sink.pending().memory).toBe(0);

    const got: Array<{ f: Finding; ctx: FindingContext }> = [];
    const sub = await subscribeFindings({ connection: nc, durable: 'pc', handler: (f, ctx) => void got.push({ f, ctx }) });
    await waitFor(() => got.length === 2, 10_000, 'two findings');
    await sub.stop();
    expect(got.map((g) => g.f)).toEqual([f1, f2]);
    expect(got.map((g) => g.ctx.subject)).toEqual(['ops.findings.observed.shop.crashloop', 'ops.findings.recovered.kube-system.crashloop']);
    expect(got[1]?.ctx.envelope.type).toBe('sre.detector.finding.recovered');
    expect(got[0]?.ctx.envelope.id).toBe(f1.finding_id);
  });

  it('stores the same finding once when published twice (retry or second replica) and counts the duplicate', async () => {
    await purge();
    const dupBefore = await counterValue(metrics.natsPublish, { outcome: 'duplicate' });
    const replicaA = new JetStreamFindingSink({ connection: nc });
    const replicaB = new JetStreamFindingSink({ connection: nc });
    const f = makeFinding('dup-1');
    replicaA.publish(f);
    await replicaA.flush(5_000);
    replicaB.publish(structuredClone(f));
    replicaA.publish(f);
    await Promise.all([replicaA.close(5_000), replicaB.close(5_000)]);
    expect(await streamMessages()).toBe(1);
    expect((await counterValue(metrics.natsPublish, { outcome: 'duplicate' })) - dupBefore).toBe(2);
    // A different lifecycle step of the same incident is a different message.
    const s = new JetStreamFindingSink({ connection: nc });
    s.publish(makeFinding('dup-1-recovered', { status: 'recovered', dedupe_key: f.dedupe_key }));
    await s.close(5_000);
    expect(await streamMessages()).toBe(2);
  });

  it('never puts a raw 1 MiB line on the bus: the stored message stays under the cap', async () => {
    await purge();
    const sink = new JetStreamFindingSink({ connection: nc });
    const raw = 'R'.repeat(1024 * 1024);
    sink.publish(makeFinding('big-1', { evidence: { ...makeFinding(0).evidence, lines: [{ ts: 't', line: raw }] } }));
    await sink.close(5_000);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(FINDINGS_STREAM);
    expect(info.state.messages).toBe(1);
    const m = await jsm.streams.getMessage(FINDINGS_STREAM, { seq: info.state.last_seq });
    expect(m).not.toBeNull();
    expect(m!.data.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    const env = decodeEnvelope(m!.data);
    expect(env.data.evidence.lines[0]?.line.length).toBeLessThanOrEqual(512);
    expect(env.data.evidence.details?.evidence_truncated).toBe(true);
    expect(m!.header?.get('Nats-Msg-Id')).toBe('fid-big-1');
  });
});
