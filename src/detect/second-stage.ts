/**
 * The second stage (issue 17, item 3): warning-or-worse lines that no emitting pattern rule matched
 * are typed by a classifier trained on the dev half of the incident corpus. One SecondStage is shared
 * by the `classify` rules of a rule set, one rule per incident type it may name: the engine hands an
 * unclaimed problem record to each, the first asks the classifier, the others read the answer
 * (memoized per record), and only the rule of the named type signals.
 *
 * Cost: the classifier reads the record's template text (the engine mines problem lines anyway) and
 * its verdict is cached per template id, so a template is classified once however often it repeats.
 * The cache is bounded (`maxTemplates`; the oldest is evicted and counted).
 */
import type { LogRecord } from '../model/log-record.ts';
import { metrics } from '../metrics.ts';
import { Classifier, type ClassifierModel } from './classifier.ts';

/**
 * A line that says something came back (HAProxy's `Server … is UP`, `connection recovered`, `is healthy
 * again`) and names no failure is the end of an incident, not one: the second stage never types it. The
 * rules keep their own recovery handling (the lifecycle's recovered findings); this only keeps the
 * classifier from reading "server", "backend" and "health" as a failure.
 */
const RECOVERY = /\b(?:is|are|went|came|back|now)\s+(?:up|online|healthy|reachable)\b|\b(?:recovered|reconnected|restored)\b/i;
const FAILURE = /\b(?:fail\w*|error\w*|unable|cannot|can't|refused|denied|timed?\s*out|timeout|killed|panic\w*|fatal|down|unreachable|unavailable|lost|insufficient)\b/i;

export function statesRecovery(text: string): boolean {
  return RECOVERY.test(text) && !FAILURE.test(text);
}

export interface SecondStageOptions {
  model: ClassifierModel;
  /** The named class's posterior must reach this (0..1). */
  minPosterior: number;
  /** …and beat the `ordinary` class by this many nats (log-odds). */
  minMargin: number;
  /** Template verdicts kept (default 5,000). */
  maxTemplates?: number;
}

export class SecondStage {
  // Only these three are enumerable: with the model's identity they are what a rule fingerprint sees,
  // so a retrained model or new thresholds make the classify rules new rules on reload.
  readonly trainedOn: string;
  readonly minPosterior: number;
  readonly minMargin: number;
  readonly #classifier: Classifier;
  readonly #maxTemplates: number;
  readonly #byTemplate = new Map<string, string | null>();
  #last: LogRecord | null = null;
  #lastLabel: string | null = null;

  constructor(o: SecondStageOptions) {
    this.trainedOn = o.model.trainedOn;
    this.minPosterior = o.minPosterior;
    this.minMargin = o.minMargin;
    this.#classifier = new Classifier(o.model);
    this.#maxTemplates = o.maxTemplates ?? 5_000;
  }

  /** The incident type this record is, or null (below the thresholds, or `ordinary`). */
  labelOf(r: LogRecord, text: string): string | null {
    if (r === this.#last) return this.#lastLabel;
    const t = r.template;
    let label: string | null;
    const cached = t === undefined ? undefined : this.#byTemplate.get(t.id);
    if (cached !== undefined) {
      label = cached;
    } else {
      const line = t?.text ?? text;
      const p = statesRecovery(line) ? null : this.#classifier.predict(line);
      label = p !== null && p.posterior >= this.minPosterior && p.margin >= this.minMargin ? p.label : null;
      if (t !== undefined) {
        if (this.#byTemplate.size >= this.#maxTemplates) {
          this.#byTemplate.delete(this.#byTemplate.keys().next().value!);
          metrics.secondStageEvictions.inc();
        }
        this.#byTemplate.set(t.id, label);
      }
    }
    this.#last = r;
    this.#lastLabel = label;
    return label;
  }

  /** Template verdicts held (bounded by maxTemplates). */
  get size(): number {
    return this.#byTemplate.size;
  }
}
