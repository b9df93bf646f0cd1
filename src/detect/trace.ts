/**
 * What a rule saw and why it did or did not fire, for `tap` and for `rules test` failures. The
 * engine calls a tracer only when one is installed (one null check per record otherwise), so the
 * hot path pays nothing while nobody watches.
 */
import type { LogRecord } from '../model/log-record.ts';
import type { CompiledRule } from './compile.ts';
import type { Signal } from './signal.ts';

/**
 * Why a rule whose patterns matched a record did or did not raise a signal from it:
 * - `signalled`: the record raised a signal;
 * - `below_threshold`: counted, but the rule's threshold within its window is not reached yet;
 * - `excluded`: an `exclude` pattern vetoed the match (a near miss);
 * - `grouped`: a higher-priority rule of the same group claimed the record.
 */
export type MatchVerdict = 'signalled' | 'below_threshold' | 'excluded' | 'grouped';

/**
 * What the findings lifecycle did with a signal: a finding (`observed`: a new episode, a severity
 * rise, or a re-observation after the suppression window), a repeat inside the suppression window
 * (`suppressed`), or a condition that only feeds correlations (`no_emit`).
 */
export type SignalOutcome = 'observed' | 'suppressed' | 'no_emit';

export interface EngineTracer {
  /** Every record reaching the detectors, after parsing (and before any rule ran). */
  record?(r: LogRecord): void;
  /** A pattern rule matched `r` (selector passed, a pattern hit) and this is what came of it. */
  match?(rule: CompiledRule, r: LogRecord, verdict: MatchVerdict): void;
  /** A signal reached the lifecycle. */
  signal?(s: Signal, outcome: SignalOutcome): void;
}

/** Several tracers as one (tap clients and a rules-test trace can watch at once). */
export function fanOutTracer(tracers: readonly EngineTracer[]): EngineTracer | null {
  if (tracers.length === 0) return null;
  if (tracers.length === 1) return tracers[0]!;
  return {
    record: (r) => {
      for (const t of tracers) t.record?.(r);
    },
    match: (rule, r, v) => {
      for (const t of tracers) t.match?.(rule, r, v);
    },
    signal: (s, o) => {
      for (const t of tracers) t.signal?.(s, o);
    },
  };
}
