/**
 * The second stage's classifier: multinomial naive Bayes over word tokens and their bigrams,
 * trained at build time on the dev half of the incident corpus (`npm run train:classifier`) and
 * shipped as data (`pipelines/second-stage-model.ts`). `ordinary` is a class of its own (the
 * corpus's healthy and near-miss lines), so a line is typed only when an incident class beats it.
 *
 * Values never become features (numbers, hex, ids and paths are dropped by the tokenizer), so the
 * model is a few thousand words whatever the traffic.
 */

const WORD = /^[a-z][a-z_]*[a-z]$/;

/** Lower-cased whole words of ≥ 3 letters (a token with a digit, e.g. `0xdeadbeef` or `v2`, is not one), then bigrams of neighbours. */
export function classifierFeatures(text: string): string[] {
  const words = text
    .toLowerCase()
    .split(/[^a-z0-9_]+/)
    .filter((w) => w.length >= 3 && WORD.test(w));
  const out = words.slice();
  for (let i = 1; i < words.length; i++) out.push(`${words[i - 1]} ${words[i]}`);
  return out;
}

export const ORDINARY_CLASS = 'ordinary';

/** What training produces and the pipeline ships: log-probabilities rounded to 3 decimals. */
export interface ClassifierModel {
  /** sha-256 of the training input: a retrained model is a changed rule on reload. */
  readonly trainedOn: string;
  readonly classes: readonly string[];
  readonly logPrior: readonly number[];
  /** log P(unseen feature | class). */
  readonly logUnseen: readonly number[];
  /** Per feature seen at least twice: log P(feature | class) − logUnseen, per class (0: never seen). */
  readonly features: Readonly<Record<string, readonly number[]>>;
}

export interface LabelledText {
  text: string;
  /** An incident type, or ORDINARY_CLASS. */
  label: string;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Laplace-smoothed; a feature counts once per text (short lines, bursty tokens). Deterministic. */
export function trainClassifier(samples: readonly LabelledText[], trainedOn: string): ClassifierModel {
  const classes = [...new Set(samples.map((s) => s.label))].sort();
  const ci = new Map(classes.map((c, i) => [c, i]));
  const docs = new Array<number>(classes.length).fill(0);
  const totals = new Array<number>(classes.length).fill(0);
  const counts = new Map<string, number[]>();
  for (const s of samples) {
    const c = ci.get(s.label)!;
    docs[c]!++;
    for (const f of new Set(classifierFeatures(s.text))) {
      let v = counts.get(f);
      if (!v) counts.set(f, (v = new Array<number>(classes.length).fill(0)));
      v[c]!++;
      totals[c]!++;
    }
  }
  const V = counts.size;
  const logUnseen = totals.map((t) => Math.log(1 / (t + V)));
  const features: Record<string, number[]> = {};
  for (const f of [...counts.keys()].sort()) {
    const v = counts.get(f)!;
    // A feature seen once in the whole corpus carries no evidence worth shipping.
    if (v.reduce((a, b) => a + b, 0) < 2) continue;
    features[f] = v.map((k, c) => (k === 0 ? 0 : r3(Math.log((k + 1) / (totals[c]! + V)) - logUnseen[c]!)));
  }
  return { trainedOn, classes, logPrior: docs.map((d) => r3(Math.log(d / samples.length))), logUnseen: logUnseen.map(r3), features };
}

export interface Prediction {
  /** The best incident class (never `ordinary`). */
  readonly label: string;
  /** Its posterior probability among all classes. */
  readonly posterior: number;
  /** Log-odds of that class over `ordinary`. */
  readonly margin: number;
}

/** A model ready to predict: feature vectors in a Map, the class loop over typed arrays. */
export class Classifier {
  readonly trainedOn: string;
  private readonly classes: readonly string[];
  private readonly prior: Float64Array;
  private readonly unseen: Float64Array;
  private readonly vectors: Map<string, Float64Array>;
  private readonly ordinary: number;
  private readonly scores: Float64Array;

  constructor(model: ClassifierModel) {
    this.trainedOn = model.trainedOn;
    this.classes = model.classes;
    this.ordinary = model.classes.indexOf(ORDINARY_CLASS);
    this.prior = Float64Array.from(model.logPrior);
    this.unseen = Float64Array.from(model.logUnseen);
    this.vectors = new Map(Object.entries(model.features).map(([f, v]) => [f, Float64Array.from(v)]));
    this.scores = new Float64Array(model.classes.length);
  }

  predict(text: string): Prediction | null {
    const s = this.scores;
    const n = s.length;
    const fs = new Set(classifierFeatures(text));
    if (fs.size === 0) return null;
    for (let c = 0; c < n; c++) s[c] = this.prior[c]! + fs.size * this.unseen[c]!;
    for (const f of fs) {
      const v = this.vectors.get(f);
      if (v) for (let c = 0; c < n; c++) s[c]! += v[c]!;
    }
    let best = -1;
    let max = -Infinity;
    for (let c = 0; c < n; c++) {
      if (s[c]! > max) max = s[c]!;
      if (c !== this.ordinary && (best < 0 || s[c]! > s[best]!)) best = c;
    }
    if (best < 0) return null;
    let z = 0;
    for (let c = 0; c < n; c++) z += Math.exp(s[c]! - max);
    return { label: this.classes[best]!, posterior: Math.exp(s[best]! - max) / z, margin: this.ordinary < 0 ? Infinity : s[best]! - s[this.ordinary]! };
  }
}
