import { LRUCache } from 'lru-cache';
import type { LogRecord } from '../../model/log-record.ts';
import { isProblemLine } from '../../parse/level.ts';
import { parseDuration } from '../../parse/timestamp.ts';
import type { CompiledRule } from '../compile.ts';
import { resourceScope, scopeKey } from '../scope.ts';
import type { Emit, RecordDetector, TemplateOf } from '../signal.ts';
import type { NewPatternRule } from '../types.ts';
import { RecordKeyedState, type Evictable, type StateLimits } from './keyed-state.ts';

interface ScopeTemplates extends Evictable {
  firstTs: number;
  seen: LRUCache<string, true>;
}

export interface NewPatternSnapshot {
  v: 1;
  scopes: Array<[string, number, string[]]>;
}

/**
 * new_error_pattern: a warning/error template never seen before in this workload, once the
 * workload has been observed for the warm-up period (so a fresh start does not flag every
 * template). The per-workload memory is snapshotted so a restart does not re-fire.
 */
export class NewPatternDetector implements RecordDetector {
  readonly input = 'records';
  private readonly warmupMs: number;
  private readonly perScope: number;
  private readonly scopes: RecordKeyedState<ScopeTemplates>;

  readonly rule: CompiledRule;

  private readonly templateOf: TemplateOf | null;
  private readonly problemOf: (r: LogRecord, text: string) => boolean;

  /** templateOf null: template mining is off, and so is this rule. problemOf: the engine's per-record answer of isProblemLine. */
  constructor(rule: CompiledRule, clock: { now(): number }, limits: StateLimits, templateOf: TemplateOf | null, problemOf: (r: LogRecord, text: string) => boolean = (r, text) => isProblemLine(r.level, text)) {
    this.rule = rule;
    this.templateOf = templateOf;
    this.problemOf = problemOf;
    const spec = rule.spec as NewPatternRule;
    this.warmupMs = parseDuration(spec.warmup ?? '10m');
    this.perScope = spec.maxTemplatesPerScope ?? 1000;
    this.scopes = new RecordKeyedState<ScopeTemplates>(rule, clock, Math.min(limits.maxKeys, 2000), Math.max(limits.ttlMs, 24 * 3_600_000));
  }


  private scopeFor(key: string, ts: number): ScopeTemplates {
    let s = this.scopes.map.get(key);
    if (!s) {
      s = this.newScope(ts);
      this.scopes.map.set(key, s);
    }
    return s;
  }

  private newScope(ts: number): ScopeTemplates {
    return { firstTs: ts, seen: new LRUCache({ max: this.perScope }) };
  }

  private readonly newScopeOf = (r: LogRecord): ScopeTemplates => this.newScope(r.tsMs);

  onRecord(r: LogRecord, text: string, emit: Emit): void {
    if (this.templateOf === null || r.kind === 'event' || r.kind === 'pod_status') return;
    const s = this.scopes.getOrCreate(r, this.newScopeOf);
    if (r.tsMs < s.firstTs) s.firstTs = r.tsMs;
    if (!this.problemOf(r, text)) return;
    // Mined here, for warning-or-worse lines only.
    const template = this.templateOf(r);
    if (template === undefined) return;
    const tid = template.id;
    if (s.seen.has(tid)) return;
    s.seen.set(tid, true);
    if (r.tsMs - s.firstTs < this.warmupMs) return;
    const key = scopeKey(this.rule.scope, r);
    emit({
      rule: this.rule,
      key: `${this.rule.id}|${key}|${tid}`,
      scopeKey: `${key}|${tid}`,
      scope: resourceScope(this.rule.scope, r),
      ts: r.tsMs,
      count: 1,
      severity: this.rule.severity,
      confidence: this.rule.confidence,
      record: r,
      templates: [{ template: template.text, count: 1 }],
      summary: `New ${r.level === 'unknown' ? 'error' : r.level}-level log pattern in ${key.split('/').slice(1).join('/')}: \`${template.text.slice(0, 160)}\`.`,
      details: { template_id: tid },
    });
  }

  size(): number {
    return this.scopes.size;
  }

  snapshot(): NewPatternSnapshot {
    const scopes: NewPatternSnapshot['scopes'] = [];
    for (const [key, s] of this.scopes.map.entries()) scopes.push([key, s.firstTs, [...s.seen.keys()]]);
    return { v: 1, scopes };
  }

  restore(state: unknown): void {
    const snap = state as NewPatternSnapshot;
    if (!snap || snap.v !== 1 || !Array.isArray(snap.scopes)) return;
    for (const [key, firstTs, templates] of snap.scopes) {
      const s = this.scopeFor(key, firstTs);
      s.firstTs = Math.min(s.firstTs, firstTs);
      for (const t of templates.slice(0, this.perScope)) s.seen.set(t, true);
    }
  }
}
