import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { TemplateMiner } from '../detect/miner/miner.ts';
import { compileLogFormat, type LogFormat } from '../parse/log-format.ts';

export const help = `Usage: robot-sre-detector patterns FILE|- [--log-format FORMAT]

Mine log templates from FILE (or stdin with -), one pass, with the default miner configuration.

Writes one NDJSON object per input line to stdout, in input order:
  {"line":<1-based>,"cluster":"<id>","template":"<template with <*> for variables>"}
and a summary (lines, clusters, lines/s) to stderr. The template is the cluster's template when
the line was read; a later line can still widen it (cluster ids stay stable).

Options:
  --log-format FORMAT  Header format in the logparser benchmark syntax, e.g.
                       '<Date> <Time> <Level> <Component>: <Content>'. <Content> is mined; a line
                       that does not match is mined whole and counted. Without it the whole line is
                       the content.
  -h, --help           Show this help.
`;

export interface PatternsIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export async function run(argv: string[], io: PatternsIo = process): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { 'log-format': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    io.stderr.write(`patterns: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout.write(help);
    return 0;
  }
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length > 1) {
    io.stderr.write(`patterns: expected exactly one FILE (or - for stdin)\n\n${help}`);
    return 2;
  }
  let format: LogFormat | null = null;
  const fmt = parsed.values['log-format'];
  if (fmt !== undefined) {
    try {
      format = compileLogFormat(fmt);
    } catch (err) {
      io.stderr.write(`patterns: --log-format: ${(err as Error).message}\n`);
      return 2;
    }
  }

  const input: Readable = file === '-' ? io.stdin : createReadStream(file);
  let openError: Error | null = null;
  input.once('error', (err) => {
    openError = err;
  });
  // A closed stdout (`| head`) ends the run quietly, like other Unix filters.
  let outputClosed = false;
  const onOutputError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') outputClosed = true;
    else openError ??= err;
  };
  io.stdout.on('error', onOutputError);
  const lines = createInterface({ input, crlfDelay: Infinity });
  const miner = new TemplateMiner();
  let n = 0;
  let unmatched = 0;
  let out = '';
  const t0 = process.hrtime.bigint();
  try {
    for await (const line of lines) {
      if (outputClosed || openError) break;
      n++;
      let content = line;
      if (format) {
        const c = format.content(line.trim());
        if (c === null) unmatched++;
        else content = c;
      }
      const m = miner.add(content);
      out += `{"line":${n},"cluster":${JSON.stringify(m.clusterId)},"template":${JSON.stringify(m.template)}}\n`;
      if (out.length >= 1 << 16) {
        const chunk = out;
        out = '';
        if (!io.stdout.write(chunk) && !outputClosed) await once(io.stdout, 'drain').catch(() => undefined);
      }
    }
  } catch (err) {
    openError ??= err as Error;
  }
  lines.close();
  if (out && !outputClosed) io.stdout.write(out);
  io.stdout.off('error', onOutputError);
  if (openError) {
    io.stderr.write(`patterns: ${(openError as Error).message}\n`);
    return 1;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const s = miner.stats();
  const rate = seconds > 0 ? Math.round(n / seconds) : n;
  io.stderr.write(
    `patterns: ${n} lines, ${s.clusters} clusters` +
      (format ? `, ${unmatched} lines not matching --log-format` : '') +
      (s.evicted ? `, ${s.evicted} clusters evicted` : '') +
      `, ${rate} lines/s (${seconds.toFixed(3)} s)\n`,
  );
  return 0;
}
