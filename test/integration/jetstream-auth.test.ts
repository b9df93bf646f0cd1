import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { nkeys } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, describeOptions, natsOptionsFromFlags, redactUrl, type NatsConnectOptions } from '../../src/nats/connection.ts';
import { applyLayout, FINDINGS_STREAM } from '../../src/nats/streams.ts';
import { JetStreamFindingSink } from '../../src/sinks/jetstream.ts';
import { natsUnavailableSkip, startNats } from '../env/nats.ts';
import { makeFinding } from './jetstream-fixtures.ts';

/** Connect, provision, publish one finding and read the stream's message count. */
async function roundTrip(o: NatsConnectOptions): Promise<number> {
  const nc = await connectNats({ ...o, waitOnFirstConnect: false, timeoutMs: 3_000 });
  try {
    await applyLayout(nc, { kv: null });
    const sink = new JetStreamFindingSink({ connection: nc });
    sink.publish(makeFinding('auth-1'));
    await sink.close(5_000);
    return (await (await jetstreamManager(nc)).streams.info(FINDINGS_STREAM)).state.messages;
  } finally {
    await nc.close();
  }
}

describe('connection options (no server)', () => {
  it('redacts credentials from URLs and logged options', () => {
    expect(redactUrl('nats://alice:pw@nats:4222')).toBe('nats://***@nats:4222');
    expect(redactUrl('tls://tok@nats:4222')).toBe('tls://***@nats:4222');
    expect(redactUrl('nats://nats:4222')).toBe('nats://nats:4222');
    const d = describeOptions({ servers: ['nats://u:p@h:1'], user: 'u', pass: 'p' });
    expect(JSON.stringify(d)).not.toContain(':p@');
    expect(d.auth).toBe('user');
  });

  it('reads flags before environment variables', () => {
    const o = natsOptionsFromFlags({ server: ['nats://a:1,nats://b:2'], user: 'flag-user' }, { NATS_URL: 'nats://env:3', NATS_USER: 'env-user', NATS_PASSWORD: 'pw', NATS_CREDS: '/c.creds', NATS_CA: '/ca.pem' });
    expect(o.servers).toEqual(['nats://a:1', 'nats://b:2']);
    expect(o.user).toBe('flag-user');
    expect(o.pass).toBe('pw');
    expect(o.credsFile).toBe('/c.creds');
    expect(o.tls).toEqual({ caFile: '/ca.pem' });
  });
});

describe.skipIf(natsUnavailableSkip())('auth and TLS against real nats-servers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-nats-auth-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('user/password', async () => {
    const s = await startNats({ user: 'detector', pass: 'pw-123' });
    try {
      expect(await roundTrip({ servers: s.url, user: 'detector', pass: 'pw-123' })).toBe(1);
      await expect(roundTrip({ servers: s.url, user: 'detector', pass: 'wrong' })).rejects.toThrow(/author/i);
    } finally {
      await s.stop();
    }
  });

  it('NKey seed file', async () => {
    const user = nkeys.createUser();
    const seedFile = join(dir, 'user.nk');
    await writeFile(seedFile, new TextDecoder().decode(user.getSeed()), { mode: 0o600 });
    const conf = join(dir, 'nkey.conf');
    await writeFile(conf, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    const s = await startNats({ args: ['-c', conf] });
    try {
      expect(await roundTrip({ servers: s.url, nkeySeedFile: seedFile })).toBe(1);
      const other = nkeys.createUser();
      await expect(roundTrip({ servers: s.url, nkeySeed: new TextDecoder().decode(other.getSeed()) })).rejects.toThrow(/author/i);
    } finally {
      await s.stop();
    }
  });

  it('TLS with a private CA', async () => {
    const ca = join(dir, 'ca');
    const srv = join(dir, 'server');
    const ossl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=rsd-test-ca', '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `${srv}.key`, '-out', `${srv}.csr`);
    await writeFile(`${srv}.ext`, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ossl('x509', '-req', '-in', `${srv}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${srv}.ext`, '-out', `${srv}.pem`);
    const s = await startNats({ args: ['--tls', '--tlscert', `${srv}.pem`, '--tlskey', `${srv}.key`] });
    try {
      expect(await roundTrip({ servers: s.url, tls: { caFile: `${ca}.pem` } })).toBe(1);
      // Without our CA the server's certificate is not trusted (the client upgrades because the server requires TLS).
      await expect(roundTrip({ servers: s.url, tls: {} })).rejects.toThrow();
      await expect(roundTrip({ servers: s.url, tls: { required: true } })).rejects.toThrow();
      // An empty tls object (the config default) must not force TLS on a plain server.
      const plain = await startNats();
      try {
        expect(await roundTrip({ servers: plain.url, tls: {} })).toBe(1);
      } finally {
        await plain.stop();
      }
    } finally {
      await s.stop();
    }
  });
});
