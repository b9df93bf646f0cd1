import { describe, expect, it } from 'vitest';
import { map, filter, type Observable } from 'rxjs';
import { type DetectionEngine } from '../../src/detect/engine.ts';
import { absent, correlate, custom, newPattern, rate, signature, spike } from '../../src/detect/builders.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import type { Finding } from '../../src/model/finding.ts';
import { event, expectValid, rec } from '../helpers/records.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const S = 1000;
const M = 60 * S;

function run(engine: DetectionEngine, records: LogRecord[]): Finding[] {
  return expectValid(engine.process(records));
}

const ldap = rate({ id: 'ldap', incident_type: 'ldap_unreachable', domain: 'identity', severity: 'error', match: /ldap.*timeout/i, threshold: 5, window: '10m', quietFor: '5m' });

describe('signature and rate rules on event time', () => {
  it('fires a signature on the first match and counts the rest into the episode', () => {
    const e = detectionEngine({ rules: [signature({ id: 'oom', incident_type: 'oom_killed', domain: 'runtime', severity: 'error', match: 'OOMKilled' })] });
    const out = run(e, [rec(0, 'all good'), rec(S, 'container OOMKilled'), rec(2 * S, 'container OOMKilled')]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ incident_type: 'oom_killed', status: 'observed', count: 1, resource_scope: { cluster: 'c1', namespace: 'ns', pod: 'app-1', container: 'app' } });
  });

  it('rate: needs N within the window; spread-out matches never fire', () => {
    const e = detectionEngine({ rules: [ldap] });
    // 5 matches, each 3 minutes apart: never 5 within 10 minutes.
    const spread = [0, 3, 6, 9, 12, 15].map((m) => rec(m * M, 'ldap bind timeout'));
    expect(run(e, spread)).toEqual([]);
    const e2 = detectionEngine({ rules: [ldap] });
    const burst = [0, 1, 2, 3, 4].map((m) => rec(m * M, 'ldap bind timeout'));
    const out = run(e2, burst);
    expect(out).toHaveLength(1);
    expect(out[0]!.count).toBe(5);
    expect(out[0]!.first_seen).toBe(burst[4]!.ts); // the episode starts when the condition holds
  });

  it('out-of-order records within the window still count', () => {
    const e = detectionEngine({ rules: [ldap] });
    const recs = [4, 1, 3, 0, 2].map((m) => rec(m * M, 'ldap bind timeout'));
    expect(run(e, recs)).toHaveLength(1);
  });

  it('recovers once quiet for the quiet period, by watermark, not wall clock', () => {
    const e = detectionEngine({ rules: [ldap], allowedLatenessMs: 0 });
    run(e, [0, 1, 2, 3, 4].map((m) => rec(m * M, 'ldap bind timeout')));
    // 4m59s after the last match: still active.
    expect(run(e, [rec(4 * M + 5 * M - S, 'unrelated')])).toEqual([]);
    const out = run(e, [rec(4 * M + 5 * M + 2 * S, 'unrelated')]);
    expect(out.map((f) => f.status)).toEqual(['recovered']);
    expect(out[0]!.count).toBe(5);
    expect(out[0]!.observed_at).toBe(new Date(Date.parse(out[0]!.last_seen) + 5 * M).toISOString());
  });

  it('suppresses re-emits within the suppression window unless severity rises', () => {
    const r = signature({ id: 'to', incident_type: 'dependency_timeout', domain: 'runtime', severity: 'warning', match: 'timed out', suppressFor: '30m', escalate: [{ count: 10, severity: 'critical' }], threshold: 1 });
    // Escalation counts the window; with threshold 1 there is no window, so use a rate rule.
    const rr = rate({ ...r, id: 'to-rate', threshold: 2, window: '10m' } as never);
    const e = detectionEngine({ rules: [rr] });
    const first = run(e, [rec(0, 'timed out'), rec(S, 'timed out')]);
    expect(first.map((f) => f.severity)).toEqual(['warning']);
    const more = run(e, Array.from({ length: 7 }, (_, i) => rec(2 * S + i * S, 'timed out')));
    expect(more).toEqual([]);
    const escalated = run(e, [rec(10 * S, 'timed out')]);
    expect(escalated.map((f) => [f.status, f.severity])).toEqual([['observed', 'critical']]);
    expect(escalated[0]!.finding_id).not.toBe(first[0]!.finding_id);
    expect(escalated[0]!.dedupe_key).toBe(first[0]!.dedupe_key);
  });

  it('re-emits an still-active episode after the suppression window', () => {
    const r = signature({ id: 's', incident_type: 'panic_fatal', domain: 'application', severity: 'error', match: 'panic:', suppressFor: '10m', quietFor: '5m' });
    const e = detectionEngine({ rules: [r] });
    const recs = Array.from({ length: 12 }, (_, i) => rec(i * 2 * M, 'panic: boom'));
    const out = run(e, recs);
    expect(out.filter((f) => f.status === 'observed').length).toBe(3); // t=0, 10m, 20m
    expect(out.filter((f) => f.status === 'recovered').length).toBe(0);
  });
});

