/**
 * Standalone mode of the bundle server, its parts against real files and sockets: the request rules
 * (each a status and the field named), the bounded merge (budget keeps the newest, untimed lines rank
 * with their source's previous timestamp or first in read order), include/exclude before the budget,
 * the log_summary counts, the file skip reasons, the metrics states against a local HTTP server, and a
 * 200 MB file tailed with bounded memory. The `bundles:` mode rule and the kubernetes: connection reuse
 * are read through parseConfig as `run` does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFile, mkdir, mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { bundleConnection, bundleMode, resolveMode } from '../../src/servers/bundles/component.ts';
import type { BundleRecord } from '../../src/servers/bundles/collect.ts';
import { neededStandaloneCapabilities, parseStandaloneRequest, RequestError, resolveStandaloneTarget, type ServerLimits, type ServiceRef } from '../../src/servers/bundles/request.ts';
import { collectStandalone, journalArgs, lineTimestamp, NewestLines, type StandaloneConfig, type StandaloneService, tailFile } from '../../src/servers/bundles/standalone.ts';

const LIMITS: ServerLimits = { maxPods: 20, maxMetricsPods: 20, maxTotalLogLines: 50_000, maxSinceSeconds: 3600, metricsTimeoutMs: 2000, maxMetricsTimeoutMs: 10_000 };

function refusal(fn: () => unknown): { status: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof RequestError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('not refused');
}
const parse = (body: unknown) => parseStandaloneRequest(body, LIMITS);
const refused = (body: unknown) => refusal(() => parse(body));

describe('standalone bundle request', () => {
  const SERVICES: ServiceRef[] = [
    { name: 'postgres', hasJournal: true },
    { name: 'api', hasJournal: false },
    { name: 'api-worker', hasJournal: false },
  ];
  const all = () => true;

  it('defaults: services target, logs and metrics on, no window, tailLines 2000', () => {
    const p = parse({ target: { services: ['api'] } });
    expect(p).toEqual({
      timeWindow: null,
      target: { kind: 'services', services: ['api'] },
      include: { logs: { enabled: true, tailLines: 2000, includePatterns: [], excludePatterns: [] }, metrics: { enabled: true } },
      limits: { maxTotalLogLines: 50_000, metricsTimeoutMs: 2000 },
    });
    expect(neededStandaloneCapabilities(p)).toEqual(['logs', 'metrics']);
    expect(parse({ target: { kind: 'all' }, include: { logs: { enabled: false } } }).target).toEqual({ kind: 'all' });
    expect(neededStandaloneCapabilities(parse({ target: { kind: 'all' }, include: { logs: { enabled: false } } }))).toEqual(['metrics']);
  });

  it('events, previous and timestamps are ignored; includePatterns is read', () => {
    const p = parse({ target: { kind: 'services', services: ['api'] }, include: { events: { enabled: true }, logs: { previous: true, timestamps: false, includePatterns: ['ERROR'], excludePatterns: ['healthz'] } } });
    expect(p.include).toEqual({ logs: { enabled: true, tailLines: 2000, includePatterns: ['ERROR'], excludePatterns: ['healthz'] }, metrics: { enabled: true } });
    expect('events' in p.include).toBe(false);
  });

  it('refuses each wrong shape with 400 naming the field', () => {
    expect(refused({})).toEqual({ status: 400, message: expect.stringMatching(/^target: required/) });
    expect(refused({ target: {} }).message).toMatch(/^target: give services/);
    expect(refused({ target: { kind: 'pods' } }).message).toMatch(/^target\.kind: this server runs in standalone mode/);
    expect(refused({ target: { namespace: 'shop', selector: 'app=web' } }).message).toMatch(/^target\.namespace: this server runs in standalone mode/);
    expect(refused({ target: { pods: [{ namespace: 'a', pod: 'b' }] } }).message).toMatch(/^target\.pods: /);
    expect(refused({ target: { kind: 'services' } }).message).toMatch(/^target\.services: required/);
    expect(refused({ target: { kind: 'services', services: [] } }).message).toMatch(/^target\.services: required/);
    expect(refused({ target: { kind: 'all', services: ['api'] } }).message).toMatch(/^target\.services: not used with kind "all"/);
    expect(refused({ target: { services: ['api', 'api'] } }).message).toBe('target.services[1]: duplicate');
    expect(refused({ target: { services: [7] } }).message).toMatch(/^target\.services\[0\]: must be a service name/);
    expect(refused({ target: { services: ['API'] } }).message).toMatch(/^target\.services\[0\]: must be a configured service name \(lower case/);
    expect(refused({ target: { services: ['api'], file: '/etc/shadow' } }).message).toMatch(/^target\.file: unknown field/);
    expect(refused({ target: { services: ['api'] }, include: { logs: { containers: ['x'] } } }).message).toMatch(/^include\.logs\.containers: not used in standalone mode/);
    expect(refused({ target: { services: ['api'] }, include: { logs: { file: '/etc/passwd' } } }).message).toMatch(/^include\.logs\.file: unknown field/);
    expect(refused({ target: { services: ['api'] }, include: { logs: { unit: 'sshd.service' } } }).message).toMatch(/^include\.logs\.unit: unknown field/);
    expect(refused({ target: { services: ['api'] }, include: { logs: { previous: 'yes' } } }).message).toBe('include.logs.previous: must be true or false');
    expect(refused({ target: { services: ['api'] }, include: { logs: { includePatterns: [''] } } }).message).toMatch(/^include\.logs\.includePatterns: /);
    expect(refused({ target: { services: ['api'] }, include: { logs: { includePatterns: 'ERROR' } } }).message).toMatch(/^include\.logs\.includePatterns: /);
    expect(refused({ target: { services: ['api'] }, include: { logs: { enabled: false }, metrics: { enabled: false }, events: { enabled: true } } }).message).toMatch(/^include: nothing to collect/);
    expect(refused({ target: { services: ['api'] }, limits: { maxPods: 3 } }).message).toMatch(/^limits\.maxPods: not used in standalone mode/);
    expect(refused({ target: { services: ['api'] }, limits: { maxTotalLogLines: 50_001 } }).message).toBe('limits.maxTotalLogLines: must be ≤ 50000');
    expect(refused({ target: { services: ['api'] }, include: { logs: { tailLines: 101 } }, limits: { maxTotalLogLines: 100 } }).message).toBe('include.logs.tailLines: must be ≤ 100');
    expect(refused([]).message).toBe('(body): must be a JSON object');
  });

  it('path-like names are refused as paths', () => {
    for (const name of ['../etc/passwd', '/var/log/syslog', 'a/b', '..', '.hidden', 'a..b', 'c:\\x', 'x\0y']) {
      expect(refused({ target: { services: [name] } })).toEqual({ status: 400, message: 'target.services[0]: must be a configured service name, not a path' });
    }
  });

  it('time window: one form only, sinceSeconds ≤ max, absolute UTC', () => {
    expect(parse({ target: { services: ['postgres'] }, timeWindow: { sinceSeconds: 60 } }).timeWindow).toEqual({ kind: 'relative', sinceSeconds: 60 });
    expect(refused({ target: { services: ['postgres'] }, timeWindow: { sinceSeconds: 60, start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:01:00Z' } }).message).toBe('timeWindow: use either sinceSeconds or start/end, not both');
    expect(refused({ target: { services: ['postgres'] }, timeWindow: { sinceSeconds: 3601 } }).message).toBe('timeWindow.sinceSeconds: must be ≤ 3600');
    expect(refused({ target: { services: ['postgres'] }, timeWindow: { sinceSeconds: 0 } }).message).toBe('timeWindow.sinceSeconds: must be ≥ 1');
    expect(refused({ target: { services: ['postgres'] }, timeWindow: {} }).message).toMatch(/^timeWindow: give sinceSeconds or start and end/);
    expect(refused({ target: { services: ['postgres'] }, timeWindow: { start: '2026-01-01T00:00:00Z' } }).message).toMatch(/^timeWindow: start and end are both required/);
    expect(refused({ target: { services: ['postgres'] }, timeWindow: { start: '2026-01-01T00:00:00+01:00', end: '2026-01-01T00:01:00Z' } }).message).toBe('timeWindow.start: must be UTC ISO 8601 ending in Z');
    expect(refused({ target: { services: ['postgres'] }, timeWindow: { start: '2026-01-01T00:00:00Z', end: '2026-01-01T02:00:00Z' } }).message).toBe('timeWindow: spans more than 3600 s');
    const abs = parse({ target: { services: ['postgres'] }, timeWindow: { start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:10:00Z' } }).timeWindow;
    expect(abs).toMatchObject({ kind: 'absolute', startMs: Date.parse('2026-01-01T00:00:00Z'), endMs: Date.parse('2026-01-01T00:10:00Z') });
  });

  it('scope first (403, existence not told), then unknown names (400), then the window needs a journal (400)', () => {
    const onlyApi = (s: string) => s === 'api';
    // Out of scope: 403 whether the service exists or not.
    expect(refusal(() => resolveStandaloneTarget(parse({ target: { services: ['postgres'] } }), SERVICES, onlyApi))).toEqual({ status: 403, message: 'target.services: the token does not permit that service' });
    expect(refusal(() => resolveStandaloneTarget(parse({ target: { services: ['nope'] } }), SERVICES, onlyApi)).status).toBe(403);
    expect(refusal(() => resolveStandaloneTarget(parse({ target: { services: ['api', 'nope'] } }), SERVICES, all))).toEqual({ status: 400, message: 'target.services[1]: no such service: "nope" (GET /v1/services lists them)' });
    expect(resolveStandaloneTarget(parse({ target: { services: ['api-worker', 'postgres'] } }), SERVICES, all).map((s) => s.name)).toEqual(['postgres', 'api-worker']);
    // kind all: the configured services in scope; none → 403.
    expect(resolveStandaloneTarget(parse({ target: { kind: 'all' } }), SERVICES, (s) => s.startsWith('api')).map((s) => s.name)).toEqual(['api', 'api-worker']);
    expect(refusal(() => resolveStandaloneTarget(parse({ target: { kind: 'all' } }), SERVICES, () => false))).toEqual({ status: 403, message: 'target: the token permits none of the configured services' });
    // A window with logs enabled needs a journal among the selected services.
    const tw = { sinceSeconds: 60 };
    expect(refusal(() => resolveStandaloneTarget(parse({ target: { services: ['api'] }, timeWindow: tw }), SERVICES, all))).toEqual({ status: 400, message: expect.stringMatching(/^timeWindow: applies to journal sources only/) });
    expect(resolveStandaloneTarget(parse({ target: { services: ['api', 'postgres'] }, timeWindow: tw }), SERVICES, all)).toHaveLength(2);
    expect(resolveStandaloneTarget(parse({ target: { services: ['api'] }, timeWindow: tw, include: { logs: { enabled: false } } }), SERVICES, all)).toHaveLength(1);
  });
});

describe('line timestamps, journal arguments', () => {
  it('reads RFC 3339 at the start of a line (with [ ]), zone-less as local time; else untimed', () => {
    expect(lineTimestamp('2026-02-09T00:00:01.123Z GET /')).toBe(Date.parse('2026-02-09T00:00:01.123Z'));
    expect(lineTimestamp('[2026-02-09 00:00:01,5+01:00] x')).toBe(Date.parse('2026-02-08T23:00:01.500Z'));
    expect(lineTimestamp('2026-02-09 00:00:01 local')).toBe(new Date(2026, 1, 9, 0, 0, 1).getTime());
    expect(lineTimestamp('    at Foo.bar (x.js:1)')).toBeNull();
    expect(lineTimestamp('2026-02-09T00:00:01Zjunk')).toBeNull();
    expect(lineTimestamp('')).toBeNull();
  });

  it('journalctl: --lines without a window, --since/--until with one, --directory when set', () => {
    expect(journalArgs('pg.service', { lines: 50 })).toEqual(['--output=json', '--no-pager', '--unit=pg.service', '--lines=50']);
    expect(journalArgs('pg.service', { directory: '/j', lines: 50, sinceMs: 1_500, untilMs: 2_500 })).toEqual(['--output=json', '--no-pager', '--unit=pg.service', '--directory=/j', '--since=@1', '--until=@3']);
  });
});

describe('the bounded merge', () => {
  const item = (rank: number, seq: number, line = `l${seq}`) => ({ rank, seq, source: 0, ms: Number.isFinite(rank) ? rank : null, line });

  it('keeps the newest `capacity` by timestamp then read order, oldest first; untimed (-∞) rank first and go first', () => {
    const h = new NewestLines(3);
    for (const x of [item(50, 0), item(-Infinity, 1), item(10, 2), item(50, 3), item(30, 4), item(-Infinity, 5)]) h.push(x);
    expect(h.offered).toBe(6);
    expect(h.drain().map((x) => x.seq)).toEqual([4, 0, 3]);
    const big = new NewestLines(10);
    for (const x of [item(-Infinity, 0), item(5, 1), item(-Infinity, 2)]) big.push(x);
    expect(big.drain().map((x) => x.seq)).toEqual([0, 2, 1]);
  });

  it('random input: the same as sorting everything and keeping the last N', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const all = Array.from({ length: 5000 }, (_, i) => item(rnd() < 0.1 ? -Infinity : Math.floor(rnd() * 1000), i));
    const h = new NewestLines(777);
    for (const x of all) h.push(x);
    const want = [...all].sort((a, b) => (a.rank !== b.rank ? (a.rank < b.rank ? -1 : 1) : a.seq - b.seq)).slice(-777);
    expect(h.drain().map((x) => x.seq)).toEqual(want.map((x) => x.seq));
  });
});

describe('tailing a file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-bundles-tail-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const tail = async (path: string, n: number, max = 1024) => {
    const out: string[] = [];
    await tailFile(path, n, max, (l) => out.push(l));
    return out;
  };

  it('the last n lines, oldest first: trailing newline, no trailing newline, CRLF, empty lines, fewer lines than n, an empty file', async () => {
    const f = join(dir, 'a.log');
    await writeFile(f, 'one\ntwo\n\nfour\r\nfive\n');
    expect(await tail(f, 2)).toEqual(['four', 'five']);
    expect(await tail(f, 3)).toEqual(['', 'four', 'five']);
    expect(await tail(f, 100)).toEqual(['one', 'two', '', 'four', 'five']);
    await appendFile(f, 'six (being written)');
    expect(await tail(f, 2)).toEqual(['five', 'six (being written)']);
    await writeFile(f, '');
    expect(await tail(f, 5)).toEqual([]);
  });

  it('lines across chunk boundaries, and a long line cut at maxLineBytes', async () => {
    const f = join(dir, 'b.log');
    const lines = Array.from({ length: 30_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    await writeFile(f, `${lines.join('\n')}\n`);
    expect(await tail(f, 25_000)).toEqual(lines.slice(-25_000));
    await writeFile(f, `short\n${'é'.repeat(5000)}\nend\n`);
    const got = await tail(f, 3, 101);
    expect(got[0]).toBe('short');
    expect(got[1]).toBe(`${'é'.repeat(50)}…[truncated]`);
    expect(got[2]).toBe('end');
  });

  it('a 200 MB file (a 200 MB line, then 100,000 lines) is tailed with bounded memory', async () => {
    const f = join(dir, 'huge.log');
    await writeFile(f, '');
    await truncate(f, 200 * 1024 * 1024); // sparse: 200 MB of NUL bytes, no newline
    const fh = await open(f, 'a');
    const tailLines = Array.from({ length: 100_000 }, (_, i) => `2026-02-09T00:00:00.${String(i % 1000).padStart(3, '0')}Z request ${i} done`);
    await fh.write(`\n${tailLines.join('\n')}\n`);
    await fh.close();
    globalThis.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const last = await tail(f, 1000);
      expect(last).toEqual(tailLines.slice(-1000));
      // One more line than the file's short ones: the 200 MB NUL line, read in chunks and cut at 1 KiB.
      let first: string | undefined;
      let n = 0;
      await tailFile(f, 100_001, 1024, (l) => {
        if (n++ === 0) first = l;
      });
      expect(n).toBe(100_001);
      expect(first).toBe(`${'\0'.repeat(1024)}…[truncated]`);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - rss0).toBeLessThan(96 * 1024 * 1024);
  }, 60_000);
});

describe('a standalone bundle from real files and sockets', () => {
  let dir: string;
  let server: Server;
  let port = 0;
  let deadPort = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsd-bundles-standalone-'));
    server = createServer((req, res) => {
      if (req.url === '/metrics') res.end('# HELP up\nup 1\ntoken="password=hunter2"\n');
      // /stall: never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(services: StandaloneService[], body: unknown, journalctl = join(dir, 'no-journalctl')): Promise<BundleRecord[]> {
    const config: StandaloneConfig = { host: 'host-a', services, journalctl };
    const params = parseStandaloneRequest(body, LIMITS);
    const selected = resolveStandaloneTarget(params, services.map((s) => ({ name: s.name, hasJournal: s.units.length > 0 })), () => true);
    const out: BundleRecord[] = [];
    await collectStandalone(
      { config, params, services: services.filter((s) => selected.some((x) => x.name === s.name)), bundleId: 'b_test', createdAt: '2026-02-09T00:00:00.000Z', maxLineBytes: 1024, maxMetricsBytes: 4096, signal: new AbortController().signal },
      async (r) => void out.push(r),
    );
    return out;
  }

  it('files merged by time across services; untimed lines inherit; include/exclude before the budget; log_summary counts', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await mkdir(a);
    await mkdir(b);
    await writeFile(
      join(a, 'app.log'),
      [
        'preamble without time',
        '2026-02-09T00:00:01.000Z ERROR a1',
        '    at stack (a.js:1) ERROR continuation',
        '2026-02-09T00:00:03.000Z INFO a3 healthcheck',
        '2026-02-09T00:00:05.000Z ERROR a5',
      ].join('\n') + '\n',
    );
    await writeFile(join(a, 'app.log.1'), '2026-02-09T00:00:04.000Z ERROR rotated\n');
    await writeFile(join(a, 'app.log.2.gz'), 'binary');
    await writeFile(join(b, 'b.log'), ['2026-02-09T00:00:02.000Z ERROR b2', '2026-02-09T00:00:04.000Z ERROR b4 healthcheck', '2026-02-09T00:00:06.000Z ERROR b6'].join('\n') + '\n');
    const services: StandaloneService[] = [
      { name: 'alpha', files: [join(a, 'app.log*')], units: [] },
      { name: 'beta', files: [join(b, '*.log'), join(b, 'missing-*.log')], units: [] },
    ];
    const recs = await run(services, { target: { kind: 'all' }, include: { logs: { includePatterns: ['ERROR'], excludePatterns: ['healthcheck'] }, metrics: { enabled: false } }, limits: { maxTotalLogLines: 4 } });
    expect(recs[0]).toMatchObject({ type: 'meta', mode: 'standalone', host: 'host-a', services: ['alpha', 'beta'] });
    const skips = recs.filter((r) => r.skipped);
    expect(skips).toEqual([{ type: 'log', service: 'beta', file: join(b, 'missing-*.log'), ts: expect.any(String), skipped: true, reason: 'file_not_found' }]);
    const lines = recs.filter((r) => r.type === 'log' && !r.skipped);
    // Matched (ERROR, not healthcheck): a1, continuation (inherits 00:00:01), a5, b2, b6 = 5; budget 4 keeps the newest.
    expect(lines.map((r) => [r.service, r.line])).toEqual([
      ['alpha', '    at stack (a.js:1) ERROR continuation'],
      ['beta', '2026-02-09T00:00:02.000Z ERROR b2'],
      ['alpha', '2026-02-09T00:00:05.000Z ERROR a5'],
      ['beta', '2026-02-09T00:00:06.000Z ERROR b6'],
    ]);
    expect(lines[0]).toEqual({ type: 'log', service: 'alpha', file: join(a, 'app.log'), ts: '2026-02-09T00:00:01.000Z', line: '    at stack (a.js:1) ERROR continuation', untimed: true });
    expect(lines[1]).toEqual({ type: 'log', service: 'beta', file: join(b, 'b.log'), ts: '2026-02-09T00:00:02.000Z', line: '2026-02-09T00:00:02.000Z ERROR b2' });
    const summary = recs.find((r) => r.type === 'log_summary')!;
    expect(summary).toMatchObject({ lineLimited: true, matchedLogRecords: 5, returnedLogRecords: 4, diagnosticRecords: 1, maxTotalLogLines: 4 });
    expect(summary.sources).toEqual([
      // tailLines defaults to min(2,000, maxTotalLogLines) = 4: the preamble (the 5th line from the end) is not read.
      { service: 'alpha', file: join(a, 'app.log'), status: 'ok', readRecords: 4, matchedRecords: 3, returnedRecords: 2 },
      { service: 'beta', file: join(b, 'b.log'), status: 'ok', readRecords: 3, matchedRecords: 2, returnedRecords: 2 },
      { service: 'beta', file: join(b, 'missing-*.log'), status: 'skipped', reason: 'file_not_found', readRecords: 0, matchedRecords: 0, returnedRecords: 0 },
    ]);
    // Without filters and within budget: everything, the preamble (no earlier time) first.
    const all = await run(services.slice(0, 1), { target: { services: ['alpha'] }, include: { metrics: { enabled: false } } });
    const got = all.filter((r) => r.type === 'log').map((r) => r.line);
    expect(got[0]).toBe('preamble without time');
    expect(all.find((r) => r.type === 'log' && r.line === 'preamble without time')).toMatchObject({ ts: null, untimed: true });
    expect(got).toHaveLength(5);
    expect(all.find((r) => r.type === 'log_summary')).toMatchObject({ lineLimited: false, matchedLogRecords: 5, returnedLogRecords: 5, diagnosticRecords: 0 });
    // tailLines per file.
    const t = await run(services, { target: { kind: 'all' }, include: { logs: { tailLines: 1 }, metrics: { enabled: false } } });
    expect(t.filter((r) => r.type === 'log' && !r.skipped).map((r) => r.line)).toEqual(['2026-02-09T00:00:05.000Z ERROR a5', '2026-02-09T00:00:06.000Z ERROR b6']);
  });

  it('skip reasons: file_not_found for a literal path, read_error for a directory (and as nobody for an unreadable file), journalctl_not_found; none fails the bundle', async () => {
    const d = join(dir, 'skips');
    await mkdir(join(d, 'dir.log'), { recursive: true });
    await writeFile(join(d, 'ok.log'), '2026-02-09T00:00:00Z fine\n');
    const services: StandaloneService[] = [{ name: 'svc', files: [join(d, 'gone.log'), join(d, 'dir.log'), join(d, 'ok.log')], units: ['svc.service'] }];
    const recs = await run(services, { target: { services: ['svc'] }, include: { metrics: { enabled: false } } });
    const skips = recs.filter((r) => r.skipped);
    expect(skips.map((r) => [r.file ?? r.journal, r.reason])).toEqual([
      [join(d, 'gone.log'), 'file_not_found'],
      [join(d, 'dir.log'), 'read_error'],
      ['svc.service', 'journalctl_not_found'],
    ]);
    expect(skips[1]!.error).toBe('a directory');
    expect(skips[2]!.error).toBe(`journalctl not found (${join(dir, 'no-journalctl')})`);
    expect(recs.filter((r) => r.type === 'log' && !r.skipped).map((r) => r.line)).toEqual(['2026-02-09T00:00:00Z fine']);
    expect(recs.find((r) => r.type === 'log_summary')).toMatchObject({ diagnosticRecords: 3, returnedLogRecords: 1 });
  });

  it('an unreadable file (mode 000, read by a non-root process) is read_error: EACCES', async () => {
    const { execFile } = await import('node:child_process');
    const { chmod } = await import('node:fs/promises');
    const { tools } = await import('../env/system-tools.ts');
    const d = await mkdtemp(join(tmpdir(), 'rsd-bundles-denied-'));
    try {
      await writeFile(join(d, 'secret.log'), 'password=hunter2\n');
      await chmod(join(d, 'secret.log'), 0o000);
      await chmod(d, 0o755);
      // The same tail through a child process as nobody when the suite runs as root (mode 000 means nothing to root).
      const script = `import { tailFile } from ${JSON.stringify(join(process.cwd(), 'src/servers/bundles/standalone.ts'))};
try { await tailFile(${JSON.stringify(join(d, 'secret.log'))}, 10, 100, (l) => console.log('LINE', l)); console.log('READ'); } catch (e) { console.log('CODE', e.code); }`;
      const node = process.execPath;
      const asRoot = process.getuid?.() === 0;
      if (asRoot) expect(tools.setpriv, 'setpriv (util-linux) is needed to drop root').not.toBeNull();
      const cmd = asRoot ? tools.setpriv! : node;
      const args = [...(asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', node] : []), '--input-type=module', '-e', script];
      const out = await new Promise<string>((resolve, reject) => execFile(cmd, args, { cwd: '/' }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))));
      expect(out.trim()).toBe('CODE EACCES');
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('metrics: ok, no_metrics_url, timeout after Nms, fetch_failed: ECONNREFUSED', async () => {
    const services: StandaloneService[] = [
      { name: 'up', files: [], units: ['x.service'], metricsUrl: `http://127.0.0.1:${port}/metrics` },
      { name: 'none', files: [], units: ['x.service'] },
      { name: 'slow', files: [], units: ['x.service'], metricsUrl: `http://127.0.0.1:${port}/stall` },
      { name: 'dead', files: [], units: ['x.service'], metricsUrl: `http://127.0.0.1:${deadPort}/metrics` },
    ];
    const recs = await run(services, { target: { kind: 'all' }, include: { logs: { enabled: false } }, limits: { metricsTimeoutMs: 300 } });
    expect(recs.some((r) => r.type === 'log' || r.type === 'log_summary')).toBe(false);
    const m = recs.filter((r) => r.type === 'metrics_text');
    expect(m).toEqual([
      { type: 'metrics_text', service: 'up', url: `http://127.0.0.1:${port}/metrics`, ts: expect.any(String), ok: true, content: '# HELP up\nup 1\ntoken="password=hunter2"\n' },
      { type: 'metrics_text', service: 'none', url: null, ts: expect.any(String), skipped: true, reason: 'no_metrics_url' },
      { type: 'metrics_text', service: 'slow', url: `http://127.0.0.1:${port}/stall`, ts: expect.any(String), ok: false, error: 'timeout after 300ms' },
      { type: 'metrics_text', service: 'dead', url: `http://127.0.0.1:${deadPort}/metrics`, ts: expect.any(String), ok: false, error: 'fetch_failed: ECONNREFUSED' },
    ]);
  });
});

describe('the `bundles:` mode and the kubernetes: connection', () => {
  const SVC = 'services:\n  list:\n    - name: pg\n      files: [/var/log/pg.log]\n';
  const bundles = (text: string) => {
    const c = parseConfig(text, 'c.yaml', {}).components.find((x) => x.spec.key === 'bundles')!;
    const cfg = parseConfig(text, 'c.yaml', {});
    const byKey = new Map(cfg.components.map((x) => [x.spec.key, x.options] as const));
    const b = cfg.components.find((x) => x.spec.key === 'bundles')!;
    void c;
    return { options: b.options as unknown as { mode: 'auto' | 'kubernetes' | 'standalone'; kubeconfig?: string; context?: string }, optionsOf: (k: string) => byKey.get(k) };
  };

  it('auto: standalone when services are listed and kubernetes is not enabled', () => {
    expect(resolveMode('auto', true, undefined)).toBe('standalone');
    expect(resolveMode('auto', true, true)).toBe('kubernetes');
    expect(resolveMode('auto', false, false)).toBe('kubernetes');
    expect(resolveMode('kubernetes', true, undefined)).toBe('kubernetes');
    let b = bundles(`${SVC}bundles:\n  enabled: true\n`);
    expect(bundleMode(b.options, b.optionsOf)).toBe('standalone');
    b = bundles(`${SVC}kubernetes:\n  enabled: true\nbundles:\n  enabled: true\n`);
    expect(bundleMode(b.options, b.optionsOf)).toBe('kubernetes');
    b = bundles('bundles:\n  enabled: true\n');
    expect(bundleMode(b.options, b.optionsOf)).toBe('kubernetes');
    b = bundles(`${SVC}bundles:\n  enabled: true\n  mode: kubernetes\n`);
    expect(bundleMode(b.options, b.optionsOf)).toBe('kubernetes');
    expect(() => parseConfig('bundles:\n  enabled: true\n  mode: standalone\n', 'c.yaml', {})).toThrow('c.yaml: field bundles.mode: standalone needs a services: section that lists services');
    expect(() => parseConfig('bundles:\n  enabled: true\n  mode: both\n', 'c.yaml', {})).toThrow('field bundles.mode');
  });

  it('kubeconfig and context come from kubernetes: unless bundles sets them', () => {
    let b = bundles('kubernetes:\n  kubeconfig: /etc/kube/config\n  context: prod\nbundles:\n  enabled: true\n');
    expect(bundleConnection(b.options, b.optionsOf)).toEqual({ kubeconfig: '/etc/kube/config', context: 'prod' });
    b = bundles('kubernetes:\n  kubeconfig: /etc/kube/config\n  context: prod\nbundles:\n  enabled: true\n  context: staging\n');
    expect(bundleConnection(b.options, b.optionsOf)).toEqual({ kubeconfig: '/etc/kube/config', context: 'staging' });
    b = bundles('bundles:\n  enabled: true\n  kubeconfig: /own\n');
    expect(bundleConnection(b.options, b.optionsOf)).toEqual({ kubeconfig: '/own' });
    b = bundles('bundles:\n  enabled: true\n');
    expect(bundleConnection(b.options, b.optionsOf)).toEqual({});
    // A runner that exposes the kubernetes settings through optionsOf is read first.
    expect(bundleConnection({}, (k) => (k === 'kubernetes' ? { kubeconfig: '/from-ctx' } : undefined))).toEqual({ kubeconfig: '/from-ctx' });
  });
});
