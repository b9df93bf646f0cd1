import type { LogRecord, Target } from '../../src/model/log-record.ts';
import type { Finding } from '../../src/model/finding.ts';
import { parseRecord } from '../../src/parse/record.ts';
import { findingErrors } from './validate-finding.ts';

export const T0 = Date.parse('2026-01-01T00:00:00Z');

export function rec(offsetMs: number, line: string, target: Partial<Target> = {}): LogRecord {
  const ms = T0 + offsetMs;
  return parseRecord({
    ts: new Date(ms).toISOString(),
    tsMs: ms,
    line,
    stream: 'stdout',
    kind: 'pod',
    level: 'unknown',
    target: { cluster: 'c1', namespace: 'ns', pod: 'app-1', container: 'app', workload: 'app', ...target },
  });
}

export function event(offsetMs: number, reason: string, message: string, opts: { kind?: string; name?: string; node?: string; count?: number; namespace?: string } = {}): LogRecord {
  const ms = T0 + offsetMs;
  const involvedObject = { kind: opts.kind ?? 'Pod', name: opts.name ?? 'app-1', namespace: opts.namespace ?? 'ns' };
  return parseRecord({
    ts: new Date(ms).toISOString(),
    tsMs: ms,
    line: `type=Warning reason=${reason} msg=${JSON.stringify(message)}`,
    message,
    stream: 'unknown',
    kind: 'event',
    level: 'unknown',
    target: { cluster: 'c1', namespace: involvedObject.namespace, ...(involvedObject.kind === 'Pod' ? { pod: involvedObject.name } : {}), ...(opts.node ? { node: opts.node } : {}) },
    event: { uid: `${reason}-${involvedObject.name}`, type: 'Warning', reason, count: opts.count ?? 1, involvedObject },
  });
}

/** Every finding a test sees is checked against the published JSON Schema. */
export function expectValid(findings: readonly Finding[]): Finding[] {
  for (const f of findings) {
    const errs = findingErrors(f);
    if (errs.length) throw new Error(`finding ${f.incident_type}/${f.status} violates the schema: ${errs.join('; ')}`);
  }
  return [...findings];
}
