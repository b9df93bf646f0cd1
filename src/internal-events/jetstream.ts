/** The JetStream findings sink's conditions (src/sinks/jetstream.ts, jetstream-spool.ts): each one call that counts and logs. */
import { metrics } from '../metrics.ts';
import { defineEvent } from './event.ts';

const component = 'jetstream';

export const jetstreamEvents = {
  /** Findings that will never be published, by reason (overflow, shutdown, closed, too_large, invalid, rejected, spool_write_error, spool_read_error, spool_corrupt). */
  dropped: defineEvent<{ reason: string }>({
    component,
    level: 'warn',
    message: 'findings dropped; see rsd_dropped_total{component="jetstream"}',
    count: ({ reason }, n) => metrics.dropped.inc({ component, reason }, n),
    everyMs: 10_000,
  }),
  /** A spool write the disk refused (full, read-only): its findings are dropped (counted above), the spool goes on. */
  spoolWriteFailed: defineEvent({ component, level: 'warn', message: 'findings spool write failed; the spool goes on with the next write', everyMs: 10_000 }),
  /** A finding refused before queueing (too large for the stream, not encodable). */
  findingRefused: defineEvent<{ reason: string }>({ component, level: 'warn', message: 'finding refused' }),
  /** JetStream refused one message for good (e.g. above max_msg_size). */
  messageRejected: defineEvent({ component, level: 'error', message: 'JetStream refused a finding' }),
  /** A publish round without every PubAck: the queue keeps them and retries with backoff. */
  publishFailed: defineEvent({ component, level: 'warn', message: 'publishing findings failed; will retry' }),
};
