/**
 * robot-sre-detector/consumer: what Robot SRE imports to consume findings.
 *
 *   import { subscribeFindings } from 'robot-sre-detector/consumer';
 *   const sub = await subscribeFindings({
 *     nats: { servers: 'nats://nats:4222', credsFile: '/etc/nats/robot-sre.creds' },
 *     durable: 'robot-sre', namespaces: ['shop'], events: ['observed'],
 *     handler: async (finding, ctx) => { await triage(finding); },   // return = ack, throw = nak with backoff
 *   });
 *   process.on('SIGTERM', () => void sub.stop());
 *
 * See docs/findings.md for the wire format, subjects and stream layout.
 */
export type {
  BundlePodRef,
  BundleRequest,
  Domain,
  Evidence,
  EvidenceLine,
  Finding,
  FindingStatus,
  ResourceScope,
  Severity,
} from '../model/finding.ts';
export { FINDING_SCHEMA_VERSION, SEVERITY_ORDER } from '../model/finding.ts';
export type { FindingEnvelope, SubjectFilter } from '../nats/envelope.ts';
export {
  FINDING_DATASCHEMA,
  FINDING_EVENT_TYPES,
  FINDINGS_SUBJECT_ROOT,
  InvalidEnvelopeError,
  decodeEnvelope,
  findingFilterSubject,
  findingSubject,
  subjectToken,
} from '../nats/envelope.ts';
export type { NatsConnectOptions, NatsTlsOptions } from '../nats/connection.ts';
export { connectNats } from '../nats/connection.ts';
export { FINDINGS_STREAM } from '../nats/streams.ts';
export type { FilterPlan, FindingSelector } from './filters.ts';
export { planFilters, supportsMultiFilter } from './filters.ts';
export type { FindingContext, FindingHandler, FindingSubscription, SubscribeFindingsOptions } from './subscribe.ts';
export { subscribeFindings } from './subscribe.ts';
export type { Tail, TailOptions } from './tail.ts';
export { tailFindings } from './tail.ts';
export type {
  BundleEventRecord,
  BundleLogRecord,
  BundleLogSummaryRecord,
  BundleMetaRecord,
  BundleMetricsRecord,
  BundleRecord,
  FetchBundleOptions,
  FetchedBundle,
} from './bundle.ts';
export { BundleFetchError, fetchBundle, findingBundleRequest } from './bundle.ts';
