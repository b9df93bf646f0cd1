/**
 * subscribeFindings: a durable pull consumer on OPS_FINDINGS for Robot SRE. Findings are handed
 * to the handler one at a time, in stream order. The handler settles each one with ack / nak /
 * term; returning normally acks, throwing naks with the configured backoff, and the last allowed
 * delivery that fails is terminated (and reported to onDeadLetter) instead of silently expiring.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { log as defaultLog, type Logger } from '../logger.ts';
import type { Finding, FindingStatus } from '../model/finding.ts';
import { connectNats, type NatsConnectOptions } from '../nats/connection.ts';
import { decodeEnvelope, type FindingEnvelope } from '../nats/envelope.ts';
import { FINDINGS_STREAM } from '../nats/streams.ts';
import { planFilters, supportsMultiFilter, type FilterPlan } from './filters.ts';

export interface FindingContext {
  envelope: FindingEnvelope;
  /** NATS subject: ops.findings.<event>.<namespace>.<incident_type> */
  subject: string;
  /** Stream sequence. */
  seq: number;
  /** 1 on first delivery. */
  deliveryCount: number;
  redelivered: boolean;
  ack(): void;
  /** Redeliver after delayMs (default: nakBackoffMs for this delivery count). */
  nak(delayMs?: number): void;
  /** Never redeliver. */
  term(reason?: string): void;
  /** Still working: resets the ack timer. */
  working(): void;
}

export type FindingHandler = (finding: Finding, ctx: FindingContext) => void | Promise<void>;

export interface SubscribeFindingsOptions {
  /** An existing connection (not closed by stop()), or options to open one (closed by stop()). */
  connection?: NatsConnection;
  nats?: NatsConnectOptions;
  stream?: string;
  /** Durable consumer name: progress survives restarts and is shared by instances using it. */
  durable: string;
  namespaces?: readonly string[];
  incidentTypes?: readonly string[];
  events?: readonly FindingStatus[];
  /** Where a new durable starts: all retained findings (default) or only new ones. */
  deliverPolicy?: 'all' | 'new';
  /** Deliveries per finding before it is given up (default 5). */
  maxDeliver?: number;
  /** Time to settle a finding before the server redelivers it (default 30 s). */
  ackWaitMs?: number;
  /** nak delay by delivery count; the last value repeats (default 1 s, 5 s, 30 s). */
  nakBackoffMs?: readonly number[];
  /** Findings delivered but not yet settled (default 64). */
  maxAckPending?: number;
  handler: FindingHandler;
  /** A finding whose last allowed delivery failed. */
  onDeadLetter?: (finding: Finding, err: unknown, ctx: FindingContext) => void;
  logger?: Logger;
}

export interface FindingSubscription {
  readonly durable: string;
  /** The consumer's filter subject(s) on the server. */
  readonly serverFilters: readonly string[];
  /** True when some filtering happens client-side (several values on a pre-2.10 server). */
  readonly clientSideFiltering: boolean;
  /** Stop fetching, let the current handler finish, close an owned connection. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended (after stop() or a fatal error). */
  readonly closed: Promise<void>;
}

function consumerConfig(o: SubscribeFindingsOptions, plan: FilterPlan): Partial<ConsumerConfig> {
  const cfg: Partial<ConsumerConfig> = {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(o.ackWaitMs ?? 30_000),
    max_deliver: o.maxDeliver ?? 5,
    max_ack_pending: o.maxAckPending ?? 64,
    deliver_policy: o.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
  };
  if (plan.serverFilters.length === 1) cfg.filter_subject = plan.serverFilters[0] as string;
  else cfg.filter_subjects = plan.serverFilters;
  return cfg;
}

