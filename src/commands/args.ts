import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

export interface CommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/**
 * The part every command shares: parse the flags (plus --help), print the help on request, and on
 * a bad flag or a wrong subcommand print why with the usage and return exit code 2.
 * Returns the parsed values, or the exit code to return.
 */
export function parseCommand<O extends ParseArgsOptionsConfig>(
  name: string,
  argv: string[],
  options: O,
  help: string,
  io: CommandIo,
  opts: { subcommand?: string } = {},
): Parsed<O & { help: { type: 'boolean'; short: 'h' } }> | number {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } };
  let parsed: Parsed<typeof all>;
  try {
    parsed = parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
  } catch (err) {
    io.stderr.write(`${name}: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(help);
    return 0;
  }
  if (opts.subcommand !== undefined && (parsed.positionals[0] !== opts.subcommand || parsed.positionals.length !== 1)) {
    io.stderr.write(`${name}: expected the subcommand "${opts.subcommand}"\n\n${help}`);
    return 2;
  }
  return parsed;
}
