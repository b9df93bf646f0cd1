/**
 * Sending one batch: wait for the client-side token buckets (the tenant's and those of the batch's
 * streams, kept under Loki's ingestion limits), encode it (protobuf+snappy or JSON), push it, and
 * turn the answer into an Outcome. Counts requests and latency, and logs an answer that is not a
 * full acceptance (src/internal-events/loki.ts: once per kind and reason per minute). What the Outcome does to the queues is the
 * sink's business (src/sinks/loki/sink.ts).
 */
import { LRUCache } from 'lru-cache';
import { sleep } from '../../delivery/backoff.ts';
import { lokiEvents } from '../../internal-events/loki.ts';
import { metrics } from '../../metrics.ts';
import { classify, streamsOf, type Outcome } from './classify.ts';
import { encodeJsonBody } from './encode-json.ts';
import { encodeProtobufBody } from './encode-protobuf.ts';
import type { Entry } from './entry.ts';
import { groupByStream } from './group.ts';
import type { ResolvedLokiOptions } from './options.ts';
import { TokenBucket } from './token-bucket.ts';
import { LokiTransport } from './transport.ts';

export class LokiSender {
  private readonly transport: LokiTransport;
  private readonly tenantBucket: TokenBucket;
  /** Per stream, bounded: a stream idle for 10 minutes starts again with a full bucket. */
  private readonly streamBuckets = new LRUCache<string, TokenBucket>({ max: 10_000, ttl: 600_000 });
  private readonly o: ResolvedLokiOptions;

  constructor(o: ResolvedLokiOptions) {
    this.o = o;
    this.transport = new LokiTransport(o);
    this.tenantBucket = new TokenBucket(o.tenantRateBytes, o.tenantBurstBytes);
  }

  /** The outcome of pushing `entries`, or undefined when `signal` aborted before the push. */
  async send(entries: readonly Entry[], bytes: number, signal: AbortSignal): Promise<Outcome | undefined> {
    const perStream = new Map<string, number>();
    for (const e of entries) perStream.set(e.stream, (perStream.get(e.stream) ?? 0) + e.bytes);
    // Client-side limits: wait for the tenant bucket and the slowest stream of this batch.
    let delay = this.tenantBucket.delayMs();
    for (const s of perStream.keys()) {
      let b = this.streamBuckets.get(s);
      if (!b) {
        b = new TokenBucket(this.o.streamRateBytes, this.o.streamBurstBytes);
        this.streamBuckets.set(s, b);
      }
      delay = Math.max(delay, b.delayMs());
    }
    if (delay > 0) await sleep(delay, signal);
    if (signal.aborted) return undefined;
    this.tenantBucket.take(bytes);
    for (const [s, n] of perStream) this.streamBuckets.get(s)?.take(n);

    const streams = groupByStream(entries);
    const body = this.o.format === 'json' ? encodeJsonBody(streams) : encodeProtobufBody(streams);
    const name = this.o.name;
    const end = metrics.sinkLatency.startTimer({ sink: name });
    try {
      const res = await this.transport.push(body, signal);
      metrics.sinkRequests.inc({ sink: name, status: String(res.status) });
      const outcome = classify(res.status, res.body, res.retryAfter);
      if (outcome.kind !== 'delivered') {
        const refused = streamsOf(res.body);
        lokiEvents.pushNotAccepted({ outcome: outcome.kind, reason: outcome.reason }, 1, { status: res.status, ...(refused.length ? { streams: refused } : {}), body: res.body.slice(0, 512) });
      }
      return outcome;
    } catch (err) {
      metrics.sinkRequests.inc({ sink: name, status: 'error' });
      if (!signal.aborted) lokiEvents.pushFailed({}, 1, { err: String(err) });
      return { kind: 'retry', reason: 'network', retryAfterMs: undefined };
    } finally {
      end();
    }
  }

  close(): void {
    this.transport.close();
  }
}