describe('spike', () => {
  const sp = spike({ id: 'err-spike', incident_type: 'error_spike', domain: 'application', severity: 'warning', selector: { level: ['error'] }, bucket: '1m', minCount: 10, factor: 3, zScore: 4, warmupBuckets: 5 });

  function minute(m: number, errors: number, infos = 5): LogRecord[] {
    const out: LogRecord[] = [];
    for (let i = 0; i < infos; i++) out.push(rec(m * M + i * 100, 'level=info msg=ok'));
    for (let i = 0; i < errors; i++) out.push(rec(m * M + 5000 + i * 10, 'level=error msg="charge failed"'));
    return out;
  }

  it('stays quiet during warm-up even on a big jump', () => {
    const e = detectionEngine({ rules: [sp] });
    expect(run(e, [...minute(0, 1), ...minute(1, 200)])).toEqual([]);
  });

  it('fires on a jump well above the learned baseline, not on 1 → 3', () => {
    const e = detectionEngine({ rules: [sp] });
    const base: LogRecord[] = [];
    for (let m = 0; m < 20; m++) base.push(...minute(m, 1));
    expect(run(e, base)).toEqual([]);
    expect(run(e, minute(20, 3))).toEqual([]); // small jump, below minCount
    const out = run(e, minute(21, 60));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ incident_type: 'error_spike', status: 'observed' });
    expect(out[0]!.count).toBeGreaterThanOrEqual(10);
  });

  it('keeps the baseline of a scope that keeps logging past the state TTL (the TTL is an idle timeout)', () => {
    // State TTL 1 h (the spike rule keeps state at least 60 buckets = 1 h). A workload logging every
    // minute for 3 h must not drop back into warm-up (5 buckets) every hour: the spike at 3 h 02 fires.
    const e = detectionEngine({ rules: [sp], stateTtlMs: 3_600_000 });
    const base: LogRecord[] = [];
    for (let m = 0; m < 182; m++) base.push(...minute(m, 1));
    expect(run(e, base)).toEqual([]);
    expect(run(e, minute(182, 60)).map((f) => f.incident_type)).toEqual(['error_spike']);
  });

  it('forgets a scope that stayed idle for longer than the TTL', () => {
    const e = detectionEngine({ rules: [sp], stateTtlMs: 3_600_000 });
    const base: LogRecord[] = [];
    for (let m = 0; m < 20; m++) base.push(...minute(m, 1));
    run(e, base);
    // Another workload keeps the clock moving for 2 h; the first one comes back: warm-up again.
    const other: LogRecord[] = [];
    for (let m = 20; m < 140; m++) other.push(rec(m * M, 'level=info msg=ok', { workload: 'other', pod: 'other-1' }));
    run(e, other);
    expect(run(e, minute(140, 60))).toEqual([]);
  });

  it('adapts to slow drift instead of firing', () => {
    const e = detectionEngine({ rules: [sp] });
    const recs: LogRecord[] = [];
    for (let m = 0; m < 120; m++) recs.push(...minute(m, 10 + Math.floor(m / 4)));
    expect(run(e, recs)).toEqual([]);
  });
});

describe('absent', () => {
  const ab = absent({ id: 'quiet', incident_type: 'log_stream_silent', domain: 'runtime', severity: 'warning', for: '5m', minPriorCount: 3, quietFor: '1m' });

  it('fires when a stream that was logging goes silent, driven by the live tick', () => {
    const e = detectionEngine({ rules: [ab], allowedLatenessMs: 0 });
    run(e, [0, 1, 2, 3].map((s) => rec(s * S, 'tick')));
    expect(expectValid(e.tick(Date.parse('2026-01-01T00:04:00Z')))).toEqual([]);
    const out = expectValid(e.tick(Date.parse('2026-01-01T00:06:00Z')));
    expect(out.map((f) => [f.incident_type, f.status])).toEqual([['log_stream_silent', 'observed']]);
    // It speaks again: the condition clears and the episode recovers after the quiet period.
    run(e, [rec(6 * M + 10 * S, 'back')]);
    const later = expectValid(e.tick(Date.parse('2026-01-01T00:08:00Z')));
    expect(later.map((f) => f.status)).toEqual(['recovered']);
  });

  it('never fires for a stream that only said a line or two', () => {
    const e = detectionEngine({ rules: [ab], allowedLatenessMs: 0 });
    run(e, [rec(0, 'once')]);
    expect(e.tick(Date.parse('2026-01-01T01:00:00Z'))).toEqual([]);
  });
});

