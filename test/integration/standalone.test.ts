/**
 * A host without Kubernetes, as users run it: `run` with a `services:` section (no kubernetes key),
 * a real log file and a real journal (made by systemd-journal-remote, read through journalctl),
 * the Loki sink into VictoriaLogs and findings on a real nats-server. Findings are scoped to
 * host/service; their LogQL selects the host and service labels; every line is stored once. The
 * same process serves evidence bundles in standalone mode: Robot SRE's SDK fetches each finding's
 * bundle (the file's last lines, the journal unit's window through the real journalctl) and finds the
 * evidence in it; a token scoped to one service gets 403 for the other.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleFetchError, fetchBundle, tailFindings, type BundleLogRecord, type BundleRecord, type Finding, type Tail } from '../../src/consumer/index.ts';
import { connectNats } from '../../src/nats/connection.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { shouldSkip } from '../env/binaries.ts';
import { appendJournal, requireTools } from '../env/system-tools.ts';
import { startNats, type NatsServerHandle } from '../env/nats.ts';
import { freePort } from '../env/ports.ts';
import { managedProcess, type ManagedProcess } from '../env/process.ts';
import { queryLogs, startVictoriaLogs, type VictoriaLogsHandle } from '../env/victorialogs.ts';

const repo = new URL('../..', import.meta.url).pathname;
const skip = shouldSkip('standalone (real VictoriaLogs, NATS)', ['victoria-logs', 'nats-server']);
const { journalctl: JOURNALCTL } = skip ? { journalctl: '' } : requireTools('standalone', 'journalRemote', 'journalctl');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECRET_ENV = 'RSD_STANDALONE_BUNDLES_SECRET';
const SECRET = `standalone-${randomUUID()}-${randomUUID()}`;
const token = (claims: Record<string, unknown>): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('robot-sre').setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Journal entries of a unit in the export format systemd-journal-remote reads. */
function entries(unit: string, messages: string[]): Buffer {
  const t0 = BigInt(Date.now()) * 1000n;
  return Buffer.from(
    messages
      .map((m, i) => `__REALTIME_TIMESTAMP=${t0 + BigInt(i) * 1000n}\n__MONOTONIC_TIMESTAMP=${1_000_000 + i}\n_BOOT_ID=4a5b6c7d8e9f40112233445566778899\nPRIORITY=${m.startsWith('PANIC') ? 2 : 6}\n_SYSTEMD_UNIT=${unit}\nSYSLOG_IDENTIFIER=postgres\n_HOSTNAME=db-1\nMESSAGE=${m}\n\n`)
      .join(''),
  );
}


