import { describe, expect, it } from 'vitest';
import { rate, signature } from '../../src/detect/builders.ts';
import type { MatchVerdict, SignalOutcome } from '../../src/detect/trace.ts';
import { rec } from '../helpers/records.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const M = 60_000;
const ldap = rate({ id: 'ldap', incident_type: 'ldap_unreachable', domain: 'identity', severity: 'error', match: /ldap.*timeout/i, threshold: 3, window: '10m', quietFor: '5m' });
const oom = signature({ id: 'oom', incident_type: 'oom_killed', domain: 'runtime', severity: 'error', match: 'OOMKilled', quietFor: '5m' });
const tls = signature({ id: 'tls', incident_type: 'tls_cert_error', domain: 'security', severity: 'error', match: 'x509: ' });

describe('hot reload: replaceRules', () => {
  it('keeps windows and open episodes of unchanged rules, starts changed ones fresh, adds new ones', () => {
    const e = detectionEngine({ rules: [ldap, oom], allowedLatenessMs: 0 });
    expect(e.process([rec(0, 'ldap bind timeout'), rec(M, 'ldap bind timeout'), rec(2 * M, 'container OOMKilled')]).map((f) => f.incident_type)).toEqual(['oom_killed']);
    const changedOom = { ...oom, severity: 'critical' as const };
    const result = e.replaceRules([ldap, changedOom, tls]);
    expect(result).toEqual({ kept: ['ldap'], changed: ['oom'], added: ['tls'], removed: [] });
    // The ldap window carried over: a third timeout within 10 minutes fires.
    const after = e.process([rec(3 * M, 'ldap bind timeout'), rec(3 * M + 1, 'x509: certificate has expired')]);
    expect(after.map((f) => `${f.incident_type}/${f.status}`)).toEqual(['ldap_unreachable/observed', 'tls_cert_error/observed']);
    // The old oom episode was dropped with its rule: no recovery of a definition that no longer exists.
    const later = e.process([rec(20 * M, 'unrelated')]);
    expect(later.map((f) => `${f.incident_type}/${f.status}`).sort()).toEqual(['ldap_unreachable/recovered', 'tls_cert_error/recovered']);
    // The changed rule works under its new definition.
    expect(e.process([rec(21 * M, 'container OOMKilled')])[0]).toMatchObject({ incident_type: 'oom_killed', severity: 'critical' });
  });

  it('an open episode of an unchanged rule is not re-opened by a reload', () => {
    const e = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    expect(e.process([rec(0, 'container OOMKilled')])).toHaveLength(1);
    e.replaceRules([oom, tls]);
    // Inside the suppression window: still the same episode, no second observed.
    expect(e.process([rec(M, 'container OOMKilled')])).toEqual([]);
  });

  it('a rule set that does not compile changes nothing', () => {
    const e = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    expect(() => e.replaceRules([tls, { ...tls }])).toThrow('duplicate rule id "tls"');
    expect(() => e.replaceRules([{ ...tls, match: { regex: '(' } }])).toThrow();
    expect(e.rules.map((r) => r.id)).toEqual(['oom']);
    expect(e.process([rec(0, 'container OOMKilled'), rec(1, 'x509: bad')]).map((f) => f.incident_type)).toEqual(['oom_killed']);
  });

  it('removed rules are reported and stop matching', () => {
    const e = detectionEngine({ rules: [oom, tls] });
    expect(e.replaceRules([oom]).removed).toEqual(['tls']);
    expect(e.process([rec(0, 'x509: bad')])).toEqual([]);
  });
});

describe('tracer', () => {
  it('reports records, match verdicts and signal outcomes, and costs nothing once removed', () => {
    const grouped = [
      signature({ id: 'first', incident_type: 'a', domain: 'runtime', severity: 'error', match: 'refused', group: 'g', priority: 1, exclude: 'probe' }),
      signature({ id: 'second', incident_type: 'b', domain: 'runtime', severity: 'error', match: 'connection', group: 'g', priority: 2 }),
      ldap,
    ];
    const e = detectionEngine({ rules: grouped });
    const seen: string[] = [];
    const verdicts: Array<[string, MatchVerdict]> = [];
    const outcomes: Array<[string, SignalOutcome]> = [];
    e.setTracer({ record: (r) => seen.push(r.line), match: (rule, _r, v) => verdicts.push([rule.id, v]), signal: (s, o) => outcomes.push([s.rule.id, o]) });
    e.process([rec(0, 'connection refused'), rec(1, 'connection refused'), rec(2, 'probe: connection refused'), rec(3, 'ldap timeout')]);
    expect(seen).toHaveLength(4);
    expect(verdicts).toEqual([
      ['first', 'signalled'],
      ['second', 'grouped'],
      ['first', 'signalled'],
      ['second', 'grouped'],
      ['first', 'excluded'],
      ['second', 'signalled'],
      ['ldap', 'below_threshold'],
    ]);
    expect(outcomes).toEqual([
      ['first', 'observed'],
      ['first', 'suppressed'],
      ['second', 'observed'],
    ]);
    e.setTracer(null);
    e.process([rec(4, 'connection refused')]);
    expect(seen).toHaveLength(4);
  });
});
