import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { LokiSink } from '../../src/sinks/loki/sink.ts';
import { SourceAcks } from '../../src/delivery/acks.ts';

// A throwaway self-signed certificate for 127.0.0.1 (openssl is part of the base image).
let dir: string;
let server: https.Server;
let url: string;
let pushes = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rsd-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  server = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => {
    req.resume();
    req.on('end', () => {
      pushes++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function pushOnce(opts: ConstructorParameters<typeof LokiSink>[0]): Promise<boolean> {
  const sink = new LokiSink({ batchWaitMs: 5, minBackoffMs: 10, maxBackoffMs: 20, ...opts });
  let ok = false;
  const ack = new SourceAcks('tls-test', () => {
    ok = true;
  });
  const rec: LogRecord = {
    ts: '2026-11-22T01:02:03.5Z', tsMs: 0, line: 'tls line', stream: 'stdout', kind: 'pod', level: 'info',
    target: { cluster: 'c', namespace: 'n' }, ack,
  };
  sink.write([rec]);
  await sink.flush(600);
  await sink.close(100);
  return ok;
}

describe('LokiSink TLS options', () => {
  it('trusts a private CA given by caFile', async () => {
    expect(await pushOnce({ url, name: 'tls-ca', tls: { caFile: path.join(dir, 'cert.pem') } })).toBe(true);
  });

  it('refuses an unknown certificate by default (and keeps the batch for retry)', async () => {
    const before = pushes;
    expect(await pushOnce({ url, name: 'tls-default' })).toBe(false);
    expect(pushes).toBe(before);
    const errors = (await metrics.sinkRequests.get()).values.find((v) => v.labels.sink === 'tls-default' && v.labels.status === 'error');
    expect(errors?.value ?? 0).toBeGreaterThan(0);
  });

  it('connects with insecureSkipVerify (and says so)', async () => {
    expect(await pushOnce({ url, name: 'tls-insecure', tls: { insecureSkipVerify: true } })).toBe(true);
  });
});
