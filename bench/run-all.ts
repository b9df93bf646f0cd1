/**
 * Runs every benchmark that needs no external setup beyond `npm run env:build`, each in its own
 * process (so one's heap does not skew another's RSS), and prints their final JSON lines, then one
 * combined JSON line.  node bench/run-all.ts [--only pipeline,patterns,...]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const ALL = ['pipeline', 'patterns', 'loki', 'findings', 'kube'];
const { values } = parseArgs({ options: { only: { type: 'string' } } });
const which = values.only ? values.only.split(',') : ALL;
const results: Record<string, unknown> = {};
for (const name of which) {
  process.stderr.write(`\n== bench/${name}.ts\n`);
  const r = spawnSync(process.execPath, [`bench/${name}.ts`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  process.stdout.write(`${last}\n`);
  try {
    results[name] = JSON.parse(last);
  } catch {
    results[name] = { error: `exit ${r.status}`, output: last.slice(0, 200) };
  }
}
process.stdout.write(`${JSON.stringify({ bench: 'all', results })}\n`);
