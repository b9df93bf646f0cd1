/**
 * Loki's own answers in front of the real store. VictoriaLogs accepts what Loki would refuse (old or
 * out-of-order entries, bursts over a rate limit, requests without a tenant), so this proxy — test
 * code, the one fake the test suite allows, because no permitted server produces Loki's rejections —
 * answers with Loki's documented statuses and bodies, and forwards everything it accepts to
 * VictoriaLogs, which stores it for real. Tests then assert on what the store holds.
 *
 * Bodies follow Loki v3's distributor and validation messages (pkg/validation/validate.go,
 * pkg/distributor/validator.go, pkg/util/server/error.go), e.g.
 *   entry for stream '{app="a"}' has timestamp too old: 2026-…, oldest acceptable timestamp is: 2026-…
 *   entry with timestamp 2026-… ignored, reason: 'entry out of order' for stream: {app="a"},
 *   total ignored: 1 out of 20
 * A partially refused request is stored partially (the accepted entries), as Loki does.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';

const root = new protobuf.Root();
protobuf.parse(readFileSync(new URL('../unit/fixtures/loki-push.proto', import.meta.url), 'utf8'), root, { keepCase: true });
root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
root.resolveAll();
const PushRequest = root.lookupType('logproto.PushRequest');

interface PbEntry {
  timestamp: { seconds: number | string; nanos: number };
  line: string;
  structuredMetadata?: Array<{ name: string; value: string }>;
}
interface PbStream {
  labels: string;
  entries: PbEntry[];
}

/** What the proxy answers, checked in this order for every push. */
export interface LokiAnswers {
  /** Require an X-Scope-OrgID header (Loki with auth_enabled): 401 "no org id" without one. */
  requireTenant?: boolean;
  /** Answer the next N pushes with this status (429, 500, 502, 503, 504, 413…) before passing again. */
  failNext?: { count: number; status: number; retryAfter?: string; body?: string };
  /** Entries older than this many ms before now: refused ("timestamp too old"). */
  rejectOlderThanMs?: number;
  /** Entries newer than this many ms after now: refused ("timestamp too new"). */
  rejectNewerThanMs?: number;
  /** Refuse an entry older than the newest already accepted for its stream ("entry out of order"). */
  rejectOutOfOrder?: boolean;
  /** Refuse a request whose label set contains this name (Loki: error parsing labels). */
  rejectLabel?: string;
  /** Bodies larger than this: 413. */
  maxBodyBytes?: number;
}

export interface LokiAnswersProxy {
  /** The `loki.url` to configure (the sink appends /loki/api/v1/push). */
  url: string;
  answers: LokiAnswers;
  /** Every push as seen: status answered, entries received and forwarded, tenant. */
  log: Array<{ status: number; received: number; forwarded: number; tenant: string | undefined }>;
  close(): Promise<void>;
}

const tsNs = (t: PbEntry['timestamp']) => BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos);
const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function decode(body: Buffer, contentType: string): PbStream[] {
  if (contentType.includes('json')) {
    const j = JSON.parse(body.toString('utf8')) as { streams: Array<{ stream: Record<string, string>; values: Array<[string, string, Record<string, string>?]> }> };
    return j.streams.map((s) => ({
      labels: `{${Object.entries(s.stream).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`,
      entries: s.values.map(([ns, line, md]) => {
        const n = BigInt(ns);
        return { timestamp: { seconds: String(n / 1_000_000_000n), nanos: Number(n % 1_000_000_000n) }, line, structuredMetadata: Object.entries(md ?? {}).map(([name, value]) => ({ name, value })) };
      }),
    }));
  }
  const raw = snappy.uncompress(new Uint8Array(body));
  const msg = PushRequest.toObject(PushRequest.decode(raw), { longs: String, defaults: true }) as { streams: PbStream[] };
  return msg.streams;
}

function encode(streams: PbStream[]): Buffer {
  const msg = PushRequest.fromObject({ streams });
  return Buffer.from(snappy.compress(PushRequest.encode(msg).finish()));
}

