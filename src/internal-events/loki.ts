/** The Loki sink's conditions (src/sinks/loki/): each one call that counts and logs. */
import { metrics } from '../metrics.ts';
import { defineEvent } from './event.ts';

const component = 'loki';

export const lokiEvents = {
  /** Lines that will never reach Loki, by reason: ours (queue_full, spool_full, spool_corrupt, spool_error, shutdown, closed, invalid_record) and Loki's refusals (line_too_long, too_far_behind, …). */
  dropped: defineEvent<{ reason: string }>({
    component,
    level: 'warn',
    message: 'loki sink dropped records; see rsd_dropped_total{component="loki"}',
    count: ({ reason }, n) => metrics.dropped.inc({ component, reason }, n),
  }),
  /** A push answered with anything but a full acceptance (logged; the outcome decides what is counted). */
  pushNotAccepted: defineEvent<{ outcome: string; reason: string }>({ component, level: 'warn', message: 'loki push not fully accepted' }),
  /** A push that did not get an answer (connection refused, reset, timeout): retried. */
  pushFailed: defineEvent({ component, level: 'warn', message: 'loki push failed: will retry' }),
  /** Delivered batches over the held-acknowledgement bound: never acknowledged, re-read after a restart. */
  acksDiscarded: defineEvent<{ sink: string }>({
    component,
    level: 'warn',
    message: 'loki sink: delivered batches waiting for older ones exceed the bound; some will not be acknowledged (re-read after a restart, not lost)',
    count: ({ sink }, n) => metrics.sinkAcksDiscarded.inc({ sink }, n),
  }),
  spoolOpenFailed: defineEvent({ component, level: 'error', message: 'loki spool cannot be opened: running on the memory queue alone', everyMs: 0 }),
  /** The disk refused a spill, or a segment could not be read back: its lines are dropped (counted as spool_error). */
  spoolFailed: defineEvent({ component, level: 'error', message: 'loki spool write or read failed: batch dropped' }),
  /** A label value kept out of the stream labels (cardinality cap, too long): it goes to structured metadata. */
  labelDemoted: defineEvent<{ label: string; reason: string }>({
    component,
    level: 'warn',
    message: 'loki label value demoted to structured metadata',
    count: (l, n) => metrics.lokiLabelsDemoted.inc(l, n),
  }),
  invalidRecord: defineEvent({ component, level: 'warn', message: 'loki sink: record could not be converted' }),
};
