import { LRUCache } from 'lru-cache';
import type { LogRecord } from '../../model/log-record.ts';
import { metrics } from '../../metrics.ts';
import type { CompiledRule } from '../compile.ts';
import { resourceScope } from '../scope.ts';
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
    dispose: (_v, _k, reason) => {
      if (reason === 'evict') metrics.detectorStateEvictions.inc({ rule: rule.id });
    },
  });
}

/** A signal for a record at a scope key; the caller adds what is specific to its rule kind. */
export function recordSignal(rule: CompiledRule, key: string, r: LogRecord, rest: Pick<Signal, 'count' | 'severity' | 'confidence'> & Partial<Signal>): Signal {
  return { rule, key: `${rule.id}|${key}`, scopeKey: key, scope: resourceScope(rule.scope, r), ts: r.tsMs, record: r, ...rest };
}
