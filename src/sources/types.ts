import type { Observable } from 'rxjs';
import type { LogRecord } from '../model/log-record.ts';

/**
 * A source turns something that logs into batches of LogRecords. It knows nothing of sinks:
 * the pipeline calls acknowledge() with records a sink has durably accepted, and only then may the
 * source advance (and persist) its cursors.
 */
export interface Source {
  readonly name: string;
  /** Batches of records in per-stream timestamp order. Completes when the source ends (replay) or is stopped. */
  readonly records$: Observable<LogRecord[]>;
  start(): Promise<void>;
  stop(): Promise<void>;
  acknowledge(records: readonly LogRecord[]): void;
  /**
   * Persists what acknowledgements arrived after stop(): the sinks' last deliveries at shutdown come
   * after the sources stopped reading, and their cursors must not be lost (a restart would re-send).
   */
  flushState?(): Promise<void>;
  /** For /readyz: null when healthy, else a short reason. */
  unready(): string | null;
}
