/**
 * readFindings: every finding stored in a time range, read once with an ordered consumer and
 * returned (for `findings timeline` and post-incident tooling). It stops at the end of the stream
 * as it was when reading began, at `until`, or at `max`; nothing is acknowledged or left behind.
 */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FindingStatus } from '../model/finding.ts';
import { decodeEnvelope, type FindingEnvelope } from '../nats/envelope.ts';
import { FINDINGS_STREAM } from '../nats/streams.ts';
import { planFilters, supportsMultiFilter } from './filters.ts';

export interface ReadFindingsOptions {
  connection: NatsConnection;
  stream?: string;
  /** RFC 3339: stored at or after (the stream's own time of storage). */
  since: string;
  /** RFC 3339: stored before; default now. */
  until?: string;
  namespaces?: readonly string[];
  incidentTypes?: readonly string[];
  events?: readonly FindingStatus[];
  /** Bound on findings returned (default 50,000); `truncated` says when it was hit. */
  max?: number;
  onInvalid?: (subject: string, err: Error) => void;
}

export interface ReadFindingsResult {
  envelopes: FindingEnvelope[];
  truncated: boolean;
}

export async function readFindings(o: ReadFindingsOptions): Promise<ReadFindingsResult> {
  const plan = planFilters(o, supportsMultiFilter(o.connection.info?.version));
  const untilNs = BigInt(Date.parse(o.until ?? new Date().toISOString())) * 1_000_000n;
  const max = o.max ?? 50_000;
  const consumer = await jetstream(o.connection).consumers.get(o.stream ?? FINDINGS_STREAM, {
    filter_subjects: plan.serverFilters.length === 1 ? (plan.serverFilters[0] as string) : plan.serverFilters,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(o.since).toISOString(),
  });
  const envelopes: FindingEnvelope[] = [];
  for (;;) {
    let got = 0;
    let end = false;
    const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
    for await (const m of batch) {
      got++;
      if (BigInt(m.info.timestampNanos) >= untilNs) {
        end = true;
        break;
      }
      if (!plan.clientMatch || plan.clientMatch(m.subject)) {
        try {
          envelopes.push(decodeEnvelope(m.data));
        } catch (err) {
          o.onInvalid?.(m.subject, err as Error);
        }
        if (envelopes.length >= max) return { envelopes, truncated: m.info.pending > 0 };
      }
      // pending = messages after this one in the consumer's view: 0 is the end of the stream.
      if (m.info.pending === 0) {
        end = true;
        break;
      }
    }
    if (end || got === 0) return { envelopes, truncated: false };
  }
}
