import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { redact, redactionSpans, REDACTED } from '../../src/parse/redact.ts';

/**
 * test/fixtures/redaction/lines.jsonl: one row per line, {line, expected, note}. Lines without
 * secrets are real ones from test/fixtures/incident-corpus and loghub-2k (the note says which);
 * lines with secrets carry real secret formats with published example values (AWS, RFC 6749/7617,
 * jwt.io, Azurite) or made-up ones. `expected` is the exact output.
 */
interface Row {
  line: string;
  expected: string;
  note: string;
}

const rows: Row[] = readFileSync('test/fixtures/redaction/lines.jsonl', 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Row);

const count = (s: string, c: string): number => s.split(c).length - 1;

describe('redaction table (test/fixtures/redaction/lines.jsonl)', () => {
  it('has at least 100 rows, with and without secrets', () => {
    expect(rows.length).toBeGreaterThanOrEqual(100);
    expect(rows.filter((r) => r.line === r.expected).length).toBeGreaterThanOrEqual(40);
    expect(rows.filter((r) => r.line !== r.expected).length).toBeGreaterThanOrEqual(40);
  });

  for (const [i, r] of rows.entries()) {
    it(`${i + 1}: ${r.note}`, () => {
      const out = redact(r.line);
      expect(out).toBe(r.expected);
      // Idempotent: redacting evidence again (summary, snapshot) changes nothing.
      expect(redact(out)).toBe(out);
      // Well-formed: no quote, backtick or bracket of the line is eaten (only whole secrets are replaced).
      for (const c of ['`', '"', "'", ')', ']', '}']) {
        const inSecrets = redactionSpans(r.line).reduce((n, s) => n + count(r.line.slice(s.start, s.end), c), 0);
        expect(count(out, c) - count(REDACTED, c) * count(out, REDACTED), `${c} kept`).toBe(count(r.line, c) - inSecrets);
      }
    });
  }

  it('redacts no line of the incident corpus that has no secret in it', () => {
    for (const f of ['incidents.ndjson', 'ordinary.ndjson']) {
      for (const l of readFileSync(`test/fixtures/incident-corpus/${f}`, 'utf8').split('\n').filter(Boolean)) {
        const o = JSON.parse(l) as { line?: string; message?: string };
        const line = o.line ?? o.message ?? '';
        expect(redact(line), line).toBe(line);
      }
    }
  });

  it('is fast: lines without a trigger word cost next to nothing, every table row a few µs', () => {
    const corpus = readFileSync('test/fixtures/incident-corpus/ordinary.ndjson', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { line?: string; message?: string }).line ?? '');
    const lines = [...corpus, ...rows.map((r) => r.line)];
    for (const l of lines) redact(l);
    const n = 20;
    const t = performance.now();
    for (let i = 0; i < n; i++) for (const l of lines) redact(l);
    const perLineUs = ((performance.now() - t) * 1000) / (n * lines.length);
    // Measured ≈ 5–20 µs on a 2-core VM; the bound only catches a pathological regex.
    expect(perLineUs).toBeLessThan(500);
  });
});
