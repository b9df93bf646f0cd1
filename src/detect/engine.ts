import type { LogRecord } from '../model/log-record.ts';
import type { Finding } from '../model/finding.ts';
import { metrics } from '../metrics.ts';
import { MAX_PARSE_BYTES } from '../parse/record.ts';
import { compileRule, type CompiledRule } from './compile.ts';
import { AbsentDetector } from './detectors/absent.ts';
import { CorrelateDetector } from './detectors/correlate.ts';
import { CountDetector } from './detectors/count.ts';
import type { StateLimits } from './detectors/keyed-state.ts';
import { ClassifyDetector } from './detectors/classify.ts';
import { CustomDetector } from './detectors/custom.ts';
import { NewPatternDetector } from './detectors/new-pattern.ts';
import { SpikeDetector } from './detectors/spike.ts';
import type { Detector, Emit, EpisodeTracker, PatternDetector, RecordDetector, Signal, SignalDetector, TemplateOf, UnclaimedDetector } from './signal.ts';
import { isProblemLine } from '../parse/level.ts';
import type { Rule } from './types.ts';
import { requiredLiterals } from './literals.ts';
import { anyHit, LiteralScanner } from './aho.ts';
import { ruleFingerprint } from './fingerprint.ts';
import type { EngineTracer } from './trace.ts';
import { scopeKey } from './scope.ts';

/** What a rule reload did, by rule id (for the log and the reload metrics). */
export interface RulesReplaced {
  /** Same definition: windows, counters and open episodes carried over. */
  kept: string[];
  /** Changed definition: start fresh (their open episodes are closed without a finding). */
  changed: string[];
  added: string[];
  removed: string[];
}

export interface EngineOptions<S = unknown> {
  rules: Rule[];
  /** The watermark trails the newest event time by this much (default 10s). */
  allowedLatenessMs?: number;
  /** Per-rule bound on scope keys (default 10,000). */
  maxKeysPerRule?: number;
  /** Event-time TTL of idle per-key state (default 1h). */
  stateTtlMs?: number;
  /**
   * Assigns record.template (the template miner); optional. Called on demand, at most once per
   * record: for records a detector needs the template of (warning-or-worse lines for new-pattern,
   * counted lines for spike), records behind a signal (findings name their templates) and records
   * of custom stages. The rest of a stream is never mined.
   */
  assignTemplate?: (r: LogRecord) => void;
  /** Where conditions become episodes and findings (the findings lifecycle; see detectionEngine in src/pipeline.ts). */
  episodes: EpisodeTracker<S>;
  /** The literal prefilter (default true). Off only to prove it changes nothing. */
  prefilter?: boolean;
}

/**
 * Where a rule's patterns are in the literal scanner: each pattern with required literals is a group
 * of its own, so a line meets only the patterns whose literals it holds (a detector's other patterns
 * are skipped too: on the benchmark's Loghub lines 70 % of the pattern tests were of patterns whose
 * literals the line did not hold).
 */
interface Prefiltered {
  /** Every pattern has required literals: the rule is skipped unless one of them occurs. */
  prefiltered: boolean;
  /** The words and masks of its patterns' groups (any set: a candidate). */
  words: number[];
  masks: number[];
  /** Per pattern: its group's word and bit, or word -1 for a pattern tested on every line. */
  patternWord: number[];
  patternBit: number[];
}

interface PatternEntry extends Prefiltered {
  d: PatternDetector;
  rule: CompiledRule;
}

/** A match pattern of a detector or a rule's clear pattern: a test and the source its literals come from. */
interface Testable {
  test(text: string): boolean;
  prefilter?: string | undefined;
}

/** The patterns the scanner's hits leave (all of them without literals) tested until one matches. */
function testCandidates(ps: readonly Testable[], f: Prefiltered, hits: Uint32Array, text: string): boolean {
  for (let k = 0; k < ps.length; k++) {
    const w = f.patternWord[k]!;
    if (w >= 0 && (hits[w]! & f.patternBit[k]!) === 0) continue;
    if (ps[k]!.test(text)) return true;
  }
  return false;
}