/** Create the durable, or update it when our settings changed (deliver_policy only applies at creation). */
async function ensureConsumer(nc: NatsConnection, stream: string, cfg: Partial<ConsumerConfig>): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const durable = cfg.durable_name as string;
  let current: ConsumerConfig | null = null;
  try {
    current = (await jsm.consumers.info(stream, durable)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === 10014)) throw err; // 10014: consumer not found
  }
  if (!current) {
    await jsm.consumers.add(stream, cfg);
    return;
  }
  const keys = ['ack_wait', 'max_deliver', 'max_ack_pending', 'filter_subject', 'filter_subjects'] as const;
  const differs = keys.some((k) => JSON.stringify(current[k] ?? null) !== JSON.stringify(cfg[k] ?? null));
  if (!differs) return;
  const { durable_name: _d, deliver_policy: _p, ack_policy: _a, ...update } = cfg;
  try {
    await jsm.consumers.update(stream, durable, update);
  } catch (err) {
    throw new Error(
      `durable consumer ${durable} exists with different settings and cannot be updated (${(err as Error).message}); ` +
        'delete it or pick another durable name',
    );
  }
}

export async function subscribeFindings(o: SubscribeFindingsOptions): Promise<FindingSubscription> {
  const logger = (o.logger ?? defaultLog).child({ component: 'findings-consumer', durable: o.durable });
  if (!o.connection && !o.nats) throw new Error('subscribeFindings needs `connection` or `nats` options');
  const owned = !o.connection;
  const nc = o.connection ?? (await connectNats({ name: `robot-sre-consumer-${o.durable}`, ...(o.nats as NatsConnectOptions) }, logger));
  const stream = o.stream ?? FINDINGS_STREAM;
  const plan = planFilters(o, supportsMultiFilter(nc.info?.version));
  const maxDeliver = o.maxDeliver ?? 5;
  const backoff = o.nakBackoffMs?.length ? o.nakBackoffMs : [1_000, 5_000, 30_000];
  const delayFor = (count: number): number => backoff[Math.min(count, backoff.length) - 1] ?? 1_000;

  try {
    await ensureConsumer(nc, stream, consumerConfig(o, plan));
  } catch (err) {
    if (owned) await nc.close();
    throw err;
  }
  const consumer = await jetstream(nc).consumers.get(stream, o.durable);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: Math.min(o.maxAckPending ?? 64, 256) });

  const handle = async (m: JsMsg): Promise<void> => {
    if (plan.clientMatch && !plan.clientMatch(m.subject)) {
      m.ack(); // outside this subscription's selection: nothing to do
      return;
    }
    let envelope: FindingEnvelope;
    try {
      envelope = decodeEnvelope(m.data);
    } catch (err) {
      logger.warn({ seq: m.seq, subject: m.subject, err: (err as Error).message }, 'not a finding envelope; terminating it');
      m.term('invalid finding envelope');
      return;
    }
    let settled = false;
    const once =
      <A extends unknown[]>(f: (...a: A) => void) =>
      (...a: A): void => {
        if (settled) return;
        settled = true;
        f(...a);
      };
    const deliveryCount = m.info.deliveryCount;
    const ctx: FindingContext = {
      envelope,
      subject: m.subject,
      seq: m.seq,
      deliveryCount,
      redelivered: m.redelivered,
      ack: once(() => m.ack()),
      nak: once((delayMs?: number) => m.nak(delayMs ?? delayFor(deliveryCount))),
      term: once((reason?: string) => m.term(reason)),
      working: () => m.working(),
    };
    try {
      await o.handler(envelope.data, ctx);
      ctx.ack();
    } catch (err) {
      if (settled) return;
      if (deliveryCount >= maxDeliver) {
        logger.error({ finding_id: envelope.id, deliveryCount, err: (err as Error).message }, 'finding handler failed on the last delivery; giving up');
        ctx.term(`handler failed ${deliveryCount} times`);
        o.onDeadLetter?.(envelope.data, err, ctx);
      } else {
        logger.warn({ finding_id: envelope.id, deliveryCount, err: (err as Error).message }, 'finding handler failed; will redeliver');
        ctx.nak();
      }
    }
  };

  const closed = (async () => {
    for await (const m of messages) await handle(m);
  })().catch((err: unknown) => {
    logger.error({ err: (err as Error).message }, 'findings consumer stopped');
  });

  let stopping: Promise<void> | null = null;
  return {
    durable: o.durable,
    serverFilters: plan.serverFilters,
    clientSideFiltering: plan.clientMatch !== null,
    closed,
    stop() {
      stopping ??= (async () => {
        messages.stop();
        await closed;
        if (owned && !nc.isClosed()) await nc.drain();
      })();
      return stopping;
    },
  };
}
