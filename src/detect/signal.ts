import type { LogRecord } from '../model/log-record.ts';
import type { Finding, ResourceScope, Severity } from '../model/finding.ts';
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

/**
 * How the engine feeds a detector; each detector names exactly one:
 * - `patterns`: lines that match one of its `patterns` (and none of its `excludes`). These join the
 *   literal prefilter and rule groups. Signatures and rates, and absences with a match.
 * - `records`: every record its selector passes. Spikes, new patterns, absences of a whole
 *   stream, custom stages.
 * - `signals`: the conditions other rules raised. Correlations.
 * - `unclaimed`: warning-or-worse records that no emitting pattern rule matched, with their template
 *   mined. The second stage (`classify`).
 */
export type DetectorInput = 'patterns' | 'records' | 'signals' | 'unclaimed';

interface DetectorBase {
  readonly rule: CompiledRule;
  /** Event time advanced (windows close, absences are checked, custom stages drain). */
  onWatermark?(wm: number, emit: Emit): void;
  /** Bounded state size, for metrics. */
  size?(): number;
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /** Why the detector stopped (a custom stage that threw), for /readyz; null while it works. */
  failure?(): Error | null;
  /** Releases what it holds (a custom stage's subscription) when its rule is replaced or removed. */
  close?(): void;
}

export interface PatternDetector extends DetectorBase {
  readonly input: 'patterns';
  /** The engine tests these (after the prefilter), then calls onRecord for a match. */
  readonly patterns: ReadonlyArray<{ test(text: string): boolean; prefilter?: string }>;
  readonly excludes?: ReadonlyArray<{ test(text: string): boolean }>;
  onRecord(r: LogRecord, text: string, emit: Emit, watermark: number): void;
}

export interface RecordDetector extends DetectorBase {
  readonly input: 'records';
  /** The engine mines the template of every record before onRecord (custom stages may read it). */
  readonly wantsTemplate?: boolean;
  onRecord(r: LogRecord, text: string, emit: Emit, watermark: number): void;
}

export interface SignalDetector extends DetectorBase {
  readonly input: 'signals';
  onSignal(s: Signal, emit: Emit): void;
}

export interface UnclaimedDetector extends DetectorBase {
  readonly input: 'unclaimed';
  onRecord(r: LogRecord, text: string, emit: Emit, watermark: number): void;
}

export type Detector = PatternDetector | RecordDetector | SignalDetector | UnclaimedDetector;

/**
 * What the engine hands its conditions to, and asks about episodes: the findings lifecycle
 * (src/findings/lifecycle.ts). The engine never imports it; src/pipeline.ts (`detectionEngine`)
 * composes the two, so `detect/` does not depend on `findings/`.
 * `State` is the tracker's serializable snapshot (the lifecycle's LifecycleState).
 */
export interface EpisodeTracker<State = unknown> {
  /** Earliest watermark at which onWatermark has anything to do (recoveries, sweeps). */
  readonly nextDue: number;
  /** Open episodes. */
  readonly active: number;
  /** Moves whenever an episode changed (the state saver compares it). */
  readonly changes: number;
  onSignal(s: Signal): Finding | null;
  onWatermark(wm: number): Finding[];
  /** A record that ends a condition (clearedBy): the episode `key` recovers now. */
  clear(key: string, ts: number, line: string): Finding | null;
  /** Whether a signal of episode `key` should carry its record's template. */
  templateWanted(key: string): boolean;
  /** Rules changed or removed by a reload: their open episodes end without a finding. */
  forgetRules(ruleIds: ReadonlySet<string>): number;
  snapshot(fingerprintOf: (ruleId: string) => string | undefined): State;
  restore(state: State, ruleOf: (ruleId: string, fingerprint: string) => CompiledRule | undefined): number;
}