export async function startLokiAnswers(storeUrl: string, answers: LokiAnswers = {}): Promise<LokiAnswersProxy> {
  const newest = new Map<string, bigint>();
  const log: LokiAnswersProxy['log'] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const tenant = req.headers['x-scope-orgid'] as string | undefined;
    const answer = (status: number, body: string, headers: Record<string, string> = {}, received = 0, forwarded = 0) => {
      log.push({ status, received, forwarded, tenant });
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
    };
    if (req.method !== 'POST' || req.url !== '/loki/api/v1/push') return answer(404, '404 page not found\n');
    const body = await readBody(req);
    if (answers.requireTenant && !tenant) return answer(401, 'no org id\n');
    if (answers.maxBodyBytes !== undefined && body.length > answers.maxBodyBytes) return answer(413, `request body too large: ${body.length} bytes, limit: ${answers.maxBodyBytes} bytes\n`);
    const f = answers.failNext;
    if (f && f.count > 0) {
      f.count--;
      const dflt = f.status === 429 ? "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) while attempting to ingest '20' lines totaling '2000' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased\n" : `${f.status} upstream error\n`;
      return answer(f.status, f.body ?? dflt, f.retryAfter ? { 'retry-after': f.retryAfter } : {});
    }
    let streams: PbStream[];
    try {
      streams = decode(body, String(req.headers['content-type'] ?? ''));
    } catch (err) {
      return answer(400, `failed to parse push request: ${(err as Error).message}\n`);
    }
    const received = streams.reduce((n, s) => n + s.entries.length, 0);
    if (answers.rejectLabel) {
      const bad = streams.find((s) => new RegExp(`[{,\\s]${answers.rejectLabel}=`).test(s.labels));
      if (bad) return answer(400, `error parsing labels '${bad.labels}' with error: invalid label name "${answers.rejectLabel}"\n`, {}, received);
    }
    const now = BigInt(Date.now()) * 1_000_000n;
    const errors: string[] = [];
    const accepted: PbStream[] = [];
    for (const s of streams) {
      const keep: PbEntry[] = [];
      for (const e of s.entries) {
        const t = tsNs(e.timestamp);
        if (answers.rejectOlderThanMs !== undefined && t < now - BigInt(answers.rejectOlderThanMs) * 1_000_000n) {
          errors.push(`entry for stream '${s.labels}' has timestamp too old: ${iso(t)}, oldest acceptable timestamp is: ${iso(now - BigInt(answers.rejectOlderThanMs) * 1_000_000n)}`);
          continue;
        }
        if (answers.rejectNewerThanMs !== undefined && t > now + BigInt(answers.rejectNewerThanMs) * 1_000_000n) {
          errors.push(`entry for stream '${s.labels}' has timestamp too new: ${iso(t)}`);
          continue;
        }
        const last = newest.get(s.labels);
        if (answers.rejectOutOfOrder && last !== undefined && t < last) {
          errors.push(`entry with timestamp ${iso(t)} ignored, reason: 'entry out of order' for stream: ${s.labels},`);
          continue;
        }
        if (last === undefined || t > last) newest.set(s.labels, t);
        keep.push(e);
      }
      if (keep.length) accepted.push({ labels: s.labels, entries: keep });
    }
    const forwarded = accepted.reduce((n, s) => n + s.entries.length, 0);
    if (forwarded > 0) {
      const headers: Record<string, string> = { 'content-type': 'application/x-protobuf' };
      const fwd = await fetch(`${storeUrl}/insert/loki/api/v1/push`, { method: 'POST', headers, body: encode(accepted) });
      if (!fwd.ok) return answer(500, `store: ${fwd.status} ${await fwd.text()}\n`, {}, received);
    }
    if (errors.length) return answer(400, `${errors.join('\n')}\ntotal ignored: ${errors.length} out of ${received}\n`, {}, received, forwarded);
    return answer(204, '', {}, received, forwarded);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    answers,
    log,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
