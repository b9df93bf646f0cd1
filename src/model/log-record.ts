/**
 * LogRecord: the one internal shape every source produces and every sink and
 * detector consumes. Sources know nothing of sinks; this type is the contract.
 */

export type SourceKind = 'pod' | 'event' | 'pod_status' | 'file' | 'journal' | 'replay';
export type OutputStream = 'stdout' | 'stderr' | 'unknown';
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'unknown';

/**
 * Where a record came from. Cluster and namespace are always set (standalone: namespace = "default").
 * Sources share one Target object between the records of a container and must not change it once a
 * record carries it (derived keys are cached per object).
 */
export interface Target {
  cluster: string;
  namespace: string;
  pod?: string;
  container?: string;
  /** Container ID (e.g. "containerd://abc…"): the key of the source cursor. */
  containerId?: string;
  node?: string;
  /** Owning workload, resolved through ownerReferences (ReplicaSet → Deployment). */
  workload?: string;
  workloadKind?: string;
  app?: string;
  component?: string;
  /** Standalone mode: service name and file path or journald unit. */
  service?: string;
  file?: string;
}

/** A Kubernetes event carried as a record (kind = "event"). */
export interface EventInfo {
  uid: string;
  type: string; // Normal | Warning
  reason: string;
  /** Occurrences this record stands for: a recurrence 1 → 7 arrives as one record with count 6. */
  count: number;
  involvedObject: { kind: string; namespace?: string; name: string; uid?: string; fieldPath?: string };
  reportingComponent?: string;
}

export interface LogRecord {
  /** Original event timestamp string (RFC3339Nano), kept verbatim for Loki. */
  ts: string;
  /** Event time in epoch milliseconds: what windows and watermarks use. */
  tsMs: number;
  line: string;
  stream: OutputStream;
  kind: SourceKind;
  target: Target;
  /** Parsed level, from JSON/logfmt/klog fields or vocabulary; "unknown" if none. */
  level: Level;
  /** Fields parsed from JSON or logfmt lines (string values only, bounded). */
  fields?: Readonly<Record<string, string>>;
  /** The human message of a structured line (JSON msg/message, logfmt msg); the line itself otherwise. */
  message?: string;
  event?: EventInfo;
  /**
   * Set by the template miner, on demand: the engine mines a record when a detector or a finding
   * needs its template (warning-or-worse lines, records behind a signal, custom stages), so most
   * records of a healthy stream are never mined.
   */
  template?: { readonly id: string; readonly text: string };
  /** Why parsing degraded (e.g. "invalid_utf8", "broken_json", "truncated"); the line is still passed through. */
  malformed?: string;
  /** Source-specific position used to advance a cursor once a sink acknowledged the record. */
  position?: RecordPosition;
  /**
   * Whom a sink tells once the store accepted this record: the emitting source's handle, one object
   * shared by all its records. Absent: nothing waits for this record's delivery (replay, pod status).
   */
  ack?: AckHandle;
}

/**
 * A source's acknowledgement handle (src/delivery/acks.ts has the implementation and the router).
 * acknowledge() receives only records that carry this handle, at most once each, in the order they
 * were written to the sink, once the store accepted them; only then may the source advance and
 * persist its cursors. Serialized (a sink's disk spool) as its id, by which the sink finds the
 * handle again, also after a restart (src/sources/types.ts has the whole contract).
 */
export interface AckHandle {
  /** Stable across restarts and unique among the pipeline's sources (the source's name). */
  readonly id: string;
  acknowledge(records: readonly LogRecord[]): void;
  /** The id: what JSON.stringify writes for the handle. */
  toJSON(): string;
}

/** Cursor key + position: advanced only after the sink acknowledged delivery. */
export interface RecordPosition {
  /** Stable key, e.g. the container ID. */
  key: string;
  /** RFC3339Nano timestamp of the record. */
  ts: string;
}
