/**
 * Grouping accuracy (GA) and template accuracy of the default miner on Loghub-2k systems.
 * Usage: node scripts/eval-patterns.ts [--datasets DIR] [--option name=value …]
 * (--option overrides a numeric MinerOptions field for experiments; the reported figures use none.)
 * Prints a table on stderr and a final JSON line on stdout:
 *   {"systems":{…},"ga_mean":…,"template_accuracy_mean":…}
 * The miner gets the same default options for every system; only the header format (the
 * benchmark's own) differs per system.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOGHUB_FORMATS, loadLoghubSystem, scoreSystem, type SystemScore } from '../src/detect/miner/evaluate.ts';
import type { MinerOptions } from '../src/detect/miner/miner.ts';

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: resolve(import.meta.dirname, '../../shared/datasets/loghub-2k') },
    option: { type: 'string', multiple: true, default: [] },
  },
});
const dir = values.datasets!;
const opts: MinerOptions = {};
for (const kv of values.option ?? []) {
  const [k, v] = kv.split('=');
  if (k && v !== undefined) (opts as Record<string, number>)[k] = Number(v);
}

const systems = readdirSync(dir)
  .filter((s) => statSync(join(dir, s)).isDirectory() && existsSync(join(dir, s, `${s}_2k.log_structured.csv`)))
  .sort();
const results: Record<string, SystemScore> = {};
const pad = (s: string, n: number) => s.padEnd(n);
process.stderr.write(`${pad('system', 12)} ${pad('GA', 7)} ${pad('GA-strm', 7)} ${pad('TmplAcc', 7)} clusters/truth  (content mismatches)\n`);
for (const name of systems) {
  if (!LOGHUB_FORMATS[name]) process.stderr.write(`${name}: no known header format, whole line is the content\n`);
  const sys = loadLoghubSystem(dir, name);
  const r = scoreSystem(sys, opts);
  results[name] = r;
  process.stderr.write(
    `${pad(name, 12)} ${r.ga.toFixed(3).padEnd(7)} ${r.ga_streaming.toFixed(3).padEnd(7)} ${r.template_accuracy.toFixed(3).padEnd(7)} ${r.clusters}/${r.truth_events}  (${r.content_mismatches})\n`,
  );
}
const vals = Object.values(results);
const mean = (f: (r: SystemScore) => number) => (vals.length ? vals.reduce((a, r) => a + f(r), 0) / vals.length : 0);
const round = (x: number) => Math.round(x * 10000) / 10000;
const out = {
  systems: Object.fromEntries(
    Object.entries(results).map(([k, r]) => [k, { ...r, ga: round(r.ga), ga_streaming: round(r.ga_streaming), template_accuracy: round(r.template_accuracy) }]),
  ),
  ga_mean: round(mean((r) => r.ga)),
  ga_streaming_mean: round(mean((r) => r.ga_streaming)),
  template_accuracy_mean: round(mean((r) => r.template_accuracy)),
};
process.stderr.write(`mean GA ${out.ga_mean}  streaming GA ${out.ga_streaming_mean}  template accuracy ${out.template_accuracy_mean}\n`);
process.stdout.write(`${JSON.stringify(out)}\n`);