/**
 * The detection engine: event-time state for every rule and one watermark; conditions go to the
 * episode tracker it was given (the findings lifecycle). process() is synchronous and
 * deterministic — the same records in the same order give the same findings — which is what makes
 * replay reproducible and tests free of sleeps.
 */
export class DetectionEngine<S = unknown> {
  rules: CompiledRule[] = [];
  private readonly lateness: number;
  private recordDetectors: RecordDetector[] = [];
  private patternDetectors: PatternEntry[] = [];
  private watermarkDetectors: Detector[] = [];
  private correlators: SignalDetector[] = [];
  /** The second stage: problem lines no emitting pattern rule matched. */
  private unclaimedDetectors: UnclaimedDetector[] = [];
  /** Rules whose episodes a record can end (clearedBy), with where their clear patterns are in the scanner. */
  private clearing: Array<Prefiltered & { rule: CompiledRule }> = [];
  private scanner: LiteralScanner | null = null;
  /** The scanner's hits for the current line (reused). */
  private hits = new Uint32Array(1);
  /** Every detector by rule id, with the fingerprint of the definition it was built from (for reloads). */
  private detectors = new Map<string, { d: Detector; fingerprint: string }>();
  private tracer: EngineTracer | null = null;
  private readonly limits: StateLimits;
  private readonly clock: { now(): number };
  private readonly prefilter: boolean;
  private readonly lifecycle: EpisodeTracker<S>;
  private readonly assignTemplate: ((r: LogRecord) => void) | undefined;
  private readonly templateOf: TemplateOf;
  private maxTs = -Infinity;
  private wm = -Infinity;
  private out: Finding[] = [];
  private readonly emitFn: Emit;
  private signalDepth = 0;
  readonly counters = { records: 0, late: 0, signals: 0 };

  constructor(opts: EngineOptions<S>) {
    this.lateness = opts.allowedLatenessMs ?? 10_000;
    this.assignTemplate = opts.assignTemplate;
    const assign = opts.assignTemplate;
    // A record is mined once; a record the miner failed on is tried again by the next asker (rare).
    this.templateOf = assign
      ? (r) => {
          if (r.template === undefined) assign(r);
          return r.template;
        }
      : (r) => r.template;
    this.lifecycle = opts.episodes;
    this.limits = { maxKeys: opts.maxKeysPerRule ?? 10_000, ttlMs: opts.stateTtlMs ?? 3_600_000 };
    // LRU TTLs run on event time (the newest timestamp seen), never on the wall clock.
    this.clock = { now: () => (this.maxTs > 0 ? this.maxTs : 1) };
    this.prefilter = opts.prefilter !== false;
    this.install(opts.rules);
    this.emitFn = (s) => this.onSignal(s);
  }

