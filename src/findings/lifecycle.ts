import { LRUCache } from 'lru-cache';
import { FINDING_SCHEMA_VERSION, SEVERITY_ORDER, type Finding, type FindingStatus, type ResourceScope, type Severity } from '../model/finding.ts';
import type { SourceKind } from '../model/log-record.ts';
import { metrics } from '../metrics.ts';
import type { CompiledRule } from '../detect/compile.ts';
import type { Signal } from '../detect/signal.ts';
import { dedupeKey, findingId } from './ids.ts';
import { bundleRequestOf } from './bundle-request.ts';
import { evidenceLines, evidenceQuery, queryOptionsOf, sampleOf, type Sample } from './evidence.ts';
import { redact, truncateUtf8 } from '../parse/redact.ts';
import { MAX_SUMMARY_BYTES, MAX_TEMPLATE_BYTES } from '../model/limits.ts';
import { describeScope, recoveredSummary, observedSummary } from './summary.ts';

interface Episode {
  key: string;
  rule: CompiledRule;
  scopeKey: string;
  scope: ResourceScope;
  firstTs: number;
  lastTs: number;
  count: number;
  severity: Severity;
  confidence: number;
  emittedSeverity: Severity;
  lastEmitTs: number;
  samples: Sample[];
  sampleCursor: number;
  templates: Map<string, number>;
  sourceKind: SourceKind | undefined;
  summary: string | undefined;
  details: Record<string, string | number | boolean>;
}

/**
 * An open episode as the state store keeps it: rule by id and definition fingerprint (an episode
 * of a rule that changed meanwhile is not restored), samples already redacted (the state store may
 * be JetStream KV, and raw lines never go over NATS).
 */
export type EpisodeState = Omit<Episode, 'rule' | 'templates' | 'sourceKind' | 'summary'> & {
  rule: string;
  fingerprint: string;
  templates: Array<[string, number]>;
  sourceKind?: SourceKind;
  summary?: string;
};

export interface LifecycleState {
  v: 1;
  episodes: EpisodeState[];
}

export interface LifecycleOptions {
  /** Findings' `source` field. */
  source?: string;
  maxEpisodes?: number;
}

const MAX_TEMPLATES = 5;

/**
 * Turns signals into findings: `observed` on the first signal of an episode, again only when
 * severity rises or after the rule's suppression window; `recovered` once no signal came for
 * the rule's quiet period (in event time, so replay is deterministic).
 */
export class FindingsLifecycle {
  private readonly episodes: LRUCache<string, Episode>;
  private readonly source: string;
  private lastSweep = -Infinity;
  /** Earliest event time at which some episode may recover (a lower bound; cheap to check per record). */
  nextDue = Infinity;
  /** Bumped on every change of an episode: the state saver writes when it moved. */
  changes = 0;