describe('correlate', () => {
  const rules = [
    signature({ id: 'disk', incident_type: 'disk_pressure', domain: 'infrastructure', severity: 'critical', match: 'DiskPressure', scope: 'node' }),
    signature({ id: 'pull', incident_type: 'image_pull_backoff', domain: 'release', severity: 'warning', match: 'Back-off pulling image', emit: false, scope: 'node' }),
    signature({ id: 'evict', incident_type: 'pod_evicted', domain: 'infrastructure', severity: 'warning', match: 'Evicted', emit: false, scope: 'node' }),
    correlate({ id: 'node-disk', incident_type: 'node_disk_exhaustion', domain: 'infrastructure', severity: 'critical', on: 'node', window: '15m', conditions: [{ incident: 'disk_pressure' }, { rule: 'pull' }, { rule: 'evict' }] }),
  ];

  it('fires when all conditions co-occur on the same node within the window', () => {
    const e = detectionEngine({ rules });
    const out = run(e, [
      event(0, 'NodeHasDiskPressure', 'Node n1 status is now: NodeHasDiskPressure', { kind: 'Node', name: 'n1', node: 'n1', namespace: 'default' }),
      event(M, 'BackOff', 'Back-off pulling image "x"', { node: 'n1' }),
      event(2 * M, 'Evicted', 'Evicted: low on ephemeral-storage', { node: 'n1' }),
    ]);
    const types = out.map((f) => f.incident_type);
    expect(types).toContain('node_disk_exhaustion');
    expect(types).not.toContain('image_pull_backoff'); // conditions never emit on their own
    const nd = out.find((f) => f.incident_type === 'node_disk_exhaustion')!;
    expect(nd.resource_scope.node).toBe('n1');
    expect(nd.evidence.lines.length).toBeGreaterThanOrEqual(2);
  });

  it('does not fire across different nodes or outside the window', () => {
    const e = detectionEngine({ rules });
    const out = run(e, [
      event(0, 'NodeHasDiskPressure', 'NodeHasDiskPressure', { kind: 'Node', name: 'n1', node: 'n1', namespace: 'default' }),
      event(M, 'BackOff', 'Back-off pulling image "x"', { node: 'n2' }),
      event(40 * M, 'Evicted', 'Evicted', { node: 'n1' }),
    ]);
    expect(out.map((f) => f.incident_type)).not.toContain('node_disk_exhaustion');
  });
});

