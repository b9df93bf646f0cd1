import { Subject, type Subscription } from 'rxjs';
import type { LogRecord } from '../../model/log-record.ts';
import type { CompiledRule } from '../compile.ts';
import { severityFor } from '../compile.ts';
import { resourceScope, scopeKey } from '../scope.ts';
import type { Emit, RecordDetector, Signal } from '../signal.ts';
import type { CustomRule } from '../types.ts';

/**
 * custom: the rule's operator receives an Observable of the records its selector passes and
 * returns conditions. The engine drains what it emitted after each record, so synchronous
 * operators stay in event-time order; asynchronous ones are picked up at the next batch or tick.
 */
export class CustomDetector implements RecordDetector {
  readonly input = 'records';
  /** Operators may read record.template: the engine mines every record a custom stage sees. */
  readonly wantsTemplate = true;
  private readonly records = new Subject<LogRecord>();
  private readonly pending: Signal[] = [];
  private readonly sub: Subscription;
  private failed: Error | null = null;

  readonly rule: CompiledRule;

  constructor(rule: CompiledRule) {
    this.rule = rule;
    const spec = rule.spec as CustomRule;
    this.sub = spec.operator(this.records.asObservable()).subscribe({
      next: (c) => {
        const key = scopeKey(rule.scope, c.record);
        const count = c.count ?? 1;
        this.pending.push({
          rule,
          key: `${rule.id}|${key}`,
          scopeKey: key,
          scope: resourceScope(rule.scope, c.record),
          ts: c.record.tsMs,
          count,
          severity: c.severity ?? severityFor(rule, count),
          confidence: rule.confidence,
          record: c.record,
          ...(c.summary !== undefined ? { summary: c.summary } : {}),
          ...(c.details !== undefined ? { details: c.details } : {}),
        });
      },
      error: (err: unknown) => {
        // A broken custom stage must not take the pipeline down: it stops, and says why.
        this.failed = err instanceof Error ? err : new Error(String(err));
      },
    });
  }

  failure(): Error | null {
    return this.failed;
  }

  onRecord(r: LogRecord, _text: string, emit: Emit): void {
    if (this.failed) return;
    this.records.next(r);
    this.drain(emit);
  }

  onWatermark(_wm: number, emit: Emit): void {
    this.drain(emit);
  }

  private drain(emit: Emit): void {
    while (this.pending.length) emit(this.pending.shift()!);
  }

  close(): void {
    this.records.complete();
    this.sub.unsubscribe();
  }
}
