import type { AckHandle, LogRecord } from '../model/log-record.ts';
import type { Finding } from '../model/finding.ts';
import type { Pressure } from '../delivery/pressure.ts';

/**
 * A log sink (Loki). write() never blocks the caller: the sink queues within a stated bound
 * (memory bytes + optional disk spool) and, when both are full, drops the oldest and counts it.
 *
 * Acknowledgement: a record carrying a handle (`record.ack`) is handed back to that handle
 * (src/delivery/acks.ts `acknowledge`) once the store accepted it, in write order: never while an
 * older record is still queued or in flight. Entries the store refused one by one (Loki's 400) are
 * acknowledged too (re-reading would not change them); a request never ingested (401, 413) is not.
 */
export interface LogSink {
  readonly name: string;
  write(records: readonly LogRecord[]): void;
  /**
   * The pipeline's sources' handles: records read back from a disk tier carry only their handle's
   * id (this run's or a previous run's), and reach their source again through these.
   */
  register(handles: readonly AckHandle[]): void;
  /** How full the queue is (memory and spool): sources pause reading when it is high. */
  readonly pressure: Pressure;
  /** Push everything queued, within the deadline. */
  flush(deadlineMs: number): Promise<void>;
  close(deadlineMs: number): Promise<void>;
}

/** A findings sink (JetStream, stdout, webhook). Finding.finding_id is deterministic (see findings/lifecycle). */
export interface FindingSink {
  readonly name: string;
  publish(finding: Finding): void;
  flush(deadlineMs: number): Promise<void>;
  close(deadlineMs: number): Promise<void>;
}
