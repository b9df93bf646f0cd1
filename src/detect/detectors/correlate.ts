import type { LRUCache } from 'lru-cache';
import type { ResourceScope } from '../../model/finding.ts';
import { parseDuration } from '../../parse/timestamp.ts';
import { BucketCounter } from '../bucket-counter.ts';
import type { CompiledRule } from '../compile.ts';
import { compilePattern, type CompiledPattern } from '../pattern.ts';
import type { Emit, Signal, SignalDetector } from '../signal.ts';
import type { CorrelateRule } from '../types.ts';
import { keyedState, type StateLimits } from './keyed-state.ts';

interface Condition {
  incident?: string;
  rule?: string;
  minCount: number;
  where: Array<[keyof ResourceScope, CompiledPattern]>;
}

interface Group {
  counters: BucketCounter[];
  /** Latest signal per condition: the evidence of the correlation. */
  latest: Array<Signal | undefined>;
}

/**
 * correlate: fires when every named condition has occurred (≥ minCount) within the window on
 * related scopes — the same node, the same namespace, the same workload, or anywhere in the
 * cluster (dependency → dependents, e.g. NATS pods not ready + NATS clients failing).
 * Consumes signals, not findings, so lifecycle suppression never hides an input.
 */
export class CorrelateDetector implements SignalDetector {
  readonly input = 'signals';
  private readonly conditions: Condition[];
  private readonly windowMs: number;
  private readonly groups: LRUCache<string, Group>;

  readonly rule: CompiledRule;

  constructor(rule: CompiledRule, clock: { now(): number }, limits: StateLimits) {
    this.rule = rule;
    const spec = rule.spec as CorrelateRule;
    this.windowMs = parseDuration(spec.window);
    this.conditions = spec.conditions.map((c) => ({
      ...(c.incident !== undefined ? { incident: c.incident } : {}),
      ...(c.rule !== undefined ? { rule: c.rule } : {}),
      minCount: c.minCount ?? 1,
      where: Object.entries(c.where ?? {}).map(([k, p]) => [k as keyof ResourceScope, compilePattern(p)] as [keyof ResourceScope, CompiledPattern]),
    }));
    this.groups = keyedState<Group>(rule, clock, limits.maxKeys, Math.max(limits.ttlMs, this.windowMs * 2));
  }

  private relationKey(s: ResourceScope): string | null {
    const on = (this.rule.spec as CorrelateRule).on;
    if (on === 'cluster') return s.cluster;
    if (on === 'namespace') return `${s.cluster}/${s.namespace}`;
    if (on === 'workload') return s.workload ? `${s.cluster}/${s.namespace}/${s.workload}` : null;
    return s.node ? `${s.cluster}/node/${s.node}` : null;
  }

  onSignal(sig: Signal, emit: Emit): void {
    if (sig.rule === this.rule) return;
    const matched: number[] = [];
    this.conditions.forEach((c, i) => {
      if (c.incident !== undefined && c.incident !== sig.rule.incident_type) return;
      if (c.rule !== undefined && c.rule !== sig.rule.id) return;
      for (const [field, p] of c.where) {
        const v = sig.scope[field];
        if (typeof v !== 'string' || !p.test(v)) return;
      }
      matched.push(i);
    });
    if (matched.length === 0) return;
    const key = this.relationKey(sig.scope);
    if (key === null) return;
    let g = this.groups.get(key);
    if (!g) {
      g = { counters: this.conditions.map(() => new BucketCounter(this.windowMs)), latest: this.conditions.map(() => undefined) };
      this.groups.set(key, g);
    }
    for (const i of matched) {
      g.counters[i]!.add(sig.ts, sig.count, sig.ts);
      g.latest[i] = sig;
    }
    const counts = g.counters.map((c) => c.count(sig.ts));
    if (!this.conditions.every((c, i) => counts[i]! >= c.minCount)) return;
    const related = g.latest.filter((s): s is Signal => s !== undefined);
    const total = counts.reduce((a, b) => a + b, 0);
    const parts = this.conditions.map((c, i) => `${counts[i]}× ${c.incident ?? c.rule}`).join(' + ');
    emit({
      rule: this.rule,
      key: `${this.rule.id}|${key}`,
      scopeKey: key,
      scope: { ...sig.scope },
      ts: sig.ts,
      count: sig.count,
      severity: this.rule.severity,
      confidence: this.rule.confidence,
      // The finding's scope (and subject) is the latest input's: the summary names it beside the relation.
      summary: `${this.rule.title}: ${parts} within ${Math.round(this.windowMs / 60000)}m on ${describeRelation((this.rule.spec as CorrelateRule).on, key)}${latestIn(sig.scope, (this.rule.spec as CorrelateRule).on)}.`,
      details: { conditions: parts, relation: (this.rule.spec as CorrelateRule).on, related_count: total },
      related,
      ...(sig.record ? { record: sig.record } : {}),
    });
  }

  size(): number {
    return this.groups.size;
  }
}

/** ", latest in shop/worker" when the latest input is narrower than the relation; '' otherwise. */
function latestIn(scope: ResourceScope, on: CorrelateRule['on']): string {
  const where = scope.workload ?? scope.pod ?? (scope.node && on !== 'node' ? `node ${scope.node}` : undefined);
  if (on === 'workload' || where === undefined) return on === 'cluster' || on === undefined ? `, latest in ${scope.namespace}` : '';
  return `, latest in ${scope.namespace}/${where}`;
}

function describeRelation(on: CorrelateRule['on'], key: string): string {
  const parts = key.split('/');
  if (on === 'node') return `node ${parts[2]}`;
  if (on === 'namespace') return `namespace ${parts[1]}`;
  if (on === 'workload') return `workload ${parts[1]}/${parts[2]}`;
  return `cluster ${parts[0]}`;
}
