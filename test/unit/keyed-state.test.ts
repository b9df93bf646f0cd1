import { describe, expect, it } from 'vitest';
import { spike } from '../../src/detect/builders.ts';
import { compileRule } from '../../src/detect/compile.ts';
import { RecordKeyedState } from '../../src/detect/detectors/keyed-state.ts';
import type { LogRecord, Target } from '../../src/model/log-record.ts';

const rule = compileRule(spike({ id: 'ks', incident_type: 'error_spike', domain: 'application', severity: 'warning', scope: 'pod' }));
const target = (pod: string): Target => ({ cluster: 'c', namespace: 'ns', pod, container: 'app' });
const rec = (t: Target, tsMs: number): LogRecord => ({ ts: new Date(tsMs).toISOString(), tsMs, line: 'x', stream: 'stdout', kind: 'pod', level: 'info', target: t });

describe('RecordKeyedState (per-record state behind a per-target memo)', () => {
  it('stops handing out a value the key bound evicted, even within the memo window', () => {
    let now = 0;
    const st = new RecordKeyedState<{ n: number; evicted?: boolean }>(rule, { now: () => now }, 2, 3_600_000);
    const [a, b, c] = [target('a'), target('b'), target('c')];
    st.set(rec(a, 0), { n: 1 });
    expect(st.get(rec(a, 1))?.n).toBe(1);
    st.set(rec(b, 2), { n: 2 });
    st.set(rec(c, 3), { n: 3 }); // evicts a (least recently used)
    now = 4;
    expect(st.get(rec(a, 4))).toBeUndefined();
    expect(st.size).toBe(2);
  });

  it('keeps a scope used only through the memo alive past the idle TTL (the LRU is touched every window)', () => {
    let now = 0;
    const st = new RecordKeyedState<{ n: number; evicted?: boolean }>(rule, { now: () => now }, 10, 600_000);
    const a = target('a');
    st.set(rec(a, 0), { n: 1 });
    for (let t = 1000; t <= 3_600_000; t += 1000) {
      now = t;
      expect(st.get(rec(a, t))?.n, `at ${t}`).toBe(1);
    }
    // Idle for longer than the TTL: gone.
    now = 3_600_000 + 700_000;
    expect(st.get(rec(a, now))).toBeUndefined();
  });

  it('getOrCreate creates once per scope and re-creates after eviction', () => {
    let now = 0;
    let made = 0;
    const create = (r: LogRecord) => ({ n: r.tsMs, id: made++ });
    const st = new RecordKeyedState<{ n: number; id: number; evicted?: boolean }>(rule, { now: () => now }, 1, 3_600_000);
    const [a, b] = [target('a'), target('b')];
    expect(st.getOrCreate(rec(a, 0), create)).toEqual({ n: 0, id: 0 });
    expect(st.getOrCreate(rec(a, 1), create).id).toBe(0);
    st.getOrCreate(rec(b, 2), create); // the bound is 1: evicts a
    now = 3;
    expect(st.getOrCreate(rec(a, 3), create)).toMatchObject({ n: 3, id: 2 });
    expect(made).toBe(3);
  });

  it('shares one value between different Target objects of the same scope', () => {
    const st = new RecordKeyedState<{ n: number; evicted?: boolean }>(rule, { now: () => 0 }, 10, 600_000);
    const v = { n: 7 };
    st.set(rec(target('a'), 0), v);
    expect(st.get(rec(target('a'), 0))).toBe(v);
  });
});
