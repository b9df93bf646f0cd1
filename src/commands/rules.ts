import { parseCommand } from './args.ts';
import { loadPipelineFile } from '../detect/load.ts';
import { loadOperatorRules } from '../detect/operator-rules.ts';
import { DetectionEngine } from '../detect/engine.ts';
import type { RuleSet } from '../detect/types.ts';

export const help = `Usage: robot-sre-detector rules lint FILE...

Validate rule files without running them: operator rules (YAML or JSON, data only) and
TypeScript pipelines (*.ts). Every problem names the file, the rule and the field.
Exit code 0 when all files are valid, 1 otherwise.

Options:
  -h, --help   show this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('rules', argv, {}, help, process);
  if (typeof parsed === 'number') return parsed;
  const [sub, ...files] = parsed.positionals;
  if (!sub) {
    process.stderr.write(help);
    return 2;
  }
  if (sub !== 'lint') {
    process.stderr.write(`unknown subcommand "rules ${sub}" (expected: lint)\n`);
    return 2;
  }
  if (files.length === 0) {
    process.stderr.write('rules lint: name at least one file\n');
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    try {
      const set: RuleSet = /\.(ts|mts|js|mjs)$/.test(file) ? await loadPipelineFile(file) : await loadOperatorRules(file);
      // Compiling the rules into an engine catches what per-rule checks cannot (duplicate ids).
      new DetectionEngine({ rules: set.rules }).close();
      process.stdout.write(`ok   ${file}: ${set.rules.length} rule${set.rules.length === 1 ? '' : 's'}\n`);
    } catch (err) {
      failed++;
      process.stdout.write(`FAIL ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}
