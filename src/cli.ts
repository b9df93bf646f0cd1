#!/usr/bin/env node
/**
 * robot-sre-detector: one binary, several commands. Each command module exports `help` and
 * `run(argv)`; they are imported lazily so `replay` never loads the Kubernetes client.
 */
import { log } from './logger.ts';

interface Command {
  summary: string;
  load: () => Promise<{ help: string; run(argv: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  run: { summary: 'run the detector: pods, events, files, journald → Loki + detection → JetStream, Alertmanager', load: () => import('./commands/run.ts') },
  replay: { summary: 'replay log files or NDJSON through the pipeline and print findings (no cluster)', load: () => import('./commands/replay.ts') },
  patterns: { summary: 'mine log templates from a file (NDJSON per line)', load: () => import('./commands/patterns.ts') },
  rules: { summary: 'rules lint|test FILE...: validate rule files; run YAML rule tests', load: () => import('./commands/rules.ts') },
  streams: { summary: 'streams apply: provision the JetStream streams and KV bucket', load: () => import('./commands/streams.ts') },
  tap: { summary: 'watch live what a running detector\'s rules see and why they fire', load: () => import('./commands/tap.ts') },
  findings: { summary: 'findings tail|timeline: follow findings live; a post-incident timeline', load: () => import('./commands/findings.ts') },
};

export const HELP = `Usage: robot-sre-detector <command> [options]

Edge log collector and incident detector for small Kubernetes clusters.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "robot-sre-detector <command> --help" for the options of a command.
  --version  print the version
`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  const mod = await cmd.load();
  return mod.run(rest);
}

export function runCli(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err as Error & { code?: string };
      // Bad input (config, rules, arguments) is the user's to fix: say what and where, no stack.
      if (e.name === 'RuleLoadError' || e.name === 'ConfigError' || e.code?.startsWith('ERR_PARSE_ARGS')) {
        for (const line of e.message.split('\n')) process.stderr.write(`robot-sre-detector: ${line}\n`);
        process.exitCode = 2;
        setTimeout(() => process.exit(2), 1000).unref();
        return;
      }
      log.fatal({ err: e }, 'failed');
      process.exitCode = 1;
      // A command that failed half-way through its start (run: a component that does not build) may
      // hold servers and connections open: exit anyway, once the log line is written.
      setTimeout(() => process.exit(1), 1000).unref();
    },
  );
}

if (import.meta.main) runCli();