  /**
   * Builds the detector lists for `rules`, reusing the detector (and so the state) of every rule
   * whose definition is unchanged. Validation (duplicate ids, compile errors) happens before anything
   * is replaced, so a bad rule set leaves the running one untouched.
   */
  private install(ruleList: readonly Rule[]): RulesReplaced {
    const seen = new Set<string>();
    const fingerprints = ruleList.map((r) => {
      if (seen.has(r.id)) throw new Error(`duplicate rule id "${r.id}"`);
      seen.add(r.id);
      return ruleFingerprint(r);
    });
    const previous = this.detectors;
    const result: RulesReplaced = { kept: [], changed: [], added: [], removed: [] };
    const next = new Map<string, { d: Detector; fingerprint: string }>();
    const fresh: Detector[] = [];
    try {
      ruleList.forEach((r, i) => {
        const fingerprint = fingerprints[i]!;
        const old = previous.get(r.id);
        if (old && old.fingerprint === fingerprint) {
          next.set(r.id, old);
          result.kept.push(r.id);
          return;
        }
        const d = this.create(compileRule(r), this.clock, this.limits);
        fresh.push(d);
        next.set(r.id, { d, fingerprint });
        (old ? result.changed : result.added).push(r.id);
      });
    } catch (err) {
      for (const d of fresh) d.close?.();
      throw err;
    }
    for (const [id, old] of previous) {
      if (next.get(id) === old) continue;
      if (!next.has(id)) result.removed.push(id);
      old.d.close?.();
    }
    this.detectors = next;
    this.rules = ruleList.map((r) => next.get(r.id)!.d.rule);
    this.recordDetectors = [];
    this.patternDetectors = [];
    this.watermarkDetectors = [];
    this.correlators = [];
    this.unclaimedDetectors = [];
    const literalGroups: string[][] = [];
    const place = (patterns: readonly Testable[]): Prefiltered => {
      const f: Prefiltered = { prefiltered: this.prefilter && patterns.length > 0, words: [], masks: [], patternWord: [], patternBit: [] };
      for (const p of patterns) {
        const lits = this.prefilter && p.prefilter !== undefined ? requiredLiterals(p.prefilter) : null;
        if (lits === null) {
          f.prefiltered = false;
          f.patternWord.push(-1);
          f.patternBit.push(0);
          continue;
        }
        const g = literalGroups.length;
        literalGroups.push(lits);
        const w = g >>> 5;
        const bit = (1 << (g & 31)) >>> 0;
        f.patternWord.push(w);
        f.patternBit.push(bit);
        const at = f.words.indexOf(w);
        if (at < 0) {
          f.words.push(w);
          f.masks.push(bit);
        } else f.masks[at] = (f.masks[at]! | bit) >>> 0;
      }
      return f;
    };
    // clearedBy patterns join the literal prefilter like match patterns: most lines skip them in the one scan.
    this.clearing = this.rules.filter((r) => r.clears.length > 0).map((rule) => ({ rule, ...place(rule.clears) }));
    // Group competition needs a deterministic order: priority, then declaration order.
    const ordered = this.rules.map((rule, i) => ({ rule, i })).sort((a, b) => a.rule.priority - b.rule.priority || a.i - b.i);
    for (const { rule } of ordered) {
      const d: Detector = next.get(rule.id)!.d;
      if (d.onWatermark) this.watermarkDetectors.push(d);
      if (d.input === 'signals') this.correlators.push(d);
      else if (d.input === 'records') this.recordDetectors.push(d);
      else if (d.input === 'unclaimed') this.unclaimedDetectors.push(d);
      else if (d.patterns.length > 0) this.patternDetectors.push({ d, rule, ...place(d.patterns) });
    }
    this.scanner = literalGroups.length ? new LiteralScanner(literalGroups) : null;
    this.hits = new Uint32Array(this.scanner?.words ?? 1);
    // Episodes of rules that changed or went away would otherwise recover under a definition that no longer exists.
    const gone = new Set([...result.changed, ...result.removed]);
    if (gone.size) this.lifecycle.forgetRules(gone);
    return result;
  }

  /**
   * Hot reload: replaces the rule set in place. Rules whose definition did not change keep their
   * windows and open episodes; changed and new rules start fresh. Throws (and changes nothing) when
   * the new set does not compile.
   */
  replaceRules(rules: readonly Rule[]): RulesReplaced {
    return this.install(rules);
  }

  /** Installs (or, with null, removes) the tracer that `tap` and `rules test` watch rules through. */
  setTracer(tracer: EngineTracer | null): void {
    this.tracer = tracer;
  }

  private create(rule: CompiledRule, clock: { now(): number }, limits: StateLimits): Detector {
    switch (rule.spec.kind) {
      case 'signature':
      case 'rate':
        return new CountDetector(rule, clock, limits);
      case 'spike':
        return new SpikeDetector(rule, clock, limits, this.templateOf);
      case 'absent':
        return new AbsentDetector(rule, clock, limits);
      case 'correlate':
        return new CorrelateDetector(rule, clock, limits);
      case 'new_pattern':
        return new NewPatternDetector(rule, clock, limits, this.assignTemplate ? this.templateOf : null, this.problemOf);
      case 'custom':
        return new CustomDetector(rule);
      case 'classify':
        return new ClassifyDetector(rule);
    }
  }

