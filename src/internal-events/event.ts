/**
 * An internal event: one condition of one component, counted and logged by one call, so the metric,
 * its labels and the log fields cannot drift apart (Vector's internal_events, in small). The count is
 * exact; the log line is rate-limited per event and label set (once per interval, 60 s by default), so
 * a condition that repeats a million times costs one line a minute.
 */
import type { Logger } from 'pino';
import { log as rootLog } from '../logger.ts';
import { OncePerInterval } from './once.ts';

export type Level = 'info' | 'warn' | 'error';

export interface EventSpec<L extends Record<string, string>> {
  readonly component: string;
  readonly level: Level;
  readonly message: string;
  /** Counts `n` occurrences under `labels` (the metric this event owns), or nothing for log-only events. */
  readonly count?: (labels: L, n: number) => void;
  /** Log at most once per this many ms per label set; 0 logs every time (rare, important conditions). */
  readonly everyMs?: number;
}

export interface InternalEvent<L extends Record<string, string>> {
  /**
   * `n` occurrences (lines, batches…) with `labels`; `fields` are extra log context (an error, a count);
   * `logger`: the component's own (a BuildContext's `log`, or one an SDK user passed, as a child bound to
   * `component`), else the events' logger, on which the event names the component itself.
   */
  (labels: L, n?: number, fields?: Record<string, unknown>, logger?: Pick<Logger, Level>): void;
  readonly spec: EventSpec<L>;
}

/** Where events log (tests swap it for a recording logger). */
let sink: Pick<Logger, Level> = rootLog;
export function setEventLogger(logger: Pick<Logger, Level>): void {
  sink = logger;
}

export function defineEvent<L extends Record<string, string> = Record<string, never>>(spec: EventSpec<L>): InternalEvent<L> {
  const once = new OncePerInterval(spec.everyMs ?? 60_000);
  const emit = (labels: L, n = 1, fields: Record<string, unknown> = {}, logger: Pick<Logger, Level> = sink): void => {
    spec.count?.(labels, n);
    const key = Object.values(labels).join('\u0000');
    if (spec.everyMs !== 0 && !once.allow(key)) return;
    const obj: Record<string, unknown> = { ...(logger === sink ? { component: spec.component } : {}), ...labels, ...(spec.count ? { n } : {}), ...fields };
    logger[spec.level](obj, spec.message);
  };
  return Object.assign(emit, { spec });
}
