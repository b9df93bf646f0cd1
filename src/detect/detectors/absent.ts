import type { LogRecord } from '../../model/log-record.ts';
import type { ResourceScope } from '../../model/finding.ts';
import { parseDuration } from '../../parse/timestamp.ts';
import type { CompiledRule } from '../compile.ts';
import { compileAny } from '../pattern.ts';
import { resourceScope } from '../scope.ts';
import type { Emit } from '../signal.ts';
import type { AbsentRule } from '../types.ts';
import { RecordKeyedState, type Evictable, type StateLimits } from './keyed-state.ts';

interface Stream extends Evictable {
  lastTs: number;
  count: number;
  scope: ResourceScope;
}

/**
 * absent: a stream that was logging (≥ minPriorCount lines) goes silent for `for`.
 * Checked as the watermark advances — in live mode the wall-clock tick advances it for idle
 * streams — and re-signalled on each check while silent, so the episode stays active until
 * the stream speaks again and then recovers after the quiet period.
 */
export class AbsentDetector {
  /** With a match it counts matching lines (prefiltered); without one, every record of the stream. */
  readonly input: 'patterns' | 'records';
  readonly patterns;
  private readonly forMs: number;
  private readonly minPrior: number;
  private readonly checkEveryMs: number;
  private lastCheck = -Infinity;
  private readonly streams: RecordKeyedState<Stream>;

  readonly rule: CompiledRule;

  constructor(rule: CompiledRule, clock: { now(): number }, limits: StateLimits) {
    this.rule = rule;
    const spec = rule.spec as AbsentRule;
    this.patterns = compileAny(spec.match);
    this.input = this.patterns.length > 0 ? 'patterns' : 'records';
    this.forMs = parseDuration(spec.for);
    this.minPrior = spec.minPriorCount ?? 10;
    this.checkEveryMs = Math.min(30_000, Math.max(1000, this.forMs / 4));
    // TTL well beyond `for`: a stream gone for much longer (e.g. a deleted pod) is forgotten.
    this.streams = new RecordKeyedState<Stream>(rule, clock, limits.maxKeys, Math.max(limits.ttlMs, this.forMs * 6));
  }

  onRecord(r: LogRecord): void {
    const s = this.streams.getOrCreate(r, this.newStream);
    if (r.tsMs > s.lastTs) s.lastTs = r.tsMs;
    s.count++;
  }

  private readonly newStream = (r: LogRecord): Stream => ({ lastTs: r.tsMs, count: 0, scope: resourceScope(this.rule.scope, r) });

  onWatermark(wm: number, emit: Emit): void {
    if (wm - this.lastCheck < this.checkEveryMs) return;
    this.lastCheck = wm;
    for (const [key, s] of this.streams.map.entries()) {
      if (s.count < this.minPrior || wm - s.lastTs < this.forMs) continue;
      emit({
        rule: this.rule,
        key: `${this.rule.id}|${key}`,
        scopeKey: key,
        scope: s.scope,
        ts: wm,
        count: 1,
        severity: this.rule.severity,
        confidence: this.rule.confidence,
        summary: `No logs from ${describe(s.scope)} for ${Math.round((wm - s.lastTs) / 1000)}s (it had logged ${s.count} lines before).`,
        details: { silent_for_s: Math.round((wm - s.lastTs) / 1000), last_line_at: new Date(s.lastTs).toISOString() },
      });
    }
  }

  size(): number {
    return this.streams.size;
  }
}

function describe(s: ResourceScope): string {
  return [s.namespace, s.workload ?? s.pod ?? s.node].filter(Boolean).join('/');
}