  get watermark(): number {
    return this.wm;
  }

  get activeEpisodes(): number {
    return this.lifecycle.active;
  }

  /** Process a batch in order; returns the findings it produced. */
  process(batch: readonly LogRecord[]): Finding[] {
    for (const r of batch) this.processRecord(r);
    this.advance();
    return this.take();
  }

  /** Live mode: with no records for a while, wall-clock time advances the watermark of idle streams. */
  tick(nowMs: number): Finding[] {
    const wm = nowMs - this.lateness;
    if (wm > this.wm) {
      this.wm = wm;
      if (nowMs > this.maxTs) this.maxTs = nowMs;
    }
    this.advance();
    return this.take();
  }

  private take(): Finding[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private processRecord(r: LogRecord): void {
    this.counters.records++;
    if (r.tsMs > this.maxTs) {
      this.maxTs = r.tsMs;
      this.wm = r.tsMs - this.lateness;
      if (this.wm >= this.lifecycle.nextDue) for (const f of this.lifecycle.onWatermark(this.wm)) this.out.push(f);
    } else if (r.tsMs < this.wm) {
      this.counters.late++;
    }
    const text = r.line.length > MAX_PARSE_BYTES ? r.line.slice(0, MAX_PARSE_BYTES) : r.line;
    const tracer = this.tracer;
    if (tracer !== null) tracer.record?.(r);
    for (const d of this.recordDetectors) {
      if (!d.rule.selects(r)) continue;
      if (d.wantsTemplate === true) this.templateOf(r);
      d.onRecord(r, text, this.emitFn, this.wm);
    }
    if (this.patternDetectors.length === 0 && this.clearing.length === 0) {
      if (this.unclaimedDetectors.length !== 0) this.secondStage(r, text);
      return;
    }
    // One pass finds which patterns' literals occur; the others cannot match this line.
    const hits = this.hits;
    const any = this.scanner === null ? 0 : this.scanner.scan(text, hits);
    for (const c of this.clearing) {
      if (c.prefiltered && (any === 0 || !anyHit(hits, c.words, c.masks))) continue;
      const rule = c.rule;
      if (!rule.selects(r) || !testCandidates(rule.clears, c, hits, text)) continue;
      const f = this.lifecycle.clear(`${rule.id}|${scopeKey(rule.scope, r)}`, r.tsMs, text);
      if (f) this.out.push(f);
    }
    let claimed: string[] | null = null;
    // Whether an emitting pattern rule took this record (if none did, the second stage may type it).
    let matched = false;
    for (const e of this.patternDetectors) {
      if (e.prefiltered && (any === 0 || !anyHit(hits, e.words, e.masks))) continue;
      const { d, rule } = e;
      if (rule.group !== undefined && claimed !== null && claimed.includes(rule.group)) {
        // Only a tracer wants to know that a claimed record would have matched here too.
        if (tracer !== null && rule.selects(r) && d.patterns.some((p) => p.test(text))) tracer.match?.(rule, r, 'grouped');
        continue;
      }
      if (!rule.selects(r)) continue;
      if (!testCandidates(d.patterns, e, hits, text)) continue;
      if (d.excludes) {
        let vetoed = false;
        for (const x of d.excludes) {
          if (x.test(text)) {
            vetoed = true;
            break;
          }
        }
        if (vetoed) {
          if (tracer !== null) tracer.match?.(rule, r, 'excluded');
          continue;
        }
      }
      if (rule.group !== undefined && rule.emit) (claimed ??= []).push(rule.group);
      if (rule.emit) matched = true;
      if (tracer === null) {
        d.onRecord(r, text, this.emitFn, this.wm);
        continue;
      }
      const before = this.counters.signals;
      d.onRecord(r, text, this.emitFn, this.wm);
      tracer.match?.(rule, r, this.counters.signals > before ? 'signalled' : 'below_threshold');
    }
    if (!matched && this.unclaimedDetectors.length !== 0) this.secondStage(r, text);
  }

  // Whether a record is warning-or-worse, asked by new-pattern and the second stage of the same
  // record: answered once per record (the level words regex is the costly part on unknown levels).
  private problemRecord: LogRecord | null = null;
  private problemAnswer = false;
  private readonly problemOf = (r: LogRecord, text: string): boolean => {
    if (r !== this.problemRecord) {
      this.problemRecord = r;
      this.problemAnswer = isProblemLine(r.level, text);
    }
    return this.problemAnswer;
  };

  /** A problem line no emitting pattern rule matched: the classify rules type it (from its template). */
  private secondStage(r: LogRecord, text: string): void {
    if (!this.problemOf(r, text)) return;
    this.templateOf(r);
    for (const d of this.unclaimedDetectors) if (d.rule.selects(r)) d.onRecord(r, text, this.emitFn, this.wm);
  }

  private onSignal(s: Signal): void {
    this.counters.signals++;
    // Findings name the templates of their records (sampled once an episode is well under way).
    if (s.record !== undefined && this.lifecycle.templateWanted(s.key)) this.templateOf(s.record);
    const f = this.lifecycle.onSignal(s);
    if (f) this.out.push(f);
    if (this.tracer !== null) this.tracer.signal?.(s, f ? 'observed' : s.rule.emit ? 'suppressed' : 'no_emit');
    // Correlations see every condition; depth-limited so correlations of correlations terminate.
    if (this.signalDepth > 3) return;
    this.signalDepth++;
    try {
      for (const c of this.correlators) c.onSignal(s, this.emitFn);
    } finally {
      this.signalDepth--;
    }
  }

  private advance(): void {
    if (this.wm === -Infinity) return;
    for (const d of this.watermarkDetectors) d.onWatermark!(this.wm, this.emitFn);
    for (const f of this.lifecycle.onWatermark(this.wm)) this.out.push(f);
    if (Number.isFinite(this.wm)) metrics.watermarkLag.set(Math.max(0, (Date.now() - this.wm) / 1000));
  }

  /** Ids of pattern rules the literal prefilter cannot narrow: their patterns run on every line. */
  unprefilteredRules(): string[] {
    return this.patternDetectors.filter((p) => !p.prefiltered).map((p) => p.rule.id);
  }

  /** Errors of custom stages that stopped (reported on /readyz and in the log). */
  customErrors(): Array<{ rule: string; error: string }> {
    const out: Array<{ rule: string; error: string }> = [];
    for (const { d } of this.detectors.values()) {
      const err = d.failure?.();
      if (err) out.push({ rule: d.rule.id, error: err.message });
    }
    return out;
  }

  /** Serializable state worth keeping across restarts (new-pattern memory). */
  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const { d } of this.detectors.values()) if (d.snapshot) out[d.rule.id] = d.snapshot();
    return out;
  }

  restore(state: Record<string, unknown>): void {
    for (const { d } of this.detectors.values()) if (d.restore && state[d.rule.id] !== undefined) d.restore(state[d.rule.id]);
  }

  /** Open episodes and their suppression state, for the state store (see FindingsLifecycle.snapshot). */
  lifecycleSnapshot(): S {
    return this.lifecycle.snapshot((id) => this.detectors.get(id)?.fingerprint);
  }

  /** Re-opens saved episodes of rules installed with the same definition; call before the first record. */
  restoreLifecycle(state: S): number {
    return this.lifecycle.restore(state, (id, fingerprint) => {
      const installed = this.detectors.get(id);
      return installed && installed.fingerprint === fingerprint ? installed.d.rule : undefined;
    });
  }

  /** Moves whenever an episode changed: the state saver compares it to decide whether to write. */
  get lifecycleChanges(): number {
    return this.lifecycle.changes;
  }

  close(): void {
    for (const { d } of this.detectors.values()) d.close?.();
  }

  /** The definition fingerprint of every installed rule (for the reload hash gauge and logs). */
  fingerprints(): ReadonlyMap<string, string> {
    return new Map([...this.detectors].map(([id, v]) => [id, v.fingerprint]));
  }
}
