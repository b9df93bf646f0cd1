/**
 * The benchmark's input file: Loghub-2k lines (../shared/datasets) mixed with incident lines, one
 * line per row with a leading RFC3339Nano timestamp every tool parses. Timestamps are strictly
 * increasing (Loki would drop a same-stream line with the same timestamp and content as a
 * duplicate) and recent (now − 50 min … now), so Loki accepts them without raising its age limits.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';

import { INCIDENTS, loghubLines } from '../lib/corpus.ts';

export { loghubLines };

/** The "line" of each log record in samples/incident.ndjson (real incident and near-miss samples). */
export function sampleLines(file: string): string[] {
  const out: string[] = [];
  for (const row of readFileSync(file, 'utf8').split('\n')) {
    if (!row) continue;
    const o = JSON.parse(row) as { line?: unknown };
    if (typeof o.line === 'string' && o.line) out.push(o.line.replace(/[\r\n]+/g, ' '));
  }
  return out;
}

/** RFC3339 with nine fractional digits, from epoch nanoseconds. */
function rfc3339Nano(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

export interface InputStats {
  lines: number;
  bytes: number;
  loghub: number;
  samples: number;
  incidents: number;
  firstTs: string;
  lastTs: string;
}

export async function writeInput(file: string, opts: { lines: number; datasets: string; samples: string; spanMs?: number; endMs?: number }): Promise<InputStats> {
  const pool = loghubLines(opts.datasets);
  if (pool.length === 0) throw new Error(`no Loghub lines under ${opts.datasets}`);
  const samples = sampleLines(opts.samples);
  const span = BigInt(opts.spanMs ?? 50 * 60_000) * 1_000_000n;
  const end = BigInt(opts.endMs ?? Date.now()) * 1_000_000n;
  const start = end - span;
  const step = span / BigInt(opts.lines);
  if (step < 1n) throw new Error('too many lines for the time span');
  const out = createWriteStream(file);
  const stats: InputStats = { lines: 0, bytes: 0, loghub: 0, samples: 0, incidents: 0, firstTs: '', lastTs: '' };
  let buf = '';
  for (let i = 0; i < opts.lines; i++) {
    const ts = rfc3339Nano(start + BigInt(i) * step);
    let line: string;
    if (i % 997 === 0) {
      line = INCIDENTS[(i / 997) % INCIDENTS.length]!;
      stats.incidents++;
    } else if (i % 97 === 0 && samples.length) {
      line = samples[(i / 97) % samples.length]!;
      stats.samples++;
    } else {
      line = pool[i % pool.length]!;
      stats.loghub++;
    }
    const row = `${ts} ${line}\n`;
    buf += row;
    stats.bytes += Buffer.byteLength(row);
    if (i === 0) stats.firstTs = ts;
    stats.lastTs = ts;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  stats.lines = opts.lines;
  return stats;
}
