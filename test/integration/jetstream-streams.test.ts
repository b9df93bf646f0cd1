import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/nats/connection.ts';
import { applyLayout, DEFAULT_STATE_BUCKET, DEFAULT_STREAMS, FINDINGS_STREAM, STATE_BUCKET } from '../../src/nats/streams.ts';
import { JetStreamKvStore } from '../../src/state/kv-store.ts';
import { stateKey } from '../../src/state/store.ts';
import { natsUnavailableSkip, startNats, type NatsServerHandle } from '../env/nats.ts';

describe.skipIf(natsUnavailableSkip())('streams apply and the KV state store', () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNats();
    nc = await connectNats({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  const actions = (rs: Array<{ name: string; action: string }>) => Object.fromEntries(rs.map((r) => [r.name, r.action]));

  it('dry-run changes nothing; apply creates; apply twice changes nothing', async () => {
    const names = [...DEFAULT_STREAMS.map((s) => s.name), STATE_BUCKET];
    const dry = await applyLayout(nc, { dryRun: true });
    expect(actions(dry)).toEqual(Object.fromEntries(names.map((n) => [n, 'would-create'])));
    const jsm = await jetstreamManager(nc);
    await expect(jsm.streams.info(FINDINGS_STREAM)).rejects.toThrow();

    expect(actions(await applyLayout(nc))).toEqual(Object.fromEntries(names.map((n) => [n, 'created'])));
    const before = await jsm.streams.info(FINDINGS_STREAM);
    expect(before.config.subjects).toEqual(['ops.findings.>']);
    expect(before.config.retention).toBe('limits');
    expect(before.config.duplicate_window).toBe(10 * 60 * 1e9);
    expect(before.config.max_age).toBe(3 * 24 * 3600 * 1e9);

    const again = await applyLayout(nc);
    expect(actions(again)).toEqual(Object.fromEntries(names.map((n) => [n, 'unchanged'])));
    expect(again.every((r) => r.changes.length === 0)).toBe(true);
    const after = await jsm.streams.info(FINDINGS_STREAM);
    expect(after.created).toBe(before.created);
    expect(after.config).toEqual(before.config);
  });

  it('updates only differing fields, keeps the data, and refuses to shrink limits unless allowed', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.update(FINDINGS_STREAM, { max_bytes: 1024 * 1024, description: 'hand-edited' });
    const js = (await import('@nats-io/jetstream')).jetstream(nc);
    await js.publish('ops.findings.observed.shop.x', '{}', { msgID: 'keep-me' });
    const res = await applyLayout(nc);
    const findings = res.find((r) => r.name === FINDINGS_STREAM);
    expect(findings?.action).toBe('updated');
    expect(findings?.changes.map((c) => c.field).sort()).toEqual(['description', 'max_bytes']);
    expect(actions(res)['OPS_INCIDENTS']).toBe('unchanged');
    expect((await jsm.streams.info(FINDINGS_STREAM)).state.messages).toBe(1);

    const shorter = DEFAULT_STREAMS.map((s) => (s.name === FINDINGS_STREAM ? { ...s, maxAgeMs: 20 * 60_000 } : s));
    const blocked = await applyLayout(nc, { streams: shorter, kv: null });
    expect(blocked.find((r) => r.name === FINDINGS_STREAM)).toMatchObject({ action: 'blocked' });
    expect((await jsm.streams.info(FINDINGS_STREAM)).config.max_age).toBe(3 * 24 * 3600 * 1e9);
    const allowed = await applyLayout(nc, { streams: shorter, kv: null, allowShrink: true });
    expect(allowed.find((r) => r.name === FINDINGS_STREAM)).toMatchObject({ action: 'updated' });
    expect((await jsm.streams.info(FINDINGS_STREAM)).config.max_age).toBe(20 * 60_000 * 1e6);
    // Back to the default layout for the next test.
    await applyLayout(nc, { allowShrink: true });
  });

  it('KV state store round trip: put, get, overwrite, delete, missing key', async () => {
    const store = await JetStreamKvStore.open(nc, { create: false });
    expect(store.kind).toBe('jetstream-kv');
    const key = stateKey('cursor', 'containerd://abc.def', 'api');
    expect(await store.get(key)).toBeNull();
    await store.put(key, new TextEncoder().encode('v1'));
    await store.put(key, new TextEncoder().encode('v2'));
    expect(new TextDecoder().decode((await store.get(key)) ?? new Uint8Array())).toBe('v2');
    const big = new Uint8Array(200_000).map((_, i) => i % 251);
    await store.put(stateKey('miner', 'snapshot'), big);
    expect(Buffer.from((await store.get(stateKey('miner', 'snapshot'))) ?? []).equals(big)).toBe(true);
    await store.delete(key);
    expect(await store.get(key)).toBeNull();
    // A second store (another replica) sees the same state.
    const other = await JetStreamKvStore.open(nc, { create: false });
    expect(Buffer.from((await other.get(stateKey('miner', 'snapshot'))) ?? []).equals(big)).toBe(true);
    await store.close();
    await other.close();
    expect(nc.isClosed()).toBe(false); // the stores did not own the connection
    const status = await (await jetstreamManager(nc)).streams.info(`KV_${STATE_BUCKET}`);
    expect(status.config.max_bytes).toBe(DEFAULT_STATE_BUCKET.maxBytes);
  });

  it('KV state store: values beyond the 1 MiB NATS payload are chunked, replaced and deleted cleanly', async () => {
    const store = await JetStreamKvStore.open(nc, { create: false });
    const kv = await new Kvm(nc).open(STATE_BUCKET);
    const chunkKeys = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const k of await kv.keys('_chunks.>')) out.push(k);
      return out;
    };
    const big = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 7) % 256);
    const key = stateKey('miner', 'big');
    await store.put(key, big);
    expect(Buffer.from((await store.get(key)) ?? []).equals(big)).toBe(true);
    expect((await chunkKeys()).length).toBe(13); // 3 MiB + 7 B in 256 KiB chunks
    // Another replica reads the same value.
    const other = await JetStreamKvStore.open(nc, { create: false });
    expect(Buffer.from((await other.get(key)) ?? []).equals(big)).toBe(true);
    // Replacing it (even from the other replica) leaves only the new generation's chunks.
    const bigger = new Uint8Array(600 * 1024).fill(9);
    await other.put(key, bigger);
    expect(Buffer.from((await store.get(key)) ?? []).equals(bigger)).toBe(true);
    expect((await chunkKeys()).length).toBe(3);
    await other.put(key, new Uint8Array([1, 2, 3]));
    expect(await store.get(key)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await chunkKeys()).toEqual([]);
    await store.put(key, big);
    await store.delete(key);
    expect(await store.get(key)).toBeNull();
    expect(await chunkKeys()).toEqual([]);
  });

  it('opening a missing bucket without create fails clearly', async () => {
    await expect(JetStreamKvStore.open(nc, { bucket: 'nope_missing', create: false })).rejects.toThrow();
  });
});
