/**
 * `tap`: watch, live, what reaches the detectors and what the rules make of it (like `vector tap`).
 * A client asks `GET /tap?selector=namespace=shop,app=api[&rule=ID][&signals=1][&sample=0.1][&rate=100]`
 * on the admin port and receives NDJSON: `record` messages (level, labels, template when mined, the
 * line redacted and capped) and, with `signals`, `match` messages (a rule's patterns matched and why it
 * did or did not fire) and `signal` messages (what the lifecycle did).
 *
 * Bounded so a watcher can never slow the pipeline: the engine's tracer is installed only while a
 * client is connected; each client has a sampling rate and a maximum message rate (the excess is
 * counted and reported in a `dropped` message); a client whose socket buffer exceeds its bound — one
 * that stopped reading — is disconnected and counted, never waited for.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Detection } from './pipeline.ts';
import type { EngineTracer, MatchVerdict, SignalOutcome } from './detect/trace.ts';
import type { Logger } from './logger.ts';
import { metrics } from './metrics.ts';
import type { LogRecord, Target } from './model/log-record.ts';
import { redact, truncateUtf8 } from './parse/redact.ts';
import type { Signal } from './detect/signal.ts';

export const TAP_LABELS = ['namespace', 'pod', 'container', 'workload', 'app', 'component', 'node', 'service'] as const;
type TapLabel = (typeof TAP_LABELS)[number];

export interface TapOptions {
  /** Concurrent clients at most (default 4); more get 429. */
  maxClients?: number;
  /** Messages per second per client at most (default 200; a client may ask for less). */
  maxRate?: number;
  /** Bytes a client may leave unread in its socket buffer before it is dropped (default 256 KiB). */
  maxBufferedBytes?: number;
  /** Longest line sent (default 1 KiB, after redaction). */
  maxLineBytes?: number;
}

export interface TapRequest {
  selector: Partial<Record<TapLabel, string>>;
  rule?: string;
  signals: boolean;
  sample: number;
  rate: number;
}

