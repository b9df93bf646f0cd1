/**
 * Miner throughput: per Loghub-2k system, the 2k message contents repeated to N lines (default 1M),
 * timed through TemplateMiner.add() on this thread, default options.
 * Usage: node bench/patterns.ts [--datasets DIR] [--lines N]
 * Prints one line per system on stderr and a final JSON line on stdout:
 *   {"bench":"patterns","lines_per_system":…,"systems":{"HDFS":{"lines_per_sec":…},…},"lines_per_sec":…,"rss_mb_peak":…}
 * Header parsing (log-format) happens before timing: it is the parser's cost, not the miner's.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLoghubSystem } from '../src/detect/miner/evaluate.ts';
import { TemplateMiner } from '../src/detect/miner/miner.ts';

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: resolve(import.meta.dirname, '../../shared/datasets/loghub-2k') },
    lines: { type: 'string', default: '1000000' },
  },
});
const dir = values.datasets!;
const total = Number(values.lines);
const systems = readdirSync(dir)
  .filter((s) => statSync(join(dir, s)).isDirectory() && existsSync(join(dir, s, `${s}_2k.log`)))
  .sort();

const results: Record<string, { lines_per_sec: number; clusters: number; seconds: number }> = {};
let allLines = 0;
let allSeconds = 0;
let sink = 0;
for (const name of systems) {
  const { contents } = loadLoghubSystem(dir, name);
  // Fresh strings per repetition would measure the allocator, not the miner; the same 2k strings
  // repeated is what the task defines, and the miner never caches by string identity.
  const miner = new TemplateMiner();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < total; i++) sink += miner.add(contents[i % contents.length]!).template.length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  allLines += total;
  allSeconds += seconds;
  results[name] = { lines_per_sec: Math.round(total / seconds), clusters: miner.stats().clusters, seconds: Math.round(seconds * 1000) / 1000 };
  process.stderr.write(`${name.padEnd(12)} ${results[name].lines_per_sec.toLocaleString('en-US').padStart(12)} lines/s  ${miner.stats().clusters} clusters\n`);
}
const rssMb = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
const overall = Math.round(allLines / allSeconds);
process.stderr.write(`overall ${overall.toLocaleString('en-US')} lines/s, rss peak ${rssMb} MB${sink < 0 ? '!' : ''}\n`);
process.stdout.write(
  `${JSON.stringify({ bench: 'patterns', lines_per_system: total, systems: results, lines_per_sec: overall, rss_mb_peak: rssMb })}\n`,
);
