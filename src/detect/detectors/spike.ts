import { LRUCache } from 'lru-cache';
import type { LogRecord } from '../../model/log-record.ts';
import { parseDuration } from '../../parse/timestamp.ts';
import { severityFor, type CompiledRule } from '../compile.ts';
import { compileAny } from '../pattern.ts';
import { scopeKey } from '../scope.ts';
import { RecordKeyedState, recordSignal, type Evictable } from './keyed-state.ts';
import type { Emit, RecordDetector, TemplateOf } from '../signal.ts';
import type { SpikeRule } from '../types.ts';
import type { StateLimits } from './keyed-state.ts';

/** EWMA baseline of a per-bucket count series. */
interface Series {
  bucket: number; // index of the open bucket
  count: number; // count in the open bucket
  mean: number;
  variance: number;
  seen: number; // closed buckets (including empty ones) since the series started
}

interface ScopeState extends Series, Evictable {
  templates: Map<string, number> | null; // per-template counts in the open bucket (capped)
}

const MAX_TEMPLATES_PER_BUCKET = 64;

function closeBuckets(s: Series, upTo: number, alpha: number, cap: (mean: number, sd: number) => number): void {
  // Close the open bucket, then every empty bucket up to (not including) upTo, in closed form.
  const x = Math.min(s.count, cap(s.mean, Math.sqrt(s.variance)));
  const d = x - s.mean;
  s.mean += alpha * d;
  s.variance = (1 - alpha) * (s.variance + alpha * d * d);
  s.seen++;
  const empty = upTo - s.bucket - 1;
  if (empty > 0) {
    const k = Math.min(empty, 10_000);
    const decay = Math.pow(1 - alpha, k);
    // Zeros pull the mean down geometrically; the variance shrinks with it.
    s.mean *= decay;
    s.variance *= decay;
    s.seen += empty;
  }
  s.bucket = upTo;
  s.count = 0;
}

/**
 * spike: a count per bucket well above its own learned baseline. Robust to slow drift (EWMA),
 * to its own spikes (a bucket's contribution to the baseline is capped), quiet during warm-up,
 * and requires a minimum count so 1 → 3 is never a spike.
 */
export class SpikeDetector implements RecordDetector {
  readonly input = 'records';
  private readonly countPatterns;
  private readonly bucketMs: number;
  private readonly minCount: number;
  private readonly factor: number;
  private readonly z: number;
  private readonly warmup: number;
  private readonly alpha: number;
  private readonly scopes: RecordKeyedState<ScopeState>;
  private readonly templateBaselines: LRUCache<string, Series> | null;
  private readonly hasPatterns: boolean;
  private readonly levels: ReadonlySet<string> | null;

  readonly rule: CompiledRule;

  private readonly templateOf: TemplateOf;

  constructor(rule: CompiledRule, clock: { now(): number }, limits: StateLimits, templateOf: TemplateOf) {
    this.rule = rule;
    this.templateOf = templateOf;
    const spec = rule.spec as SpikeRule;
    this.countPatterns = compileAny(spec.match);
    this.hasPatterns = this.countPatterns.length > 0;
    this.levels = spec.selector?.level?.length ? new Set(spec.selector.level) : null;
    this.bucketMs = parseDuration(spec.bucket ?? '1m');
    this.minCount = spec.minCount ?? 10;
    this.factor = spec.factor ?? 3;
    this.z = spec.zScore ?? 4;
    this.warmup = spec.warmupBuckets ?? 10;
    this.alpha = spec.alpha ?? 0.1;
    const ttl = Math.max(limits.ttlMs, this.bucketMs * 60);
    this.scopes = new RecordKeyedState<ScopeState>(rule, clock, limits.maxKeys, ttl);
    this.templateBaselines = spec.templates === false ? null : new LRUCache({ max: limits.maxKeys * 8, ttl, ttlResolution: 0, perf: clock });
  }

  private readonly cap = (mean: number, sd: number) => mean + 3 * sd + this.minCount;


  private counts(r: LogRecord, text: string): boolean {
    if (this.levels && !this.levels.has(r.level)) return false;
    if (!this.hasPatterns) return true;
    for (const p of this.countPatterns) if (p.test(text)) return true;
    return false;
  }

