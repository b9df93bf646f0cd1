import type { Observable } from 'rxjs';
import type { LogRecord, SourceKind } from '../model/log-record.ts';
import type { Domain, Severity } from '../model/finding.ts';

/** How findings are grouped: one episode per rule and scope key. */
export type ScopeLevel = 'cluster' | 'namespace' | 'workload' | 'pod' | 'container' | 'node';

/** A duration as milliseconds or a string like "30s", "5m", "1h". */
export type Duration = number | string;

/**
 * A pattern. In TypeScript pipelines (trusted code) a RegExp is used as is. A string is a
 * case-insensitive substring. `{ regex }` is compiled with RE2 semantics (linear time): the
 * only form data-only operator rules may use.
 */
export type Pattern = string | RegExp | { regex: string; caseSensitive?: boolean } | { contains: string; caseSensitive?: boolean };

/** Which records a rule looks at. Every listed field must match. */
export interface Selector {
  /** logs = pod/file/journal/replay lines; events = Kubernetes events; status = pod status records. */
  source?: 'logs' | 'events' | 'status' | 'any' | Array<'logs' | 'events' | 'status'>;
  namespace?: Pattern | string[];
  workload?: Pattern | string[];
  pod?: Pattern | string[];
  container?: Pattern | string[];
  node?: Pattern | string[];
  app?: Pattern | string[];
  component?: Pattern | string[];
  service?: Pattern | string[];
  cluster?: Pattern | string[];
  /** Event reason (events only), exact match against any of the list. */
  reason?: string[];
  /** Event type (events only). */
  eventType?: 'Normal' | 'Warning';
  /** Parsed level must be one of these. */
  level?: Array<LogRecord['level']>;
  /** Involved object kind for events (Pod, Node, …). */
  objectKind?: string[];
}

export interface RuleCommon {
  id: string;
  version?: string;
  incident_type: string;
  domain: Domain;
  severity: Severity;
  /** 0..1, default per rule kind. */
  confidence?: number;
  scope?: ScopeLevel;
  selector?: Selector;
  /** Routing labels copied onto the finding. */
  labels?: Record<string, string>;
  /** No re-emit of an active finding within this window unless severity rises. Default 30m. */
  suppressFor?: Duration;
  /** Recovered once the condition has been clear this long. Default 5m. */
  quietFor?: Duration;
  /**
   * A condition that is a state, not a stream of lines (a crash loop, a node condition): a record
   * at the rule's scope matching this ends the open episode at once (`recovered` at its time), e.g.
   * the pod status saying the container no longer waits, or `NodeHasNoDiskPressure`. Quiet time
   * (`quietFor`) then only bounds an episode whose end was never seen.
   */
  clearedBy?: Pattern | Pattern[];
  /** false: a condition that only feeds correlation rules, never a finding of its own. */
  emit?: boolean;
  /** Emit a `recovered` finding when the episode ends (default true; false for one-shot rules like new_pattern). */
  recovers?: boolean;
  /**
   * Rules sharing a group compete: for one record only the matching rule with the lowest
   * priority number signals. Lets "connection refused" inside a probe-failure event count as
   * probe_failed rather than also as dependency_refused.
   */
  group?: string;
  priority?: number;
  /** Raise severity once the episode's count reaches a threshold. */
  escalate?: Array<{ count: number; severity: Severity }>;
  /** Readable name of what is counted, used in summaries ("LDAP timeouts"). */
  title?: string;
}

export interface SignatureRule extends RuleCommon {
  kind: 'signature';
  match: Pattern | Pattern[];
  /** Patterns that veto a match (near misses). */
  exclude?: Pattern | Pattern[];
  /** Occurrences needed within `window` (default 1). */
  threshold?: number;
  window?: Duration;
}

export interface RateRule extends RuleCommon {
  kind: 'rate';
  match: Pattern | Pattern[];
  exclude?: Pattern | Pattern[];
  threshold: number;
  window: Duration;
}

export interface SpikeRule extends RuleCommon {
  kind: 'spike';
  /** Count records matching these (default: all records passing the selector). */
  match?: Pattern | Pattern[];
  /** Bucket width of the rate series (default 1m). */
  bucket?: Duration;
  /** Minimum count in a bucket before anything is a spike (default 10). */
  minCount?: number;
  /** Count must be at least factor × baseline (default 3). */
  factor?: number;
  /** And this many standard deviations above the baseline (default 4). */
  zScore?: number;
  /** Buckets of history before the rule may fire (default 10). */
  warmupBuckets?: number;
  /** EWMA smoothing per bucket (default 0.1 ≈ ten buckets of memory). */
  alpha?: number;
  /** Track per-template baselines and name the template that spiked (default true). */
  templates?: boolean;
}

export interface AbsentRule extends RuleCommon {
  kind: 'absent';
  match?: Pattern | Pattern[];
  /** Silence longer than this fires. */
  for: Duration;
  /** The stream must have logged at least this many lines before (default 10). */
  minPriorCount?: number;
}

export interface CorrelationCondition {
  /** Matches signals of this incident type … */
  incident?: string;
  /** … or of this rule id. */
  rule?: string;
  /** Occurrences needed within the window (default 1). */
  minCount?: number;
  /** Restrict to signals whose scope matches. */
  where?: Partial<Record<'namespace' | 'workload' | 'pod' | 'container' | 'node', Pattern>>;
}

export interface CorrelateRule extends RuleCommon {
  kind: 'correlate';
  conditions: CorrelationCondition[];
  window: Duration;
  /** Which scopes count as related: same node, same namespace, or anywhere in the cluster (dependency → dependents). */
  on: 'node' | 'namespace' | 'workload' | 'cluster';
}

export interface NewPatternRule extends RuleCommon {
  kind: 'new_pattern';
  /** No findings for a workload until it has been observed this long (default 10m). */
  warmup?: Duration;
  /** Templates per workload remembered (default 1000). */
  maxTemplatesPerScope?: number;
}

/** What a custom stage emits: a condition on a record (the engine fills in scope and counts). */
export interface CustomSignal {
  record: LogRecord;
  count?: number;
  severity?: Severity;
  summary?: string;
  details?: Record<string, string | number | boolean>;
}

export interface CustomRule extends RuleCommon {
  kind: 'custom';
  /** Receives every record passing the selector, in order; returns conditions. Runs synchronously in process. */
  operator: (records$: Observable<LogRecord>) => Observable<CustomSignal>;
}

/**
 * The second stage: a warning-or-worse line that no emitting pattern rule matched is typed by a
 * classifier shared by a set of these rules, one per incident type it can name (see
 * `src/detect/second-stage.ts` and `pipelines/second-stage.ts`); the rule of the named type signals.
 */
export interface ClassifyRule extends RuleCommon {
  kind: 'classify';
  /** The shared classifier (its thresholds and model identity are part of the rule's definition). */
  classifier: { readonly trainedOn: string; readonly minPosterior: number; readonly minMargin: number; readonly size: number; labelOf(r: LogRecord, text: string): string | null };
}

export type Rule = SignatureRule | RateRule | SpikeRule | AbsentRule | CorrelateRule | NewPatternRule | CustomRule | ClassifyRule;

export interface RuleSet {
  name: string;
  rules: Rule[];
}

export const SOURCE_OF_KIND: Readonly<Record<SourceKind, 'logs' | 'events' | 'status'>> = {
  pod: 'logs',
  file: 'logs',
  journal: 'logs',
  replay: 'logs',
  event: 'events',
  pod_status: 'status',
};
