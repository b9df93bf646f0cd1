/**
 * The JetStream layout the detector provisions (`robot-sre-detector streams apply`) and an
 * idempotent apply: create what is missing, update only fields that differ, never delete a
 * stream, and refuse to shrink limits (which would silently drop stored messages) unless asked.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

const MiB = 1024 * 1024;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const FINDINGS_STREAM = 'OPS_FINDINGS';
export const STATE_BUCKET = 'robot_sre_detector_state';

export interface StreamSpec {
  name: string;
  description: string;
  subjects: string[];
  maxAgeMs: number;
  maxBytes: number;
  maxMsgSize: number;
  duplicateWindowMs: number;
}

export interface KvSpec {
  bucket: string;
  description: string;
  history: number;
  /** 0 = keys never expire. */
  ttlMs: number;
  maxBytes: number;
  maxValueSize: number;
}

export interface LayoutOptions {
  /** JetStream replicas (1 on a single NATS server; 3 on a NATS cluster). */
  replicas?: number;
  storage?: 'file' | 'memory';
}

/**
 * Findings are short-lived signals (days); incidents and approvals are kept a month for review;
 * remediations longest, as the audit trail of what the automation changed. Byte limits keep a
 * small cluster's NATS volume bounded (≈1.7 GiB for the whole layout).
 */
export const DEFAULT_STREAMS: readonly StreamSpec[] = [
  {
    name: FINDINGS_STREAM,
    description: 'robot-sre-detector findings (CloudEvents JSON, no raw log lines)',
    subjects: ['ops.findings.>'],
    maxAgeMs: 3 * DAY,
    maxBytes: 256 * MiB,
    // Envelopes are capped at 16 KiB in code; the stream refuses anything far bigger as a second fence.
    maxMsgSize: 64 * 1024,
    duplicateWindowMs: 10 * MINUTE,
  },
  {
    name: 'OPS_INCIDENTS',
    description: 'Robot SRE incidents (correlated findings)',
    subjects: ['ops.incidents.>'],
    maxAgeMs: 30 * DAY,
    maxBytes: 256 * MiB,
    maxMsgSize: 256 * 1024,
    duplicateWindowMs: 10 * MINUTE,
  },
  {
    name: 'OPS_APPROVALS',
    description: 'Robot SRE approval requests and decisions',
    subjects: ['ops.approvals.>'],
    maxAgeMs: 30 * DAY,
    maxBytes: 64 * MiB,
    maxMsgSize: 64 * 1024,
    duplicateWindowMs: 10 * MINUTE,
  },
  {
    name: 'OPS_REMEDIATIONS',
    description: 'Robot SRE remediations (audit trail)',
    subjects: ['ops.remediations.>'],
    maxAgeMs: 400 * DAY,
    maxBytes: 1024 * MiB,
    maxMsgSize: 256 * 1024,
    duplicateWindowMs: 10 * MINUTE,
  },
  {
    name: 'OPS_CHATOPS',
    description: 'Robot SRE chat-ops messages',
    subjects: ['ops.chatops.>'],
    maxAgeMs: 7 * DAY,
    maxBytes: 128 * MiB,
    maxMsgSize: 64 * 1024,
    duplicateWindowMs: 10 * MINUTE,
  },
];

export const DEFAULT_STATE_BUCKET: KvSpec = {
  bucket: STATE_BUCKET,
  description: 'robot-sre-detector state: log positions, miner snapshots',
  history: 1,
  // Cursors of containers gone for a month are of no use; the TTL bounds the bucket's key count.
  ttlMs: 30 * DAY,
  maxBytes: 256 * MiB,
  maxValueSize: 1 * MiB,
};

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged' | 'would-create' | 'would-update' | 'blocked' | 'error';

export interface ApplyResult {
  name: string;
  kind: 'stream' | 'kv';
  action: ApplyAction;
  changes: FieldChange[];
  error?: string;
}

export interface ApplyOptions extends LayoutOptions {
  streams?: readonly StreamSpec[];
  kv?: KvSpec | null;
  dryRun?: boolean;
  /** Allow lowering max_age/max_bytes/… (drops stored messages beyond the new limit). */
  allowShrink?: boolean;
}

/** The stream config we own; fields not listed here are left to the server and other tools. */
export function desiredStreamConfig(spec: StreamSpec, opts: LayoutOptions = {}): StreamConfig {
  return {
    name: spec.name,
    description: spec.description,
    subjects: [...spec.subjects],
    retention: RetentionPolicy.Limits,
    storage: opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes,
    max_msgs: -1,
    max_msg_size: spec.maxMsgSize,
    max_msgs_per_subject: -1,
    duplicate_window: nanos(spec.duplicateWindowMs),
    num_replicas: opts.replicas ?? 1,
  } as StreamConfig;
}

/** The fields of the KV backing stream that the bucket spec controls. */
export function desiredKvStreamFields(spec: KvSpec, opts: LayoutOptions = {}): Partial<StreamConfig> {
  return {
    description: spec.description,
    max_msgs_per_subject: spec.history,
    max_age: nanos(spec.ttlMs),
    max_bytes: spec.maxBytes,
    max_msg_size: spec.maxValueSize,
    num_replicas: opts.replicas ?? 1,
    storage: opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
  };
}