  constructor(opts: LifecycleOptions = {}) {
    this.source = opts.source ?? 'robot-sre-detector';
    this.episodes = new LRUCache({
      max: opts.maxEpisodes ?? 10_000,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') metrics.dropped.inc({ component: 'lifecycle', reason: 'episode_evicted' });
      },
    });
  }

  get active(): number {
    return this.episodes.size;
  }

  /** Drops the episodes of these rules without a finding (a reload changed or removed them). */
  forgetRules(ruleIds: ReadonlySet<string>): number {
    let n = 0;
    for (const [key, e] of this.episodes.entries()) {
      if (!ruleIds.has(e.rule.id)) continue;
      this.episodes.delete(key);
      n++;
    }
    if (n) this.changes++;
    return n;
  }

  /** Open episodes, oldest first, for the state store. */
  snapshot(fingerprintOf: (ruleId: string) => string | undefined): LifecycleState {
    const episodes: EpisodeState[] = [];
    for (const e of [...this.episodes.values()].reverse()) {
      const fingerprint = fingerprintOf(e.rule.id);
      if (fingerprint === undefined) continue;
      episodes.push({
        key: e.key,
        rule: e.rule.id,
        fingerprint,
        scopeKey: e.scopeKey,
        scope: e.scope,
        firstTs: e.firstTs,
        lastTs: e.lastTs,
        count: e.count,
        severity: e.severity,
        confidence: e.confidence,
        emittedSeverity: e.emittedSeverity,
        lastEmitTs: e.lastEmitTs,
        samples: e.samples.map((x) => ({ ...x, line: redact(x.line) })),
        sampleCursor: e.sampleCursor,
        templates: [...e.templates.entries()].map(([t, c]) => [redact(t), c] as [string, number]),
        ...(e.sourceKind !== undefined ? { sourceKind: e.sourceKind } : {}),
        ...(e.summary !== undefined ? { summary: redact(e.summary) } : {}),
        details: e.details,
      });
    }
    return { v: 1, episodes };
  }

  /**
   * Re-opens saved episodes whose rule is installed with the same definition; returns how many.
   * Restored before the first record, so a repeat inside suppression stays suppressed and an
   * episode open before a restart recovers after it. Existing episodes of the same key win.
   */
  restore(state: LifecycleState, ruleOf: (ruleId: string, fingerprint: string) => CompiledRule | undefined): number {
    if (state?.v !== 1 || !Array.isArray(state.episodes)) return 0;
    let n = 0;
    for (const x of state.episodes) {
      const rule = ruleOf(x.rule, x.fingerprint);
      if (!rule || this.episodes.has(x.key)) continue;
      this.episodes.set(x.key, {
        key: x.key,
        rule,
        scopeKey: x.scopeKey,
        scope: x.scope,
        firstTs: x.firstTs,
        lastTs: x.lastTs,
        count: x.count,
        severity: x.severity,
        confidence: x.confidence,
        emittedSeverity: x.emittedSeverity,
        lastEmitTs: x.lastEmitTs,
        samples: x.samples,
        sampleCursor: x.sampleCursor,
        templates: new Map(x.templates),
        sourceKind: x.sourceKind,
        summary: x.summary,
        details: x.details ?? {},
      });
      this.nextDue = Math.min(this.nextDue, x.lastTs + rule.quietMs);
      n++;
    }
    return n;
  }

  onSignal(s: Signal): Finding | null {
    this.changes++;
    let e = this.episodes.get(s.key);
    const isNew = !e;
    if (!e) {
      e = {
        key: s.key,
        rule: s.rule,
        scopeKey: s.scopeKey,
        scope: s.scope,
        firstTs: s.ts,
        lastTs: s.ts,
        count: 0,
        severity: s.severity,
        confidence: s.confidence,
        emittedSeverity: s.severity,
        lastEmitTs: s.ts,
        samples: [],
        sampleCursor: 0,
        templates: new Map(),
        sourceKind: s.record?.kind,
        summary: undefined,
        details: {},
      };
      this.episodes.set(s.key, e);
    }
    e.count += s.count;
    if (s.ts > e.lastTs) e.lastTs = s.ts;
    if (e.lastTs + e.rule.quietMs < this.nextDue) this.nextDue = e.lastTs + e.rule.quietMs;
    if (s.ts < e.firstTs) e.firstTs = s.ts;
    if (SEVERITY_ORDER[s.severity] > SEVERITY_ORDER[e.severity]) e.severity = s.severity;
    e.confidence = Math.max(e.confidence, s.confidence);
    e.scope = { ...s.scope };
    if (s.summary !== undefined) e.summary = s.summary;
    if (s.details) Object.assign(e.details, s.details);
    // Past an episode's first 100 signals its samples rotate 1 signal in 32 (as templates are mined).
    if (isNew || e.count < 100 + s.count || (e.count & 31) === 0) this.addSamples(e, s);
    this.addTemplates(e, s);
    if (!e.rule.emit) return null;
    if (isNew) return this.emit(e, 'observed', s.ts);
    if (SEVERITY_ORDER[e.severity] > SEVERITY_ORDER[e.emittedSeverity] || s.ts - e.lastEmitTs >= e.rule.suppressMs) {
      return this.emit(e, 'observed', s.ts);
    }
    return null;
  }

  /**
   * The condition behind an episode ended (a record matched the rule's clearedBy): the episode
   * recovers now, at the record's time, instead of after its quiet period. Null when none is open.
   */
  clear(key: string, ts: number, line: string): Finding | null {
    const e = this.episodes.get(key);
    if (!e) return null;
    this.episodes.delete(key);
    this.changes++;
    if (!e.rule.emit || !e.rule.recovers) return null;
    return this.emit(e, 'recovered', Math.max(ts, e.lastTs), truncateUtf8(line, 160));
  }

  /**
   * Whether a signal's record is worth mining for its template: always for a new or young episode
   * (its first 100 signals), then 1 in 32. A sustained rate (a brute force, a 5xx storm) signals on
   * every line, and mining each one cost a third of the pipeline; the templates an episode names
   * are settled long before, and their counts past the first 100 signals are sampled.
   */
  templateWanted(key: string): boolean {
    const e = this.episodes.get(key);
    return e === undefined || e.count < 100 || (e.count & 31) === 0;
  }

  /** Recoveries due at this watermark (checked at most once per event-time second). */
  onWatermark(wm: number): Finding[] {
    if (wm < this.nextDue || wm - this.lastSweep < 1000) return [];
    this.lastSweep = wm;
    const due: Episode[] = [];
    let next = Infinity;
    for (const e of this.episodes.values()) {
      const at = e.lastTs + e.rule.quietMs;
      if (at <= wm) due.push(e);
      else if (at < next) next = at;
    }
    this.nextDue = next;
    // Recoveries in the order they became due, so the output reads as a timeline.
    due.sort((a, b) => a.lastTs + a.rule.quietMs - (b.lastTs + b.rule.quietMs));
    const out: Finding[] = [];
    if (due.length) this.changes++;
    for (const e of due) {
      this.episodes.delete(e.key);
      if (e.rule.emit && e.rule.recovers) out.push(this.emit(e, 'recovered', e.lastTs + e.rule.quietMs));
    }
    return out;
  }

  private addSamples(e: Episode, s: Signal): void {
    const recs = s.related?.length ? s.related.map((r) => r.record).filter((r) => r !== undefined) : s.record ? [s.record] : [];
    for (const r of recs) {
      if (e.samples.some((x) => x.line === r.line && x.pod === r.target.pod)) continue;
      const sample = sampleOf(r);
      // Keep the first two lines (how it started) and rotate the last three (how it is going).
      if (e.samples.length < 5) e.samples.push(sample);
      else {
        e.samples[2 + (e.sampleCursor % 3)] = sample;
        e.sampleCursor++;
      }
    }
  }

  private addTemplates(e: Episode, s: Signal): void {
    if (s.templates) {
      for (const t of s.templates) e.templates.set(t.template, Math.max(e.templates.get(t.template) ?? 0, t.count));
      return;
    }
    const t = s.record?.template?.text;
    if (t === undefined) return;
    if (e.templates.has(t) || e.templates.size < MAX_TEMPLATES) e.templates.set(t, (e.templates.get(t) ?? 0) + s.count);
    else e.templates.set('<other>', (e.templates.get('<other>') ?? 0) + s.count);
  }

  /** `endedBy`: the record that ended a condition (clearedBy), named in the recovered summary. */
  private emit(e: Episode, status: FindingStatus, at: number, endedBy?: string): Finding {
    e.lastEmitTs = at;
    e.emittedSeverity = e.severity;
    const templates = [...e.templates.entries()]
      .sort((a, b) => b[1] - a[1])
      // Templates come from raw lines: a value the miner did not mask (password=hunter2) must not leak.
      .map(([template, count]) => ({ template: truncateUtf8(redact(template), MAX_TEMPLATE_BYTES), count }));
    const dedupe = dedupeKey(e.rule.id, e.rule.scope, e.scopeKey);
    const first = new Date(e.firstTs).toISOString();
    const last = new Date(e.lastTs).toISOString();
    const observedAt = new Date(at).toISOString();
    const topTemplate = templates.find((t) => t.template !== '<other>')?.template;
    // The LogQL filter is derived from the same (redacted) text.
    const f: Finding = {
      schema_version: FINDING_SCHEMA_VERSION,
      finding_id: findingId(dedupe, first, status, e.severity, observedAt),
      source: this.source,
      domain: e.rule.domain,
      incident_type: e.rule.incident_type,
      severity: e.severity,
      confidence: Math.round(e.confidence * 100) / 100,
      summary: truncateUtf8(
        redact(
          status === 'recovered'
            ? recoveredSummary(e.rule, e.scope, e.count, e.firstTs, e.lastTs, endedBy)
            : (e.summary ?? observedSummary(e.rule, e.scope, e.count, e.firstTs, e.lastTs, topTemplate)),
        ),
        MAX_SUMMARY_BYTES,
      ),
      evidence: {
        lines: evidenceLines(e.samples),
        templates,
        loki: {
          query: evidenceQuery(e.samples, e.scope, queryOptionsOf(e.rule, e.sourceKind)),
          start: new Date(e.firstTs - 60_000).toISOString(),
          end: new Date(e.lastTs + 60_000).toISOString(),
        },
        details: redactDetails({ ...e.details, scope: describeScope(e.scope) }),
      },
      resource_scope: { ...e.scope },
      dedupe_key: dedupe,
      observed_at: observedAt,
      rule: { id: e.rule.id, version: e.rule.version },
      status,
      first_seen: first,
      last_seen: last,
      count: e.count,
    };
    const bundle = bundleRequestOf(e.samples, e.scope, e.firstTs, e.lastTs);
    if (bundle) f.evidence.bundle = bundle;
    if (e.rule.spec.labels) f.labels = { ...e.rule.spec.labels };
    metrics.findings.inc({ incident_type: f.incident_type, status });
    return f;
  }
}

function redactDetails(d: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(d)) out[k] = typeof v === 'string' ? truncateUtf8(redact(v), 512) : v;
  return out;
}
