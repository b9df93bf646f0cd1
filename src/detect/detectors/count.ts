import type { LRUCache } from 'lru-cache';
import type { LogRecord } from '../../model/log-record.ts';
import { parseDuration } from '../../parse/timestamp.ts';
import { BucketCounter } from '../bucket-counter.ts';
import { severityFor, type CompiledRule } from '../compile.ts';
import { compileAny } from '../pattern.ts';
import { scopeKey } from '../scope.ts';
import { keyedState, recordSignal, type StateLimits } from './keyed-state.ts';
import type { Emit, PatternDetector } from '../signal.ts';
import type { RateRule, SignatureRule } from '../types.ts';


/**
 * signature and rate: count matching records per scope in an event-time window and signal
 * every match while the count is at or above the threshold. Threshold 1 needs no window state.
 */
export class CountDetector implements PatternDetector {
  readonly input = 'patterns';
  readonly patterns;
  readonly excludes;
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly windows: LRUCache<string, BucketCounter> | null;

  readonly rule: CompiledRule;

  constructor(rule: CompiledRule, clock: { now(): number }, limits: StateLimits) {
    this.rule = rule;
    const spec = rule.spec as SignatureRule | RateRule;
    this.patterns = compileAny(spec.match);
    this.excludes = compileAny(spec.exclude);
    this.threshold = spec.threshold ?? 1;
    this.windowMs = parseDuration(spec.window ?? '5m');
    this.windows =
      this.threshold > 1
        ? keyedState<BucketCounter>(rule, clock, limits.maxKeys, Math.max(limits.ttlMs, this.windowMs * 2))
        : null;
  }

  onRecord(r: LogRecord, _text: string, emit: Emit, watermark: number): void {
    const key = scopeKey(this.rule.scope, r);
    const n = r.event?.count ?? 1;
    let inWindow = n;
    if (this.windows) {
      let w = this.windows.get(key);
      if (!w) {
        w = new BucketCounter(this.windowMs);
        this.windows.set(key, w);
      }
      const now = Math.max(watermark, r.tsMs);
      if (!w.add(r.tsMs, n, now)) return; // later than the window can hold: counted by the engine as late
      inWindow = w.count(now);
      if (inWindow < this.threshold) return;
    }
    emit(recordSignal(this.rule, key, r, {
      // The record that crosses the threshold brings the whole window into the episode.
      count: this.windows && inWindow - n < this.threshold ? inWindow : n,
      severity: severityFor(this.rule, inWindow),
      confidence: this.rule.confidence,
      details: this.windows ? { window_count: inWindow, threshold: this.threshold, window_s: this.windowMs / 1000 } : {},
    }));
  }

  size(): number {
    return this.windows?.size ?? 0;
  }
}
