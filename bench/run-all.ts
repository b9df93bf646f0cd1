/**
 * Runs every benchmark that needs no external setup beyond `npm run env:build`, each in its own
 * process (so one's heap does not skew another's RSS), and prints their final JSON lines, then one
 * combined JSON line.  node bench/run-all.ts [--only pipeline,patterns,...]
 * The pipeline benchmark runs the JavaScript build (dist/, as the container image does) with the
 * `small` overlay's NODE_OPTIONS, since it reports memory; the others run from source.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const ALL = ['pipeline', 'patterns', 'loki', 'findings', 'kube'];
const { values } = parseArgs({ options: { only: { type: 'string' } } });
const which = values.only ? values.only.split(',') : ALL;
const results: Record<string, unknown> = {};
/** Benchmarks run from dist/ (what the image runs), with the Node flags of the manifests. */
const FROM_BUILD: Record<string, string[]> = { pipeline: ['--max-old-space-size=256', '--max-semi-space-size=4'] };
if (which.some((n) => FROM_BUILD[n])) spawnSync(process.execPath, ['scripts/build.ts', '--bench'], { stdio: 'inherit' });
for (const name of which) {
  const argv = FROM_BUILD[name] ? [...FROM_BUILD[name], `dist/bench/${name}.js`] : [`bench/${name}.ts`];
  process.stderr.write(`\n== node ${argv.join(' ')}\n`);
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  process.stdout.write(`${last}\n`);
  try {
    results[name] = JSON.parse(last);
  } catch {
    results[name] = { error: `exit ${r.status}`, output: last.slice(0, 200) };
  }
}
process.stdout.write(`${JSON.stringify({ bench: 'all', results })}\n`);
