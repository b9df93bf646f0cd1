/**
 * Finding: the public, versioned contract Robot SRE consumes.
 * The JSON Schema in finding.schema.json is the normative description; keep both in step.
 */

export const FINDING_SCHEMA_VERSION = '1.0' as const;

export type Domain =
  | 'release'
  | 'infrastructure'
  | 'runtime'
  | 'security'
  | 'identity'
  | 'application';

export type Severity = 'info' | 'warning' | 'error' | 'critical';
export const SEVERITY_ORDER: Readonly<Record<Severity, number>> = { info: 0, warning: 1, error: 2, critical: 3 };

export type FindingStatus = 'observed' | 'recovered';

export interface ResourceScope {
  cluster: string;
  namespace: string;
  workload?: string;
  workload_kind?: string;
  pod?: string;
  container?: string;
  node?: string;
  /** For event-derived findings: the involved object's kind and name. */
  kind?: string;
  name?: string;
}

export interface EvidenceLine {
  ts: string;
  /** Redacted, at most 512 bytes. */
  line: string;
  pod?: string;
  container?: string;
}

export interface Evidence {
  /** At most 5 redacted sample lines. */
  lines: EvidenceLine[];
  /** The log template(s) behind the finding with their counts in the window. */
  templates: Array<{ template: string; count: number }>;
  /** Where the raw lines are: a LogQL query and the time range to run it over. */
  loki: { query: string; start: string; end: string };
  /** Small numeric/string facts (rate, baseline, threshold, related findings). */
  details?: Record<string, string | number | boolean>;
}

export interface Finding {
  schema_version: typeof FINDING_SCHEMA_VERSION;
  finding_id: string;
  source: string;
  domain: Domain;
  incident_type: string;
  severity: Severity;
  confidence: number;
  summary: string;
  evidence: Evidence;
  resource_scope: ResourceScope;
  dedupe_key: string;
  observed_at: string;
  rule: { id: string; version: string };
  status: FindingStatus;
  first_seen: string;
  last_seen: string;
  count: number;
  /** Routing labels from the rule (team, runbook, …). */
  labels?: Record<string, string>;
}
