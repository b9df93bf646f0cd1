import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.ts';
import { findingErrors } from '../helpers/validate-finding.ts';
import {
  MAX_ENVELOPE_BYTES,
  MAX_EVIDENCE_LINE_BYTES,
  MAX_EVIDENCE_LINES,
  FindingTooLargeError,
  InvalidEnvelopeError,
  buildEnvelope,
  decodeEnvelope,
  encodeFinding,
  findingFilterSubject,
  findingSubject,
  subjectToken,
  truncateUtf8,
} from '../../src/nats/envelope.ts';

function finding(over: Partial<Finding> = {}): Finding {
  return {
    schema_version: '1.0',
    finding_id: 'f-123',
    source: 'robot-sre-detector',
    domain: 'runtime',
    incident_type: 'crashloop',
    severity: 'error',
    confidence: 0.9,
    summary: 'api crashlooping',
    evidence: {
      lines: [{ ts: '2026-01-01T00:00:00Z', line: 'panic: boom', pod: 'api-1', container: 'api' }],
      templates: [{ template: 'panic: <*>', count: 3 }],
      loki: { query: '{namespace="shop"} |= "panic"', start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:05:00Z' },
    },
    resource_scope: { cluster: 'edge', namespace: 'shop', workload: 'api', workload_kind: 'Deployment', pod: 'api-1' },
    dedupe_key: 'dk',
    observed_at: '2026-01-01T00:05:00Z',
    rule: { id: 'crashloop', version: '1' },
    status: 'observed',
    first_seen: '2026-01-01T00:00:00Z',
    last_seen: '2026-01-01T00:05:00Z',
    count: 3,
    ...over,
  };
}

describe('subjects', () => {
  it('carries event, namespace and incident type as tokens', () => {
    expect(findingSubject(finding())).toBe('ops.findings.observed.shop.crashloop');
    expect(findingSubject(finding({ status: 'recovered' }))).toBe('ops.findings.recovered.shop.crashloop');
  });

  it('sanitises dots, wildcards, whitespace and empties', () => {
    expect(subjectToken('a.b')).toBe('a_b');
    expect(subjectToken('*')).toBe('_');
    expect(subjectToken('>')).toBe('_');
    expect(subjectToken('x y\tz\n')).toBe('x_y_z_');
    expect(subjectToken('')).toBe('_');
    expect(subjectToken(undefined)).toBe('_');
    expect(subjectToken('kube-system')).toBe('kube-system');
    expect(subjectToken('x'.repeat(500)).length).toBe(128);
    const s = findingSubject(finding({ incident_type: 'oom.killed >*', resource_scope: { cluster: 'c', namespace: '' } }));
    expect(s).toBe('ops.findings.observed._.oom_killed___');
    expect(s.split('.')).toHaveLength(5);
  });

  it('builds filters with wildcards for unset dimensions, sanitised like subjects', () => {
    expect(findingFilterSubject()).toBe('ops.findings.*.*.*');
    expect(findingFilterSubject({ namespace: 'a.b' })).toBe('ops.findings.*.a_b.*');
    expect(findingFilterSubject({ event: 'recovered', incidentType: 'crashloop' })).toBe('ops.findings.recovered.*.crashloop');
  });
});

describe('envelope', () => {
  it('is CloudEvents-shaped with the finding as data and finding_id as id and msg id', () => {
    const e = buildEnvelope(finding());
    expect(e).toMatchObject({
      specversion: '1.0',
      id: 'f-123',
      source: 'robot-sre-detector/edge',
      type: 'sre.detector.finding.observed',
      subject: 'shop/Deployment/api',
      time: '2026-01-01T00:05:00Z',
      datacontenttype: 'application/json',
    });
    const schema = JSON.parse(readFileSync(new URL('../../src/model/finding.schema.json', import.meta.url), 'utf8')) as { $id: string };
    expect(e.dataschema).toBe(schema.$id);
    expect(buildEnvelope(finding({ status: 'recovered' })).type).toBe('sre.detector.finding.recovered');
    const enc = encodeFinding(finding());
    expect(enc.msgId).toBe('f-123');
    expect(enc.truncated).toBe(false);
    expect(decodeEnvelope(enc.payload).data).toEqual(finding());
  });

  it('rejects envelopes that are not findings', () => {
    expect(() => decodeEnvelope('nope')).toThrow(InvalidEnvelopeError);
    expect(() => decodeEnvelope(JSON.stringify({ specversion: '1.0', type: 'other', data: {} }))).toThrow(InvalidEnvelopeError);
    expect(() => decodeEnvelope(JSON.stringify({ ...buildEnvelope(finding()), data: { x: 1 } }))).toThrow(InvalidEnvelopeError);
    expect(() => encodeFinding(finding({ finding_id: '' }))).toThrow(InvalidEnvelopeError);
  });
});

describe('caps: no raw lines over NATS', () => {
  it('truncates UTF-8 on a character boundary', () => {
    const s = 'é'.repeat(600); // 2 bytes each
    const t = truncateUtf8(s, 512);
    expect(Buffer.byteLength(t)).toBeLessThanOrEqual(512);
    expect(t.endsWith('…')).toBe(true);
    expect(t).not.toContain('\uFFFD');
  });

  it('shrinks a finding stuffed with a raw 1 MiB line to ≤5 × 512 B evidence under the envelope cap', () => {
    const mib = 'x'.repeat(1024 * 1024);
    const lines = Array.from({ length: 50 }, (_, i) => ({ ts: `t${i}`, line: i === 0 ? mib : `line ${i} ${'é'.repeat(2000)}` }));
    const templates = Array.from({ length: 30 }, (_, i) => ({ template: `tpl ${i} ${'<*> '.repeat(300)}`, count: i }));
    const f = finding({ evidence: { ...finding().evidence, lines, templates } });
    const enc = encodeFinding(f);
    expect(enc.bytes).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    expect(Buffer.byteLength(enc.payload)).toBe(enc.bytes);
    expect(enc.truncated).toBe(true);
    const data = decodeEnvelope(enc.payload).data;
    expect(data.evidence.lines.length).toBeLessThanOrEqual(MAX_EVIDENCE_LINES);
    for (const l of data.evidence.lines) expect(Buffer.byteLength(l.line)).toBeLessThanOrEqual(MAX_EVIDENCE_LINE_BYTES);
    expect(data.evidence.details?.evidence_truncated).toBe(true);
    expect(enc.payload).not.toContain('x'.repeat(MAX_EVIDENCE_LINE_BYTES + 1));
    // Still a valid Finding after shrinking.
    expect(findingErrors({ ...data, finding_id: 'a'.repeat(24), dedupe_key: 'b'.repeat(24) })).toEqual([]);
    // The caller's finding is left alone.
    expect(f.evidence.lines[0]?.line.length).toBe(1024 * 1024);
  });

  it('drops evidence when clamped fields still exceed the cap, then keeps the core finding', () => {
    const f = finding({
      evidence: {
        ...finding().evidence,
        lines: Array.from({ length: 5 }, (_, i) => ({ ts: `t${i}`, line: 'z'.repeat(4000) })),
        templates: Array.from({ length: 40 }, () => ({ template: 'w'.repeat(4000), count: 1 })),
      },
    });
    const enc = encodeFinding(f, { maxBytes: 4096 });
    expect(enc.bytes).toBeLessThanOrEqual(4096);
    const data = decodeEnvelope(enc.payload).data;
    expect(data.finding_id).toBe('f-123');
    expect(data.evidence.lines.length).toBeLessThan(5);
  });

  it('refuses a finding that cannot be made to fit', () => {
    const labels = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'v']));
    const f = finding({ labels, summary: 's'.repeat(1000) });
    expect(() => encodeFinding(f, { maxBytes: 600 })).toThrow(FindingTooLargeError);
  });
});
