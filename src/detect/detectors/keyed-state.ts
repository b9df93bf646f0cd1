import { LRUCache } from 'lru-cache';
import type { LogRecord, Target } from '../../model/log-record.ts';
import { metrics } from '../../metrics.ts';
import type { CompiledRule } from '../compile.ts';
import { resourceScope, scopeKey } from '../scope.ts';
import type { ScopeLevel } from '../types.ts';
import type { Signal } from '../signal.ts';

export interface StateLimits {
  maxKeys: number;
  /** Event-time TTL of idle per-key state. */
  ttlMs: number;
}

/**
 * Per-key detector state: an LRU bounded in keys, whose TTL runs on event time (the engine's
 * clock), and whose evictions are counted per rule — the one shape every detector's state has.
 */
export function keyedState<V extends {}>(rule: CompiledRule, clock: { now(): number }, max: number, ttlMs: number): LRUCache<string, V> {
  return new LRUCache<string, V>({
    max,
    ttl: ttlMs,
    // The TTL is an idle timeout: a key in use stays (without this, lru-cache counts it from the
    // set, and a busy workload's spike baseline or absent history reset every TTL).
    updateAgeOnGet: true,
    ttlResolution: 0,
    perf: clock,
    dispose: (v, _k, reason) => {
      (v as Evictable).evicted = true;
      if (reason === 'evict') metrics.detectorStateEvictions.inc({ rule: rule.id });
    },
  });
}

/** State that keyedState marks when it leaves the map (evicted, expired, deleted or replaced). */
export interface Evictable {
  evicted?: boolean;
}

/**
 * Keyed state that detectors touch on every record (spike, new-pattern, absent): the same LRU,
 * fronted by a per-Target memo, so a record of a container seen moments ago costs one WeakMap probe
 * instead of a scope key and an LRU update. The memo holds a value only while it is in the map
 * (`evicted` unset), and hands it out for at most `touchMs` of event time before going through the
 * LRU again, which renews recency and the idle TTL. Recency is therefore approximate within
 * `touchMs` (≤ 60 s, and ≤ a tenth of the TTL), which only matters when the key bound is hit.
 */
export class RecordKeyedState<V extends Evictable> {
  readonly map: LRUCache<string, V>;
  private readonly memo = new WeakMap<Target, { value: V; at: number }>();
  private readonly touchMs: number;
  private readonly level: ScopeLevel;

  constructor(rule: CompiledRule, clock: { now(): number }, max: number, ttlMs: number) {
    this.map = keyedState<V>(rule, clock, max, ttlMs);
    this.level = rule.scope;
    this.touchMs = Math.min(60_000, ttlMs / 10);
  }

  /** The state of the record's scope, or undefined. */
  get(r: LogRecord): V | undefined {
    const m = this.memo.get(r.target);
    if (m !== undefined && m.value.evicted !== true && Math.abs(r.tsMs - m.at) < this.touchMs) return m.value;
    const value = this.map.get(scopeKey(this.level, r));
    if (value === undefined) return undefined;
    if (m !== undefined) {
      m.value = value;
      m.at = r.tsMs;
    } else this.memo.set(r.target, { value, at: r.tsMs });
    return value;
  }

  set(r: LogRecord, value: V): void {
    this.map.set(scopeKey(this.level, r), value);
    this.memo.set(r.target, { value, at: r.tsMs });
  }

  /** The state of the record's scope, created by `create` (pass one function, not a new closure per call) when absent. */
  getOrCreate(r: LogRecord, create: (r: LogRecord) => V): V {
    let v = this.get(r);
    if (v === undefined) {
      v = create(r);
      this.set(r, v);
    }
    return v;
  }

  get size(): number {
    return this.map.size;
  }
}

/** A signal for a record at a scope key; the caller adds what is specific to its rule kind. */
export function recordSignal(rule: CompiledRule, key: string, r: LogRecord, rest: Pick<Signal, 'count' | 'severity' | 'confidence'> & Partial<Signal>): Signal {
  return { rule, key: `${rule.id}|${key}`, scopeKey: key, scope: resourceScope(rule.scope, r), ts: r.tsMs, record: r, ...rest };
}
