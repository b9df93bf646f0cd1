import type { LogRecord } from '../model/log-record.ts';
import type { Finding } from '../model/finding.ts';

/**
 * A log sink (Loki). write() never blocks the caller: the sink queues within a stated bound
 * (memory bytes + optional disk spool) and, when both are full, drops the oldest and counts it.
 * Delivery is acknowledged through onDelivered so sources advance their cursors only after a 2xx.
 */
export interface LogSink {
  readonly name: string;
  write(records: readonly LogRecord[]): void;
  onDelivered(listener: (records: readonly LogRecord[]) => void): void;
  /** 0 (idle) … 1 (queue full): sources may slow down when it is high. */
  pressure(): number;
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
