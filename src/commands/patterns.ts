import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parseCommand } from './args.ts';
import { TemplateMiner } from '../detect/miner/miner.ts';
import { compileLogFormat, type LogFormat } from '../parse/log-format.ts';

const DEFAULT_WINDOW = 10_000;
const IDLE_FLUSH_MS = 300;

export const help = `Usage: robot-sre-detector patterns FILE|- [--log-format FORMAT] [--window N]

Mine log templates from FILE (or stdin with -), one pass, with the default miner configuration.

Writes one NDJSON object per input line to stdout, in input order:
  {"line":<1-based>,"cluster":"<id>","template":"<template with <*> for variables>"}
and a summary (lines, clusters, lines/s) to stderr.

Clusters that turn out to be one pattern are merged (the oldest id survives). Output is held back
by up to --window lines (and at most ${IDLE_FLUSH_MS} ms when input pauses) so that each line is
printed with its cluster's id and template after the merges its neighbours caused. Memory stays
bounded by the window; --window 0 prints every line as soon as it is read.

Options:
  --log-format FORMAT  Header format in the logparser benchmark syntax, e.g.
                       '<Date> <Time> <Level> <Component>: <Content>'. <Content> is mined; a line
                       that does not match is mined whole and counted. Without it the whole line is
                       the content.
  --window N           Lines held back before printing (default ${DEFAULT_WINDOW}).
  -h, --help           Show this help.
`;

export interface PatternsIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

interface Pending {
  line: number;
  id: string;
  /** Template when read: used if the cluster is evicted before the line is printed. */
  template: string;
}

export async function run(argv: string[], io: PatternsIo = process): Promise<number> {
  const parsed = parseCommand('patterns', argv, { 'log-format': { type: 'string' }, window: { type: 'string' } }, help, io);
  if (typeof parsed === 'number') return parsed;
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length > 1) {
    io.stderr.write(`patterns: expected exactly one FILE (or - for stdin)\n\n${help}`);
    return 2;
  }
  const window = parsed.values.window === undefined ? DEFAULT_WINDOW : Number(parsed.values.window);
  if (!Number.isInteger(window) || window < 0) {
    io.stderr.write('patterns: --window must be a non-negative integer\n');
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
  let failure: Error | null = null;
  input.once('error', (err) => {
    failure ??= err;
  });
  // A closed stdout (`| head`) ends the run quietly, like other Unix filters.
  let outputClosed = false;
  const onOutputError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') outputClosed = true;
    else failure ??= err;
  };
  io.stdout.on('error', onOutputError);

  const miner = new TemplateMiner();
  const pending: Pending[] = [];
  let head = 0; // pending[head..] are not printed yet
  let out = '';
  const emit = (upTo: number) => {
    for (; head < upTo; head++) {
      const p = pending[head]!;
      const id = miner.canonicalId(p.id) ?? p.id;
      const template = miner.templateOf(id) ?? p.template;
      out += `{"line":${p.line},"cluster":${JSON.stringify(id)},"template":${JSON.stringify(template)}}\n`;
    }
    if (head > 4096 && head * 2 > pending.length) {
      pending.splice(0, head);
      head = 0;
    }
  };
  const write = async () => {
    if (!out || outputClosed) return;
    const chunk = out;
    out = '';
    if (!io.stdout.write(chunk) && !outputClosed) await once(io.stdout, 'drain').catch(() => undefined);
  };
  // Input that pauses (a live `kubectl logs -f | …`) still gets its lines printed promptly.
  let lastRead = Date.now();
  const idle = setInterval(() => {
    if (pending.length > head && Date.now() - lastRead >= IDLE_FLUSH_MS) {
      emit(pending.length);
      if (out && !outputClosed) {
        io.stdout.write(out);
        out = '';
      }
    }
  }, IDLE_FLUSH_MS);
  idle.unref();

  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  let unmatched = 0;
  const t0 = process.hrtime.bigint();
  try {
    for await (const line of lines) {
      if (outputClosed || failure) break;
      lastRead = Date.now();
      n++;
      let content = line;
      if (format) {
        const c = format.content(line.trim());
        if (c === null) unmatched++;
        else content = c;
      }
      const m = miner.add(content);
      pending.push({ line: n, id: m.clusterId, template: m.template });
      if (pending.length - head > window) emit(pending.length - window);
      if (out.length >= 1 << 16) await write();
    }
  } catch (err) {
    failure ??= err as Error;
  } finally {
    clearInterval(idle);
    lines.close();
  }
  emit(pending.length);
  await write();
  io.stdout.off('error', onOutputError);
  if (failure) {
    io.stderr.write(`patterns: ${(failure as Error).message}\n`);
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
