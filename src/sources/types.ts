import type { Observable } from 'rxjs';
import type { AckHandle, LogRecord } from '../model/log-record.ts';

/**
 * A source turns something that logs into batches of LogRecords. It knows nothing of sinks.
 *
 * Acknowledgement: every record whose delivery moves a cursor carries the source's handle
 * (`record.ack === source.acks`: one shared object, nothing allocated per record); the others
 * (pod status) carry none. A sink calls `acks.acknowledge(records)` once its store durably accepted
 * them (Loki: a 2xx), with this source's records only, in write order, at most once each (a record
 * may never be acknowledged: it is then re-read after a restart). Without a sink the pipeline does so
 * as soon as a batch is written. Only then may the source advance (and persist) its cursors. A
 * record may also come back from the sink's disk spool, found by `acks.id`, from this run or an
 * earlier one: the source checks that a position is still its own (a key it tracks, its generation).
 *
 * Back-pressure is a value, not a callback: sources that can wait read a `Pressure`
 * (src/delivery/pressure.ts, the log sink's queue fill 0…1) before they read more.
 */
export interface Source {
  readonly name: string;
  /** Batches of records in per-stream timestamp order. Completes when the source ends (replay) or is stopped. */
  readonly records$: Observable<LogRecord[]>;
  /** The handle on this source's records (id: the source's name); absent when nothing is acknowledged (replay). */
  readonly acks?: AckHandle;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Persists what acknowledgements arrived after stop(): the sinks' last deliveries at shutdown come
   * after the sources stopped reading, and their cursors must not be lost (a restart would re-send).
   */
  flushState?(): Promise<void>;
  /** For /readyz: null when healthy, else a short reason. */
  unready(): string | null;
}
