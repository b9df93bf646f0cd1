/**
 * Grouping accuracy (GA) and template accuracy of the default miner on Loghub-2k systems, and a
 * leave-one-system-out (LOSO) estimate of GA on a system the settings were not chosen on.
 * Usage: node scripts/eval-patterns.ts [--datasets DIR] [--option name=value …] [--no-loso]
 * (--option overrides a numeric MinerOptions field for experiments; the reported figures use none.)
 * Prints tables on stderr and a final JSON line on stdout:
 *   {"systems":{…},"ga_mean":…,"template_accuracy_mean":…,"loso":{"grid":[…],"systems":{…},"ga_mean":…}}
 * The miner gets the same default options for every system; only the header format (the
 * benchmark's own) differs per system.
 *
 * LOSO: the miner's tunable knobs (`mergeValues`, `minConstantShare`) span a small grid. For each
 * system, the setting with the best mean GA on the other systems is chosen (ties go to the default,
 * then to grid order) and the held-out system is scored with it. The token-typing and folding rules
 * have no per-system switch, so they are the same in every fold.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOGHUB_FORMATS, loadLoghubSystem, scoreSystem, type LoghubSystem, type SystemScore } from '../src/detect/miner/evaluate.ts';
import type { MinerOptions } from '../src/detect/miner/miner.ts';

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: resolve(import.meta.dirname, '../../shared/datasets/loghub-2k') },
    option: { type: 'string', multiple: true, default: [] },
    'no-loso': { type: 'boolean', default: false },
  },
});
const dir = values.datasets!;
const opts: MinerOptions = {};
for (const kv of values.option ?? []) {
  const [k, v] = kv.split('=');
  if (k && v !== undefined) (opts as Record<string, number>)[k] = Number(v);
}

/** The LOSO grid; the defaults (3, 0.34) are one of its points. */
const GRID_MERGE_VALUES = [2, 3, 4, 5];
const GRID_MIN_CONSTANT_SHARE = [0.2, 0.34, 0.6];
const DEFAULT_SETTING = { mergeValues: 3, minConstantShare: 0.34 };

const systems = readdirSync(dir)
  .filter((s) => statSync(join(dir, s)).isDirectory() && existsSync(join(dir, s, `${s}_2k.log_structured.csv`)))
  .sort();
const loaded = new Map<string, LoghubSystem>();
const results: Record<string, SystemScore> = {};
const pad = (s: string, n: number) => s.padEnd(n);
process.stderr.write(`${pad('system', 12)} ${pad('GA', 7)} ${pad('GA-strm', 7)} ${pad('TmplAcc', 7)} clusters/truth  (content mismatches)\n`);
for (const name of systems) {
  if (!LOGHUB_FORMATS[name]) process.stderr.write(`${name}: no known header format, whole line is the content\n`);
  const sys = loadLoghubSystem(dir, name);
  loaded.set(name, sys);
  const r = scoreSystem(sys, opts);
  results[name] = r;
  process.stderr.write(
    `${pad(name, 12)} ${r.ga.toFixed(3).padEnd(7)} ${r.ga_streaming.toFixed(3).padEnd(7)} ${r.template_accuracy.toFixed(3).padEnd(7)} ${r.clusters}/${r.truth_events}  (${r.content_mismatches})\n`,
  );
}
const vals = Object.values(results);
const mean = (f: (r: SystemScore) => number) => (vals.length ? vals.reduce((a, r) => a + f(r), 0) / vals.length : 0);
const round = (x: number) => Math.round(x * 10000) / 10000;
const out: Record<string, unknown> = {
  systems: Object.fromEntries(
    Object.entries(results).map(([k, r]) => [k, { ...r, ga: round(r.ga), ga_streaming: round(r.ga_streaming), template_accuracy: round(r.template_accuracy) }]),
  ),
  ga_mean: round(mean((r) => r.ga)),
  ga_streaming_mean: round(mean((r) => r.ga_streaming)),
  template_accuracy_mean: round(mean((r) => r.template_accuracy)),
};
process.stderr.write(`mean GA ${out.ga_mean}  streaming GA ${out.ga_streaming_mean}  template accuracy ${out.template_accuracy_mean}\n`);

if (!values['no-loso'] && systems.length >= 2) {
  const grid: Array<{ mergeValues: number; minConstantShare: number }> = [];
  for (const mergeValues of GRID_MERGE_VALUES) for (const minConstantShare of GRID_MIN_CONSTANT_SHARE) grid.push({ mergeValues, minConstantShare });
  // GA of every grid setting on every system, computed once; each fold only picks from it.
  const ga = grid.map((g) => new Map(systems.map((s) => [s, scoreSystem(loaded.get(s)!, { ...opts, ...g }).ga])));
  const isDefault = (g: (typeof grid)[number]) => g.mergeValues === DEFAULT_SETTING.mergeValues && g.minConstantShare === DEFAULT_SETTING.minConstantShare;
  const folds: Record<string, { ga: number; default_ga: number; train_ga_mean: number; chosen: (typeof grid)[number] }> = {};
  process.stderr.write(`\nleave-one-system-out (grid mergeValues ${GRID_MERGE_VALUES.join('/')} x minConstantShare ${GRID_MIN_CONSTANT_SHARE.join('/')})\n`);
  process.stderr.write(`${pad('held out', 12)} ${pad('GA', 7)} ${pad('train', 7)} chosen setting\n`);
  for (const held of systems) {
    const train = systems.filter((s) => s !== held);
    let best = -1;
    let bestScore = -Infinity;
    grid.forEach((g, i) => {
      const m = train.reduce((a, s) => a + ga[i]!.get(s)!, 0) / train.length;
      // Ties (within float noise) go to the default setting, then to the first in grid order.
      if (m > bestScore + 1e-12 || (Math.abs(m - bestScore) <= 1e-12 && isDefault(g))) {
        best = i;
        bestScore = m;
      }
    });
    const chosen = grid[best]!;
    const held_ga = ga[best]!.get(held)!;
    folds[held] = { ga: round(held_ga), default_ga: round(results[held]!.ga), train_ga_mean: round(bestScore), chosen };
    process.stderr.write(`${pad(held, 12)} ${held_ga.toFixed(3).padEnd(7)} ${bestScore.toFixed(3).padEnd(7)} mergeValues=${chosen.mergeValues} minConstantShare=${chosen.minConstantShare}\n`);
  }
  const losoMean = Object.values(folds).reduce((a, f) => a + f.ga, 0) / systems.length;
  const minHeld = Math.min(...Object.values(folds).map((f) => f.ga));
  out.loso = { grid, systems: folds, ga_mean: round(losoMean), ga_min: round(minHeld) };
  process.stderr.write(`LOSO mean GA ${round(losoMean)} (min ${round(minHeld)})  vs default on all ${systems.length}: ${out.ga_mean}\n`);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
