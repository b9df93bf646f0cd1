import type { LogRecord } from '../model/log-record.ts';
import type { ResourceScope, Severity } from '../model/finding.ts';
import type { CompiledRule } from './compile.ts';

/**
 * A condition raised by a detector at an event time. The findings lifecycle turns signals into
 * observed/recovered findings; correlation rules consume signals (not findings), so suppression
 * never hides a condition from a correlation.
 */
export interface Signal {
  rule: CompiledRule;
  /** rule id + scope key: the episode identity. */
  key: string;
  scopeKey: string;
  scope: ResourceScope;
  /** Event time (ms) of the condition. */
  ts: number;
  /** Occurrences this signal adds to the episode. */
  count: number;
  severity: Severity;
  confidence: number;
  record?: LogRecord;
  /** Replaces the generated summary when a detector knows better (spike, correlation). */
  summary?: string;
  details?: Record<string, string | number | boolean>;
  templates?: Array<{ template: string; count: number }>;
  /** Signals that make up a correlation (for evidence). */
  related?: Signal[];
}

export type Emit = (s: Signal) => void;

/** The template of a record, mined on first use (undefined when mining is off or failed). */
export type TemplateOf = (r: LogRecord) => LogRecord['template'];

export interface Detector {
  readonly rule: CompiledRule;
  /** Pattern detectors: test the text; the engine handles groups and the prefilter. */
  readonly patterns?: ReadonlyArray<{ test(text: string): boolean; prefilter?: string }>;
  readonly excludes?: ReadonlyArray<{ test(text: string): boolean }>;
  /** The engine mines the template of every record before onRecord (custom stages may read it). */
  readonly wantsTemplate?: boolean;
  /** Called for records passing the selector (and, for pattern detectors, matching). */
  onRecord?(r: LogRecord, text: string, emit: Emit, watermark: number): void;
  onWatermark?(wm: number, emit: Emit): void;
  onSignal?(s: Signal, emit: Emit): void;
  /** Bounded state size, for metrics. */
  size?(): number;
  snapshot?(): unknown;
  restore?(state: unknown): void;
}