describe.skipIf(skip)('standalone host: services with files and journald, no Kubernetes', () => {
  let dir = '';
  let store: VictoriaLogsHandle;
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let tail: Tail;
  let detector: ManagedProcess;
  const findings: Finding[] = [];
  let bundleUrl = '';
  const appLines = Array.from({ length: 3 }, (_, i) => `ERROR payment call failed: dial tcp 10.0.0.5:5432: connect: connection refused (attempt ${i})`);
  const pgLines = ['PANIC:  could not write to file "pg_wal/xlogtemp.1234": No space left on device', 'LOG:  database system is shut down'];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-standalone-'));
    [store, nats] = await Promise.all([startVictoriaLogs(), startNats()]);
    await mkdir(join(dir, 'app'));
    await mkdir(join(dir, 'journal'));
    await writeFile(join(dir, 'app', 'shop.log'), '');
    await appendJournal(join(dir, 'journal'), entries('postgresql.service', ['LOG:  database system is ready to accept connections']));
    const port = await freePort();
    const bundlePort = await freePort();
    bundleUrl = `http://127.0.0.1:${bundlePort}`;
    const config = join(dir, 'config.yaml');
    await writeFile(config, [
      'cluster: standalone-it',
      `loki: { url: "${store.lokiUrl}" }`,
      `nats: { servers: ["${nats.url}"] }`,
      `state: { store: file, dir: "${join(dir, 'state')}" }`,
      `server: { host: 127.0.0.1, port: ${port} }`,
      'services:',
      '  host: db-1',
      `  journalDirectory: ${join(dir, 'journal')}`,
      `  journalctl: ${JOURNALCTL}`,
      '  list:',
      `    - { name: shop, files: ["${join(dir, 'app')}/*.log"], readFrom: start }`,
      '    - { name: postgres, units: [postgresql.service], readFrom: start }',
      `bundles: { enabled: true, host: 127.0.0.1, port: ${bundlePort}, jwtSecretEnv: ${SECRET_ENV}, dir: "${join(dir, 'bundles')}" }`,
      '',
    ].join('\n'));
    nc = await connectNats({ servers: nats.url });
    detector = managedProcess({
      name: 'rsd-standalone',
      command: process.execPath,
      args: [join(repo, 'src/cli.ts'), 'run', '-c', config],
      logFile: join(dir, 'detector.log'),
      cwd: repo,
      env: { ...process.env, [SECRET_ENV]: SECRET },
      ready: { url: `http://127.0.0.1:${port}/readyz` },
      readyTimeoutMs: 60_000,
    });
    await detector.start();
    tail = await tailFindings({ connection: nc, from: 'all', onFinding: (e) => findings.push(e.data) });
  });

  afterAll(async () => {
    await detector?.stop();
    await tail?.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await Promise.allSettled([store?.stop(), nats?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('findings from a service’s file and from a service’s journal unit, scoped to host/service, with LogQL on the host and service labels', async () => {
    await appendFile(join(dir, 'app', 'shop.log'), appLines.map((l) => `${l}\n`).join(''));
    await appendJournal(join(dir, 'journal'), entries('postgresql.service', pgLines));
    await until('a finding of each service', () => ['shop', 'postgres'].every((w) => findings.some((f) => f.resource_scope.workload === w)), 45_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; got ${JSON.stringify(findings.map((f) => [f.incident_type, f.resource_scope]))}\n${detector.tail(3000)}`);
    });
    const shop = findings.find((f) => f.resource_scope.workload === 'shop')!;
    const pg = findings.find((f) => f.resource_scope.workload === 'postgres')!;
    expect(shop).toMatchObject({ incident_type: 'db_connection_error', resource_scope: { cluster: 'standalone-it', namespace: 'db-1', workload: 'shop', node: 'db-1' } });
    expect(pg).toMatchObject({ incident_type: 'disk_pressure', resource_scope: { namespace: 'db-1', workload: 'postgres' } });
    for (const f of [shop, pg]) {
      expect(f.evidence.loki.query).toContain('namespace="db-1"');
      expect(f.evidence.loki.query).toContain(`service_name="${f.resource_scope.workload}"`);
    }
    expect(pg.evidence.loki.query).toContain('source="journal"');
  }, 90_000);

  it('every line of both services is in the store once, under the host and service labels', async () => {
    const byService = async (svc: string) => (await queryLogs(store.url, `{namespace="db-1", service_name="${svc}"}`, { limit: 1000 })).map((e) => e.line);
    await until('all lines stored', async () => (await byService('shop')).length >= appLines.length && (await byService('postgres')).length >= pgLines.length + 1);
    expect(await byService('shop')).toEqual(appLines);
    expect(await byService('postgres')).toEqual(['LOG:  database system is ready to accept connections', ...pgLines]);
  }, 60_000);

  it('each finding’s bundle request, fetched with the SDK, holds its evidence (file tail, journal window); a token for one service gets 403 for the other', async () => {
    await until('a finding of each service', () => ['shop', 'postgres'].every((w) => findings.some((f) => f.resource_scope.workload === w && f.status === 'observed')), 45_000);
    const all = await token({ allowedServices: ['shop', 'postgres'], capabilities: ['logs', 'metrics'] });
    for (const workload of ['shop', 'postgres']) {
      const f = findings.find((x) => x.resource_scope.workload === workload && x.status === 'observed')!;
      const req = f.evidence.bundle!;
      expect(req.target).toEqual({ kind: 'services', services: [workload] });
      // The window is sent only with a journal among the sources (files are read by their last lines).
      if (workload === 'postgres') expect(req.timeWindow).toEqual({ start: expect.stringMatching(/Z$/), end: expect.stringMatching(/Z$/) });
      else expect(req.timeWindow).toBeUndefined();
      const records: BundleRecord[] = [];
      const bundle = await fetchBundle(f, all, { url: bundleUrl, pollIntervalMs: 200, timeoutMs: 30_000 });
      for await (const r of bundle.records) records.push(r);
      expect(records[0]).toMatchObject({ type: 'meta', mode: 'standalone', host: 'db-1', services: [workload] });
      const logs = records.filter((r): r is BundleLogRecord => r.type === 'log' && !r.skipped);
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.every((l) => l.service === workload)).toBe(true);
      if (workload === 'postgres') expect(logs.every((l) => l.journal === 'postgresql.service')).toBe(true);
      const lines = new Set(logs.map((l) => l.line));
      for (const ev of f.evidence.lines) expect(lines.has(ev.line), `${workload}: evidence line "${ev.line}" in the bundle; got ${[...lines].join(' | ')}`).toBe(true);
      expect(records.some((r) => r.type === 'log_summary')).toBe(true);
    }
    // Scope: a token for shop only is refused the postgres finding's bundle, and sees only shop in discovery.
    const shopOnly = await token({ allowedServices: ['shop'], capabilities: ['logs'] });
    const pg = findings.find((x) => x.resource_scope.workload === 'postgres')!;
    const refused = await fetchBundle(pg, shopOnly, { url: bundleUrl, timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BundleFetchError);
    expect((refused as BundleFetchError).status).toBe(403);
    const services = await fetch(`${bundleUrl}/v1/services`, { headers: { authorization: `Bearer ${shopOnly}` } });
    expect(services.status).toBe(200);
    expect(JSON.stringify(await services.json())).not.toContain('postgres');
  }, 90_000);
});
