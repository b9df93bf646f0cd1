import type { Finding } from '../model/finding.ts';
import type { FindingSink } from './types.ts';

const SEV_COLOR: Record<string, string> = { info: '36', warning: '33', error: '31', critical: '1;31' };

/** Findings on stdout: NDJSON for machines, one readable line each for people. */
export class StdoutFindingSink implements FindingSink {
  readonly name = 'stdout';
  private readonly format: 'ndjson' | 'table';
  private readonly out: NodeJS.WritableStream;
  private readonly color: boolean;

  constructor(format: 'ndjson' | 'table', out: NodeJS.WritableStream = process.stdout, color = format === 'table' && (process.stdout.isTTY ?? false)) {
    this.format = format;
    this.out = out;
    this.color = color;
  }

  publish(f: Finding): void {
    this.out.write(this.format === 'ndjson' ? `${JSON.stringify(f)}\n` : `${formatFindingLine(f, this.color)}\n`);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export function formatFindingLine(f: Finding, color = false): string {
  const sev = f.severity.toUpperCase().padEnd(8);
  const status = f.status === 'recovered' ? 'RECOVERED' : 'OBSERVED ';
  const c = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return `${f.observed_at}  ${c(SEV_COLOR[f.severity] ?? '0', sev)} ${status} ${f.incident_type.padEnd(30)} ${f.summary}`;
}
