/** Writes container log files in the CRI format that kubelet (and kwok) serve: `<RFC3339Nano> <stream> <F|P> <msg>`. */
import { appendFile } from 'node:fs/promises';

export interface CriLine {
  /** Default: now. A string is written verbatim (use it for exact RFC3339Nano with nanoseconds). */
  ts?: Date | string;
  stream?: 'stdout' | 'stderr';
  /** true writes the `P` (partial) tag: the runtime split a long line and the next record continues it. */
  partial?: boolean;
  line: string;
}

export function criLine(l: CriLine): string {
  if (l.line.includes('\n')) throw new Error('a CRI record holds one line; split it or use partial records');
  const ts = typeof l.ts === 'string' ? l.ts : (l.ts ?? new Date()).toISOString();
  return `${ts} ${l.stream ?? 'stdout'} ${l.partial ? 'P' : 'F'} ${l.line}\n`;
}

/** Appends in one write so a follower never sees half a record. */
export async function appendCriLines(file: string, lines: CriLine[]): Promise<void> {
  await appendFile(file, lines.map(criLine).join(''));
}
