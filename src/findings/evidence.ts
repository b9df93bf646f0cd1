import type { EvidenceLine, ResourceScope } from '../model/finding.ts';
import type { LogRecord } from '../model/log-record.ts';
import { redact, truncateUtf8 } from '../parse/redact.ts';

export const MAX_EVIDENCE_LINES = 5;
export const MAX_EVIDENCE_LINE_BYTES = 512;
/** Raw bytes kept per sample before redaction, so a secret is never cut in half before it is masked. */
const RAW_SAMPLE_CHARS = 4096;

export interface Sample {
  ts: string;
  line: string;
  pod?: string;
  container?: string;
}

export function sampleOf(r: LogRecord): Sample {
  const s: Sample = { ts: r.ts, line: r.line.length > RAW_SAMPLE_CHARS ? r.line.slice(0, RAW_SAMPLE_CHARS) : r.line };
  if (r.target.pod) s.pod = r.target.pod;
  if (r.target.container) s.container = r.target.container;
  return s;
}

/** Redact, then cap: at most 5 lines of at most 512 bytes leave the process. */
export function evidenceLines(samples: readonly Sample[]): EvidenceLine[] {
  return samples.slice(0, MAX_EVIDENCE_LINES).map((s) => {
    const e: EvidenceLine = { ts: s.ts, line: truncateUtf8(redact(s.line), MAX_EVIDENCE_LINE_BYTES) };
    if (s.pod) e.pod = s.pod;
    if (s.container) e.container = s.container;
    return e;
  });
}

const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * A LogQL query that points back at the raw lines in Loki. Stream selector on the low-cardinality
 * labels the Loki sink sets (cluster, namespace, container, source); pod is structured metadata.
 */
export function lokiQuery(scope: ResourceScope, opts: { source?: string; literal?: string | undefined; pod?: boolean }): string {
  const sel = [`cluster=${q(scope.cluster)}`, `namespace=${q(scope.namespace)}`];
  if (opts.source === 'event') sel.push(`source="event"`);
  else if (scope.container) sel.push(`container=${q(scope.container)}`);
  let query = `{${sel.join(', ')}}`;
  if (opts.pod && scope.pod && opts.source !== 'event') query += ` | pod=${q(scope.pod)}`;
  if (opts.literal) query += ` |= ${q(opts.literal)}`;
  return query;
}

/** The longest constant run of a template: a good LogQL line filter when the rule has no literal. */
export function literalFromTemplate(template: string | undefined): string | undefined {
  if (!template) return undefined;
  let best = '';
  for (const part of template.split('<*>')) {
    const t = part.trim();
    if (t.length > best.length) best = t;
  }
  return best.length >= 6 ? best.slice(0, 80) : undefined;
}
