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
  /**
   * A ready request for the evidence-bundle server (POST /v1/bundles, docs/bundles.md): the pods or
   * host services behind the finding and a window around its episode. Absent when the finding names
   * no pod or service (a node or cluster condition). The SDK's `fetchBundle(finding, …)` sends it.
   */
  bundle?: BundleRequest;
}

/** A pod the bundle collects (Kubernetes mode). */
export interface BundlePodRef {
  namespace: string;
  pod: string;
}

/**
 * The body of POST /v1/bundles as a finding carries it. Kubernetes findings name their pods;
 * findings of a host without Kubernetes name their services (`target.kind: "services"`), and carry
 * a time window only when a journal is among their sources (file logs are read by last N lines).
 */
export interface BundleRequest {
  /** Absolute, UTC, at most one hour: from 5 min before the episode's first line to 1 min after its last. */
  timeWindow?: { start: string; end: string };
  target: { pods: BundlePodRef[] } | { kind: 'services'; services: string[] };
  include: {
    logs: { enabled: boolean; tailLines?: number; previous?: boolean };
    events?: { enabled: boolean };
    metrics: { enabled: boolean };
  };
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
