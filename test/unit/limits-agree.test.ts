/**
 * One source for each limit of the wire: the caps the envelope enforces (src/nats/envelope.ts) are
 * what the published JSON Schema says and what docs/findings.md says.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import schema from '../../src/model/finding.schema.json' with { type: 'json' };
import { MAX_ENVELOPE_BYTES, MAX_EVIDENCE_LINE_BYTES, MAX_EVIDENCE_LINES, MAX_QUERY_BYTES, MAX_SUMMARY_BYTES, MAX_TEMPLATE_BYTES, MAX_TEMPLATES } from '../../src/nats/envelope.ts';

type Node = { properties?: Record<string, Node>; items?: Node; maxItems?: number; maxLength?: number };
const at = (path: string[]): Node => path.reduce<Node>((n, k) => (k === '[]' ? n.items! : n.properties![k]!), schema as unknown as Node);
const docs = readFileSync(new URL('../../docs/findings.md', import.meta.url), 'utf8');
const kib = (n: number) => (n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`);

describe('wire limits: envelope = schema = docs', () => {
  it('the schema states the envelope caps (bytes caps bound characters too)', () => {
    expect(at(['evidence', 'lines']).maxItems).toBe(MAX_EVIDENCE_LINES);
    expect(at(['evidence', 'lines', '[]', 'line']).maxLength).toBe(MAX_EVIDENCE_LINE_BYTES);
    expect(at(['evidence', 'templates']).maxItems).toBe(MAX_TEMPLATES);
    expect(at(['evidence', 'templates', '[]', 'template']).maxLength).toBe(MAX_TEMPLATE_BYTES);
    expect(at(['summary']).maxLength).toBe(MAX_SUMMARY_BYTES);
    expect(at(['evidence', 'loki', 'query']).maxLength).toBe(MAX_QUERY_BYTES);
  });

  it('docs/findings.md states the same caps', () => {
    expect(docs).toContain(`at most ${MAX_EVIDENCE_LINES} evidence lines of ≤${MAX_EVIDENCE_LINE_BYTES} B each`);
    expect(docs).toContain(`at most ${MAX_TEMPLATES} templates of ≤${MAX_TEMPLATE_BYTES} B`);
    expect(docs).toContain(`a summary of ≤${kib(MAX_SUMMARY_BYTES)}`);
    expect(docs).toContain(`a LogQL query of ≤${kib(MAX_QUERY_BYTES)}`);
    expect(docs).toContain(`**${MAX_ENVELOPE_BYTES / 1024} KiB**`);
  });
});
