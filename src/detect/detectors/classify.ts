import type { LogRecord } from '../../model/log-record.ts';
import type { CompiledRule } from '../compile.ts';
import { scopeKey } from '../scope.ts';
import type { Emit, UnclaimedDetector } from '../signal.ts';
import type { ClassifyRule } from '../types.ts';
import { recordSignal } from './keyed-state.ts';

/** classify: signals when the rule's shared classifier names this rule's incident type. */
export class ClassifyDetector implements UnclaimedDetector {
  readonly input = 'unclaimed';
  readonly rule: CompiledRule;
  private readonly classifier: ClassifyRule['classifier'];

  constructor(rule: CompiledRule) {
    this.rule = rule;
    this.classifier = (rule.spec as ClassifyRule).classifier;
  }

  onRecord(r: LogRecord, text: string, emit: Emit): void {
    if (this.classifier.labelOf(r, text) !== this.rule.incident_type) return;
    emit(recordSignal(this.rule, scopeKey(this.rule.scope, r), r, {
      count: 1,
      severity: this.rule.severity,
      confidence: this.rule.confidence,
      details: { detector: 'second-stage classifier', model: this.classifier.trainedOn.slice(0, 12) },
    }));
  }

  size(): number {
    return this.classifier.size;
  }
}
