import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { subscribeFindings, tailFindings, type FindingEnvelope } from '../../src/consumer/index.ts';
import type { Finding } from '../../src/model/finding.ts';
import { connectNats } from '../../src/nats/connection.ts';
import { supportsMultiFilter } from '../../src/consumer/filters.ts';
import { applyLayout, FINDINGS_STREAM } from '../../src/nats/streams.ts';
import { JetStreamFindingSink } from '../../src/sinks/jetstream.ts';
import { natsUnavailableSkip, startNats, type NatsServerHandle } from '../env/nats.ts';
import { makeFinding, waitFor } from './jetstream-fixtures.ts';

describe.skipIf(natsUnavailableSkip())('consumer SDK against a real JetStream', () => {
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
  beforeEach(async () => {
    await (await jetstreamManager(nc)).streams.purge(FINDINGS_STREAM);
  });

  const publishAll = async (fs: Finding[]): Promise<void> => {
    const sink = new JetStreamFindingSink({ connection: nc });
    for (const f of fs) sink.publish(f);
    await sink.close(5_000);
  };

  it('redelivers after nak with a growing deliveryCount, then gives up after maxDeliver', async () => {
    await publishAll([makeFinding('nak-1')]);
    const counts: number[] = [];
    const dead: Finding[] = [];
    const sub = await subscribeFindings({
      connection: nc,
      durable: 'nak-test',
      maxDeliver: 3,
      nakBackoffMs: [50, 100],
      handler: (_f, ctx) => {
        counts.push(ctx.deliveryCount);
        throw new Error('downstream unavailable');
      },
      onDeadLetter: (f) => void dead.push(f),
    });
    await waitFor(() => dead.length === 1, 10_000, 'dead letter');
    await new Promise((r) => setTimeout(r, 300)); // no 4th delivery
    await sub.stop();
    expect(counts).toEqual([1, 2, 3]);
    expect(dead[0]?.finding_id).toBe('fid-nak-1');
  });

  it('explicit nak(delay) redelivers; ack on the second delivery ends it', async () => {
    await publishAll([makeFinding('nak-2')]);
    const seen: Array<{ count: number; redelivered: boolean; at: number }> = [];
    const sub = await subscribeFindings({
      connection: nc,
      durable: 'nak-explicit',
      handler: (_f, ctx) => {
        seen.push({ count: ctx.deliveryCount, redelivered: ctx.redelivered, at: Date.now() });
        if (ctx.deliveryCount === 1) ctx.nak(300);
      },
    });
    await waitFor(() => seen.length === 2, 10_000, 'redelivery');
    await new Promise((r) => setTimeout(r, 300));
    await sub.stop();
    expect(seen.map((s) => [s.count, s.redelivered])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(250);
    const info = await (await jetstreamManager(nc)).consumers.info(FINDINGS_STREAM, 'nak-explicit');
    expect(info.num_ack_pending).toBe(0);
  });

  it('filters by namespace, incident type and event (several values: server-side on ≥ 2.10, client-side before)', async () => {
    const scope = (namespace: string) => ({ cluster: 'edge', namespace });
    await publishAll([
      makeFinding('flt-1', { resource_scope: scope('shop') }),
      makeFinding('flt-2', { resource_scope: scope('billing') }),
      makeFinding('flt-3', { resource_scope: scope('other') }),
      makeFinding('flt-4', { resource_scope: scope('shop'), incident_type: 'oom' }),
      makeFinding('flt-5', { resource_scope: scope('billing'), status: 'recovered' }),
      makeFinding('flt-6', { resource_scope: scope('shop') }),
    ]);
    const got: string[] = [];
    const sub = await subscribeFindings({
      connection: nc,
      durable: 'filters',
      namespaces: ['shop', 'billing'],
      incidentTypes: ['crashloop'],
      events: ['observed'],
      handler: (f) => void got.push(f.finding_id),
    });
    if (supportsMultiFilter(nc.info?.version)) {
      // nats-server ≥ 2.10 (every release line tested: test/env/versions.env) takes several filter_subjects.
      expect(sub.serverFilters).toEqual(['ops.findings.observed.shop.crashloop', 'ops.findings.observed.billing.crashloop']);
      expect(sub.clientSideFiltering).toBe(false);
    } else {
      expect(sub.serverFilters).toEqual(['ops.findings.observed.*.crashloop']);
      expect(sub.clientSideFiltering).toBe(true);
    }
    await waitFor(async () => (await (await jetstreamManager(nc)).consumers.info(FINDINGS_STREAM, 'filters')).num_pending === 0 && got.length >= 3, 10_000, 'filtered');
    await new Promise((r) => setTimeout(r, 100));
    await sub.stop();
    expect(got).toEqual(['fid-flt-1', 'fid-flt-2', 'fid-flt-6']);

    // One value per dimension: the server filters exactly.
    const exact: string[] = [];
    const sub2 = await subscribeFindings({ connection: nc, durable: 'filters-exact', namespaces: ['billing'], handler: (f) => void exact.push(f.finding_id) });
    expect(sub2.clientSideFiltering).toBe(false);
    await waitFor(() => exact.length === 2, 10_000, 'exact filter');
    await sub2.stop();
    expect(exact).toEqual(['fid-flt-2', 'fid-flt-5']);
  });

  it('a durable resumes after stop(): acknowledged findings are not delivered again', async () => {
    await publishAll([makeFinding('dur-1'), makeFinding('dur-2')]);
    const first: string[] = [];
    const a = await subscribeFindings({ connection: nc, durable: 'resume', handler: (f) => void first.push(f.finding_id) });
    await waitFor(() => first.length === 2, 10_000, 'first batch');
    await a.stop();
    await publishAll([makeFinding('dur-3')]);
    const second: string[] = [];
    const b = await subscribeFindings({ connection: nc, durable: 'resume', handler: (f) => void second.push(f.finding_id) });
    await waitFor(() => second.length === 1, 10_000, 'resume');
    await new Promise((r) => setTimeout(r, 200));
    await b.stop();
    expect(first).toEqual(['fid-dur-1', 'fid-dur-2']);
    expect(second).toEqual(['fid-dur-3']);
  });

  it('stop() waits for the handler in progress to finish and settle', async () => {
    await publishAll([makeFinding('stop-1')]);
    let finished = false;
    let started = false;
    const sub = await subscribeFindings({
      connection: nc,
      durable: 'graceful',
      handler: async () => {
        started = true;
        await new Promise((r) => setTimeout(r, 300));
        finished = true;
      },
    });
    await waitFor(() => started, 10_000, 'handler start');
    await sub.stop();
    expect(finished).toBe(true);
    await waitFor(async () => (await (await jetstreamManager(nc)).consumers.info(FINDINGS_STREAM, 'graceful')).num_ack_pending === 0, 5_000, 'ack');
  });

  it('tailFindings streams new findings without leaving a durable', async () => {
    const seen: FindingEnvelope[] = [];
    const tail = await tailFindings({ connection: nc, namespaces: ['shop'], onFinding: (e) => void seen.push(e) });
    await publishAll([makeFinding('tail-1'), makeFinding('tail-2', { resource_scope: { cluster: 'edge', namespace: 'x' } })]);
    await waitFor(() => seen.length === 1, 10_000, 'tail');
    await tail.stop();
    expect(seen[0]?.id).toBe('fid-tail-1');
  });
});
