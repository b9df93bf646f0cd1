/**
 * tailFindings: a throw-away ordered consumer for watching findings live (`findings tail`).
 * Nothing is acknowledged and no durable state is left on the server.
 */
import { DeliverPolicy, jetstream, type ConsumerMessages, type OrderedConsumerOptions } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FindingStatus } from '../model/finding.ts';
import { decodeEnvelope, type FindingEnvelope } from '../nats/envelope.ts';
import { FINDINGS_STREAM } from '../nats/streams.ts';
import { planFilters, supportsMultiFilter } from './filters.ts';

export interface TailOptions {
  connection: NatsConnection;
  stream?: string;
  namespaces?: readonly string[];
  incidentTypes?: readonly string[];
  events?: readonly FindingStatus[];
  /** 'new' (default): only findings from now on; 'all': everything retained; or an ISO start time. */
  from?: 'new' | 'all' | { since: string };
  onFinding: (envelope: FindingEnvelope, subject: string) => void;
  onInvalid?: (subject: string, err: Error) => void;
}

export interface Tail {
  stop(): Promise<void>;
  readonly closed: Promise<void>;
}

export async function tailFindings(o: TailOptions): Promise<Tail> {
  const plan = planFilters(o, supportsMultiFilter(o.connection.info?.version));
  const from = o.from ?? 'new';
  const opts: Partial<OrderedConsumerOptions> = {
    filter_subjects: plan.serverFilters.length === 1 ? (plan.serverFilters[0] as string) : plan.serverFilters,
    ...(from === 'new'
      ? { deliver_policy: DeliverPolicy.New }
      : from === 'all'
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(from.since).toISOString() }),
  };
  const consumer = await jetstream(o.connection).consumers.get(o.stream ?? FINDINGS_STREAM, opts);
  const messages: ConsumerMessages = await consumer.consume();
  const closed = (async () => {
    for await (const m of messages) {
      if (plan.clientMatch && !plan.clientMatch(m.subject)) continue;
      try {
        o.onFinding(decodeEnvelope(m.data), m.subject);
      } catch (err) {
        o.onInvalid?.(m.subject, err as Error);
      }
    }
  })();
  return {
    closed,
    async stop() {
      messages.stop();
      await closed.catch(() => undefined);
    },
  };
}