/** Parses the query of a tap request; throws with a message for the client on bad input. */
export function parseTapRequest(url: URL, maxRate: number): TapRequest {
  const selector: Partial<Record<TapLabel, string>> = {};
  const sel = url.searchParams.get('selector') ?? '';
  for (const part of sel.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (eq <= 0 || !v) throw new Error(`selector: "${part}" is not label=value`);
    if (!(TAP_LABELS as readonly string[]).includes(k)) throw new Error(`selector: unknown label "${k}" (allowed: ${TAP_LABELS.join(', ')})`);
    selector[k as TapLabel] = v;
  }
  const num = (name: string, dflt: number, min: number, max: number) => {
    const raw = url.searchParams.get(name);
    if (raw === null || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name}: must be a number from ${min} to ${max}`);
    return n;
  };
  const rule = url.searchParams.get('rule') ?? undefined;
  const signals = ['1', 'true', 'yes'].includes(url.searchParams.get('signals') ?? '');
  return { selector, ...(rule ? { rule } : {}), signals, sample: num('sample', 1, 0, 1), rate: num('rate', maxRate, 1, maxRate) };
}

function selects(sel: TapRequest['selector'], t: Target): boolean {
  for (const k in sel) if (t[k as TapLabel] !== sel[k as TapLabel]) return false;
  return true;
}

const labelsOf = (t: Target) => Object.fromEntries(TAP_LABELS.filter((k) => t[k] !== undefined).map((k) => [k, t[k]!]));

class TapClient {
  readonly req: TapRequest;
  private readonly res: ServerResponse;
  private readonly maxBuffered: number;
  private readonly maxLine: number;
  private tokens: number;
  private last = Date.now();
  private dropped = 0;
  /** The record announced last: sent when the next one arrives, so its template (mined on demand) is known. */
  private pending: LogRecord | undefined;
  closed = false;
  private readonly onClose: (why: 'slow' | 'gone') => void;

  constructor(req: TapRequest, res: ServerResponse, opts: Required<TapOptions>, onClose: (why: 'slow' | 'gone') => void) {
    this.req = req;
    this.res = res;
    this.maxBuffered = opts.maxBufferedBytes;
    this.maxLine = opts.maxLineBytes;
    this.tokens = req.rate;
    this.onClose = onClose;
    res.on('close', () => this.close('gone'));
  }

  private send(msg: Record<string, unknown>): void {
    if (this.closed) return;
    // A client that stopped reading is dropped, never waited for: the pipeline must not notice it.
    if (this.res.writableLength > this.maxBuffered) {
      this.close('slow');
      return;
    }
    const now = Date.now();
    this.tokens = Math.min(this.req.rate, this.tokens + ((now - this.last) / 1000) * this.req.rate);
    this.last = now;
    if (this.tokens < 1) {
      this.dropped++;
      metrics.tapDropped.inc({ reason: 'rate' });
      return;
    }
    this.tokens--;
    if (this.dropped > 0) {
      this.res.write(`${JSON.stringify({ type: 'dropped', count: this.dropped, reason: 'rate' })}\n`);
      this.dropped = 0;
    }
    this.res.write(`${JSON.stringify(msg)}\n`);
  }

  private line(s: string): string {
    return truncateUtf8(redact(s), this.maxLine);
  }

  wants(t: Target): boolean {
    return selects(this.req.selector, t);
  }

  record(r: LogRecord): void {
    this.flush();
    if (this.req.sample < 1 && Math.random() >= this.req.sample) {
      metrics.tapDropped.inc({ reason: 'sampled' });
      return;
    }
    this.pending = r;
  }

  /** Sends the pending record (with the template the rules may have mined for it meanwhile). */
  flush(): void {
    const r = this.pending;
    if (!r) return;
    this.pending = undefined;
    this.send({ type: 'record', ts: r.ts, kind: r.kind, level: r.level, labels: labelsOf(r.target), ...(r.template ? { template: this.line(r.template.text) } : {}), ...(r.malformed ? { malformed: r.malformed } : {}), line: this.line(r.line) });
  }

  match(ruleId: string, r: LogRecord, verdict: MatchVerdict): void {
    this.flush();
    this.send({ type: 'match', ts: r.ts, rule: ruleId, verdict, labels: labelsOf(r.target) });
  }

  signal(s: Signal, outcome: SignalOutcome): void {
    this.flush();
    this.send({ type: 'signal', ts: new Date(s.ts).toISOString(), rule: s.rule.id, incident_type: s.rule.incident_type, outcome, count: s.count, severity: s.severity, scope: s.scope });
  }

  close(why: 'slow' | 'gone'): void {
    if (this.closed) return;
    this.closed = true;
    if (why === 'slow') this.res.destroy();
    else this.res.end();
    this.onClose(why);
  }
}

export class TapHub {
  private readonly engine: Detection;
  private readonly log: Logger;
  private readonly opts: Required<TapOptions>;
  private readonly clients = new Set<TapClient>();
  private flusher: NodeJS.Timeout | undefined;

  constructor(engine: Detection, log: Logger, opts: TapOptions = {}) {
    this.engine = engine;
    this.log = log;
    this.opts = { maxClients: opts.maxClients ?? 4, maxRate: opts.maxRate ?? 200, maxBufferedBytes: opts.maxBufferedBytes ?? 256 * 1024, maxLineBytes: opts.maxLineBytes ?? 1024 };
  }

  get size(): number {
    return this.clients.size;
  }

  /** The HTTP handler for GET /tap. Loopback only: tap shows (redacted) lines, and has no other authentication yet. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const remote = req.socket.remoteAddress ?? '';
    if (!(remote === '127.0.0.1' || remote === '::1' || remote === '::ffff:127.0.0.1')) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('tap is served to loopback clients only (kubectl port-forward, or exec into the pod)\n');
      return;
    }
    let request: TapRequest;
    try {
      request = parseTapRequest(new URL(req.url ?? '/', 'http://localhost'), this.opts.maxRate);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
      return;
    }
    if (this.clients.size >= this.opts.maxClients) {
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '10' }).end(`at most ${this.opts.maxClients} tap clients\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const client = new TapClient(request, res, this.opts, (why) => {
      this.clients.delete(client);
      if (why === 'slow') {
        metrics.tapDropped.inc({ reason: 'slow_client' });
        this.log.warn({ selector: request.selector }, 'tap client disconnected: it stopped reading');
      }
      this.install();
    });
    this.clients.add(client);
    res.write(`${JSON.stringify({ type: 'hello', selector: request.selector, ...(request.rule ? { rule: request.rule } : {}), signals: request.signals, sample: request.sample, rate: request.rate })}\n`);
    this.install();
  }

  /** Installs the engine tracer while someone watches, removes it when nobody does. */
  private install(): void {
    metrics.tapClients.set(this.clients.size);
    if (this.clients.size === 0) {
      this.engine.setTracer(null);
      clearInterval(this.flusher);
      this.flusher = undefined;
      return;
    }
    const clients = [...this.clients];
    const tracer: EngineTracer = {
      record: (r) => {
        for (const c of clients) if (c.wants(r.target)) c.record(r);
      },
      match: (rule, r, verdict) => {
        for (const c of clients) if (c.req.signals && c.wants(r.target) && (c.req.rule === undefined || c.req.rule === rule.id)) c.match(rule.id, r, verdict);
      },
      signal: (s, outcome) => {
        for (const c of clients) if (c.req.signals && (c.req.rule === undefined || c.req.rule === s.rule.id) && (s.record === undefined || c.wants(s.record.target))) c.signal(s, outcome);
      },
    };
    this.engine.setTracer(tracer);
    // The last record of a quiet stream is sent after a short wait.
    this.flusher ??= setInterval(() => {
      for (const c of this.clients) c.flush();
    }, 200);
    this.flusher.unref();
  }

  close(): void {
    for (const c of [...this.clients]) c.close('gone');
  }
}