/** Fields the server cannot change in place: a difference is reported, never "fixed" by deleting. */
const IMMUTABLE = new Set(['storage', 'retention']);
/** Lowering one of these drops messages already stored. Zero and -1 mean unlimited. */
const SHRINKABLE = new Set(['max_age', 'max_bytes', 'max_msgs', 'max_msgs_per_subject']);

const unlimited = (v: unknown): number => (typeof v === 'number' && v > 0 ? v : Number.POSITIVE_INFINITY);

export function diffConfig(desired: Partial<StreamConfig>, current: Partial<StreamConfig>): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const [field, to] of Object.entries(desired)) {
    if (field === 'name') continue;
    const from = (current as Record<string, unknown>)[field];
    if (JSON.stringify(norm(field, from)) !== JSON.stringify(norm(field, to))) changes.push({ field, from, to });
  }
  return changes;
}

function norm(field: string, v: unknown): unknown {
  if (field === 'subjects' && Array.isArray(v)) return [...(v as string[])].sort();
  if (field === 'description' && v === undefined) return '';
  if (SHRINKABLE.has(field) || field === 'max_msg_size') return unlimited(v) === Number.POSITIVE_INFINITY ? -1 : v;
  return v;
}

function classify(changes: FieldChange[], allowShrink: boolean): string | null {
  const immutable = changes.filter((c) => IMMUTABLE.has(c.field));
  if (immutable.length) {
    return `cannot change ${immutable.map((c) => c.field).join(', ')} in place; migrate the stream by hand (apply never deletes data)`;
  }
  if (!allowShrink) {
    const shrink = changes.filter((c) => SHRINKABLE.has(c.field) && unlimited(c.to) < unlimited(c.from));
    if (shrink.length) {
      return `lowering ${shrink.map((c) => c.field).join(', ')} would drop stored messages; rerun with --allow-shrink`;
    }
  }
  return null;
}

async function currentConfig(jsm: JetStreamManager, name: string): Promise<StreamConfig | null> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10059) return null; // stream not found
    throw err;
  }
}

async function applyStream(jsm: JetStreamManager, spec: StreamSpec, o: ApplyOptions): Promise<ApplyResult> {
  const desired = desiredStreamConfig(spec, o);
  const base = { name: spec.name, kind: 'stream' as const };
  const current = await currentConfig(jsm, spec.name);
  if (!current) {
    if (o.dryRun) return { ...base, action: 'would-create', changes: [] };
    await jsm.streams.add(desired);
    return { ...base, action: 'created', changes: [] };
  }
  const changes = diffConfig(desired, current);
  if (!changes.length) return { ...base, action: 'unchanged', changes };
  const blocked = classify(changes, o.allowShrink ?? false);
  if (blocked) return { ...base, action: 'blocked', changes, error: blocked };
  if (o.dryRun) return { ...base, action: 'would-update', changes };
  const { name: _name, retention: _r, storage: _s, ...updatable } = desired;
  await jsm.streams.update(spec.name, updatable);
  return { ...base, action: 'updated', changes };
}

async function applyKv(nc: NatsConnection, jsm: JetStreamManager, spec: KvSpec, o: ApplyOptions): Promise<ApplyResult> {
  const streamName = `KV_${spec.bucket}`;
  const base = { name: spec.bucket, kind: 'kv' as const };
  const current = await currentConfig(jsm, streamName);
  if (!current) {
    if (o.dryRun) return { ...base, action: 'would-create', changes: [] };
    await new Kvm(nc).create(spec.bucket, {
      description: spec.description,
      history: spec.history,
      ttl: spec.ttlMs,
      max_bytes: spec.maxBytes,
      maxValueSize: spec.maxValueSize,
      replicas: o.replicas ?? 1,
      storage: o.storage === 'memory' ? StorageType.Memory : StorageType.File,
    });
    return { ...base, action: 'created', changes: [] };
  }
  const desired = desiredKvStreamFields(spec, o);
  const changes = diffConfig(desired, current);
  if (!changes.length) return { ...base, action: 'unchanged', changes };
  const blocked = classify(changes, o.allowShrink ?? false);
  if (blocked) return { ...base, action: 'blocked', changes, error: blocked };
  if (o.dryRun) return { ...base, action: 'would-update', changes };
  const { storage: _s, ...updatable } = desired;
  await jsm.streams.update(streamName, updatable);
  return { ...base, action: 'updated', changes };
}

/** Apply the layout stream by stream; one failing stream does not stop the others. */
export async function applyLayout(nc: NatsConnection, o: ApplyOptions = {}): Promise<ApplyResult[]> {
  const jsm = await jetstreamManager(nc);
  const results: ApplyResult[] = [];
  for (const spec of o.streams ?? DEFAULT_STREAMS) {
    try {
      results.push(await applyStream(jsm, spec, o));
    } catch (err) {
      results.push({ name: spec.name, kind: 'stream', action: 'error', changes: [], error: (err as Error).message });
    }
  }
  const kv = o.kv === undefined ? DEFAULT_STATE_BUCKET : o.kv;
  if (kv) {
    try {
      results.push(await applyKv(nc, jsm, kv, o));
    } catch (err) {
      results.push({ name: kv.bucket, kind: 'kv', action: 'error', changes: [], error: (err as Error).message });
    }
  }
  return results;
}
