import { parseCommand } from './args.ts';
import { loadPipelineFile } from '../detect/load.ts';
import { loadOperatorRules } from '../detect/operator-rules.ts';
import type { RuleSet } from '../detect/types.ts';
import { formatFailure, loadRuleTests, runRuleTestFile } from './rule-tests.ts';
import { detectionEngine } from '../pipeline.ts';

export const help = `Usage: robot-sre-detector rules lint FILE...
       robot-sre-detector rules test [--verbose] FILE...

lint: validate rule files without running them: operator rules (YAML or JSON, data only) and
TypeScript pipelines (*.ts). Every problem names the file, the rule and the field.
A rule whose patterns have no required literal and no selector beyond the source (so they run
on every line) gets a note.

test: run YAML rule tests (see docs/rules.md, "Testing rules"): each case feeds records with
event times through the real engine and states the findings that must (expect:) or must not
(expect_none:) come out. A failing case prints the findings it got, what it expected, and a trace
of every record: which rules matched it and why each fired or not (below_threshold, excluded,
grouped under a higher-priority rule, suppressed).

Exit code 0 when all files are valid (lint) or every case passes (test), 1 otherwise.

Options:
  --verbose    test: print the trace of passing cases too
  -h, --help   show this help
`;

async function test(files: string[], verbose: boolean): Promise<number> {
  let failed = 0;
  let passed = 0;
  for (const file of files) {
    try {
      const results = await runRuleTestFile(await loadRuleTests(file));
      for (const r of results) {
        if (r.ok) {
          passed++;
          process.stdout.write(`ok   ${file}: ${r.name}\n`);
          if (verbose) process.stdout.write(`${formatFailure(r).replace(/^FAIL /, 'TRACE ')}\n`);
        } else {
          failed++;
          process.stdout.write(`${formatFailure(r).replace(/^FAIL /, `FAIL ${file}: `)}\n`);
        }
      }
    } catch (err) {
      failed++;
      process.stdout.write(`FAIL ${(err as Error).message}\n`);
    }
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed ? 1 : 0;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('rules', argv, { verbose: { type: 'boolean' } }, help, process);
  if (typeof parsed === 'number') return parsed;
  const [sub, ...files] = parsed.positionals;
  if (!sub) {
    process.stderr.write(help);
    return 2;
  }
  if (sub !== 'lint' && sub !== 'test') {
    process.stderr.write(`unknown subcommand "rules ${sub}" (expected: lint, test)\n`);
    return 2;
  }
  if (files.length === 0) {
    process.stderr.write(`rules ${sub}: name at least one file\n`);
    return 2;
  }
  if (sub === 'test') return test(files, parsed.values.verbose === true);
  let failed = 0;
  for (const file of files) {
    try {
      const set: RuleSet = /\.(ts|mts|js|mjs)$/.test(file) ? await loadPipelineFile(file) : await loadOperatorRules(file);
      // Compiling the rules into an engine catches what per-rule checks cannot (duplicate ids).
      const engine = detectionEngine({ rules: set.rules });
      engine.close();
      process.stdout.write(`ok   ${file}: ${set.rules.length} rule${set.rules.length === 1 ? '' : 's'}\n`);
      for (const id of engine.unprefilteredRules()) {
        // A selector beyond the source (level, reason, pod …) already narrows what the patterns see.
        const sel = set.rules.find((r) => r.id === id)?.selector ?? {};
        if (Object.entries(sel).some(([k, v]) => k !== 'source' && v !== undefined)) continue;
        process.stdout.write(`note ${file}: rule "${id}": no literal of 3+ characters every match must contain (or RE2-only syntax), so its patterns run on every line; a literal anchor makes it cheaper\n`);
      }
    } catch (err) {
      failed++;
      process.stdout.write(`FAIL ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}
