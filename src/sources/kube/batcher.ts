import { Subject } from 'rxjs';
import type { LogRecord } from '../../model/log-record.ts';

/**
 * Gathers records from many streams into batches (up to maxRecords, or whatever arrived within maxWaitMs),
 * so 500 quiet containers do not each push one-record batches down the pipeline. Order within a stream is
 * kept because records are appended in arrival order.
 */
export class Batcher {
  readonly subject = new Subject<LogRecord[]>();
  private buf: LogRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly maxRecords: number;
  private readonly maxWaitMs: number;
  private closed = false;

  constructor(maxRecords = 500, maxWaitMs = 50) {
    this.maxRecords = maxRecords;
    this.maxWaitMs = maxWaitMs;
  }

  push(records: readonly LogRecord[]): void {
    if (this.closed || records.length === 0) return;
    for (const r of records) this.buf.push(r);
    if (this.buf.length >= this.maxRecords) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buf.length === 0) return;
    const out = this.buf;
    this.buf = [];
    this.subject.next(out);
  }

  complete(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.subject.complete();
  }
}