describe('custom and new_pattern', () => {
  it('custom receives an Observable and its conditions become findings', () => {
    const rule = custom({
      id: 'slow-checkout', incident_type: 'slow_checkout', domain: 'application', severity: 'warning',
      operator: (records$: Observable<LogRecord>) =>
        records$.pipe(
          filter((r) => Number(r.fields?.duration_ms ?? 0) > 1000),
          map((record) => ({ record, summary: `checkout took ${record.fields?.duration_ms} ms` })),
        ),
    });
    const e = detectionEngine({ rules: [rule] });
    const out = run(e, [rec(0, '{"msg":"checkout","duration_ms":50}'), rec(S, '{"msg":"checkout","duration_ms":4000}')]);
    expect(out).toHaveLength(1);
    expect(out[0]!.summary).toBe('checkout took 4000 ms');
  });

  it('a custom stage that throws stops alone and is reported, the pipeline goes on', () => {
    const bad = custom({ id: 'bad', incident_type: 'bad', domain: 'application', severity: 'info', operator: (r$) => r$.pipe(map(() => { throw new Error('boom'); })) });
    const good = signature({ id: 'p', incident_type: 'panic_fatal', domain: 'application', severity: 'error', match: 'panic:' });
    const e = detectionEngine({ rules: [bad, good] });
    const out = run(e, [rec(0, 'x'), rec(S, 'panic: y')]);
    expect(out.map((f) => f.incident_type)).toEqual(['panic_fatal']);
    expect(e.customErrors()).toEqual([{ rule: 'bad', error: 'boom' }]);
  });

  it('new_pattern: quiet during warm-up, then flags a never-seen error template once', () => {
    let n = 0;
    const ids = new Map<string, string>();
    const assignTemplate = (r: LogRecord) => {
      const text = r.line.replace(/\d+/g, '<*>');
      if (!ids.has(text)) ids.set(text, `t${n++}`);
      r.template = { id: ids.get(text)!, text };
    };
    const e = detectionEngine({ rules: [newPattern({ id: 'new', incident_type: 'new_error_pattern', domain: 'application', severity: 'warning', warmup: '10m' })], assignTemplate });
    expect(run(e, [rec(0, 'ERROR old failure 1'), rec(M, 'INFO fine')])).toEqual([]);
    const out = run(e, [rec(11 * M, 'ERROR old failure 2'), rec(12 * M, 'ERROR brand new failure 7'), rec(13 * M, 'ERROR brand new failure 8'), rec(14 * M, 'INFO other thing 3')]);
    expect(out).toHaveLength(1);
    expect(out[0]!.evidence.templates[0]!.template).toBe('ERROR brand new failure <*>');
    // Snapshot → a fresh engine does not re-fire after a restart.
    const e2 = detectionEngine({ rules: [newPattern({ id: 'new', incident_type: 'new_error_pattern', domain: 'application', severity: 'warning', warmup: '10m' })], assignTemplate });
    e2.restore(JSON.parse(JSON.stringify(e.snapshot())) as Record<string, unknown>);
    expect(run(e2, [rec(20 * M, 'ERROR brand new failure 9')])).toEqual([]);
  });
});

  it('mines on demand: warning-or-worse lines, records behind a finding and custom stages; healthy lines never', () => {
    const mined: string[] = [];
    const assignTemplate = (r: LogRecord) => {
      mined.push(r.line);
      r.template = { id: `t-${r.line.split(' ')[0]}`, text: r.line.replace(/\d+/g, '<*>') };
    };
    const rules = [
      newPattern({ id: 'new', incident_type: 'new_error_pattern', domain: 'application', severity: 'warning', warmup: '1m' }),
      signature({ id: 'backup', incident_type: 'backup_done', domain: 'application', severity: 'info', match: 'backup completed' }),
    ];
    const e = detectionEngine({ rules, assignTemplate });
    const out = run(e, [rec(0, 'INFO served 12 requests'), rec(S, 'INFO backup completed in 31s'), rec(2 * M, 'ERROR disk 3 failed'), rec(3 * M, 'INFO served 13 requests')]);
    expect(mined).toEqual(['INFO backup completed in 31s', 'ERROR disk 3 failed']);
    // The info-level finding still names its template.
    expect(out.find((f) => f.incident_type === 'backup_done')!.evidence.templates).toEqual([{ template: 'INFO backup completed in <*>s', count: 1 }]);
    expect(out.find((f) => f.incident_type === 'new_error_pattern')!.evidence.templates[0]!.template).toBe('ERROR disk <*> failed');

    // A custom stage may read record.template, so every record it sees is mined.
    const seen: Array<string | undefined> = [];
    const tap = custom({ id: 'tap', incident_type: 'tap', domain: 'application', severity: 'info', operator: (r$: Observable<LogRecord>) => r$.pipe(filter((r): r is never => (seen.push(r.template?.text), false))) });
    mined.length = 0;
    run(detectionEngine({ rules: [tap], assignTemplate }), [rec(0, 'INFO served 14 requests')]);
    expect(seen).toEqual(['INFO served <*> requests']);
  });

describe('groups and determinism', () => {
  it('only the first matching rule of a group signals for a line', () => {
    const rules = [
      signature({ id: 'probe', incident_type: 'probe_failed', domain: 'runtime', severity: 'warning', match: /probe failed/i, group: 'g', priority: 1 }),
      signature({ id: 'refused', incident_type: 'dependency_refused', domain: 'runtime', severity: 'error', match: /connection refused/i, group: 'g', priority: 2 }),
    ];
    const e = detectionEngine({ rules });
    const out = run(e, [rec(0, 'Liveness probe failed: dial tcp 10.0.0.1:8080: connect: connection refused'), rec(S, 'dial tcp: connection refused', { pod: 'b', workload: 'b' })]);
    expect(out.map((f) => f.incident_type).sort()).toEqual(['dependency_refused', 'probe_failed']);
  });

  it('the same input gives identical findings every run', () => {
    const input = () => [...[0, 1, 2, 3, 4, 5].map((m) => rec(m * M, `ldap bind timeout ${m}`)), rec(30 * M, 'later')];
    const a = detectionEngine({ rules: [ldap] }).process(input());
    const b = detectionEngine({ rules: [ldap] }).process(input());
    expect(a.length).toBe(2);
    expect(b).toEqual(a);
  });

  it('rejects duplicate rule ids', () => {
    expect(() => detectionEngine({ rules: [ldap, ldap] })).toThrow(/duplicate rule id "ldap"/);
  });
});