  private readonly newScope = (r: LogRecord): ScopeState => ({
    bucket: Math.floor(r.tsMs / this.bucketMs), count: 0, mean: 0, variance: 0, seen: 0, templates: this.templateBaselines ? new Map() : null,
  });

  onRecord(r: LogRecord, text: string, emit: Emit): void {
    const b = Math.floor(r.tsMs / this.bucketMs);
    const s = this.scopes.getOrCreate(r, this.newScope);
    if (b < s.bucket) return; // late for a closed bucket: the baseline already moved on
    if (b > s.bucket) {
      this.closeTemplates(scopeKey(this.rule.scope, r), s, b);
      closeBuckets(s, b, this.alpha, this.cap);
    }
    if (!this.counts(r, text)) return;
    const n = r.event?.count ?? 1;
    s.count += n;
    // Only counted records are mined: the spiking template is one of theirs.
    const t = s.templates ? this.templateOf(r) : undefined;
    if (s.templates && t !== undefined && (s.templates.has(t.id) || s.templates.size < MAX_TEMPLATES_PER_BUCKET)) {
      s.templates.set(t.id, (s.templates.get(t.id) ?? 0) + n);
      if (!this.templateText.has(t.id)) this.templateText.set(t.id, t.text);
    }
    if (s.seen < this.warmup || s.count < this.minCount) return;
    const sd = Math.sqrt(s.variance + s.mean); // Poisson floor: a quiet series still has sd ≈ √mean
    if (s.count < this.factor * s.mean || s.count < s.mean + this.z * sd) return;
    const key = scopeKey(this.rule.scope, r);
    const top = this.topTemplates(key, s);
    const crossing = s.count - n < Math.max(this.minCount, this.factor * s.mean, s.mean + this.z * sd);
    emit(recordSignal(this.rule, key, r, {
      count: crossing ? s.count : n,
      severity: severityFor(this.rule, s.count),
      confidence: Math.min(0.95, this.rule.confidence + Math.min(0.25, (s.count - s.mean) / (sd * 40 + 1))),
      templates: top,
      details: {
        bucket_s: this.bucketMs / 1000,
        bucket_count: s.count,
        baseline: Math.round(s.mean * 100) / 100,
        ...(top[0] ? { spiking_template: top[0].template } : {}),
      },
    }));
  }

  // Template texts of ids counted in open buckets; bounded by the per-bucket cap × scopes.
  private readonly templateText = new LRUCache<string, string>({ max: 10_000 });

  private closeTemplates(key: string, s: ScopeState, upTo: number): void {
    if (!s.templates || !this.templateBaselines) return;
    for (const [tid, count] of s.templates) {
      const tk = `${key}|${tid}`;
      const series = this.templateBaselines.get(tk) ?? { bucket: s.bucket, count: 0, mean: 0, variance: 0, seen: 0 };
      if (series.bucket < s.bucket) closeBuckets(series, s.bucket, this.alpha, this.cap);
      series.count = count;
      closeBuckets(series, upTo, this.alpha, this.cap);
      this.templateBaselines.set(tk, series);
    }
    s.templates.clear();
  }

  /** Templates of the open bucket ranked by how far they jumped above their own baseline. */
  private topTemplates(key: string, s: ScopeState): Array<{ template: string; count: number }> {
    if (!s.templates || !this.templateBaselines) return [];
    const ranked: Array<{ template: string; count: number; jump: number }> = [];
    for (const [tid, count] of s.templates) {
      const base = this.templateBaselines.peek(`${key}|${tid}`);
      const decayed = base ? base.mean * Math.pow(1 - this.alpha, Math.max(0, s.bucket - base.bucket)) : 0;
      ranked.push({ template: this.templateText.get(tid) ?? tid, count, jump: count - decayed });
    }
    ranked.sort((a, b) => b.jump - a.jump);
    return ranked.slice(0, 3).map(({ template, count }) => ({ template, count }));
  }

  size(): number {
    return this.scopes.size;
  }
}
