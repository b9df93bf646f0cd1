import { describe, expect, it } from 'vitest';
import { rate, signature } from '../../src/detect/builders.ts';
import { metrics } from '../../src/metrics.ts';
import { rec } from '../helpers/records.ts';
import { detectionEngine } from '../../src/pipeline.ts';

async function counter(c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number> }> }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await c.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

describe('bounded state: what happens when a bound is hit', () => {
  it('per-rule detector state is capped; the oldest scopes are evicted and counted', async () => {
    const r = rate({ id: 'bounded-rate', incident_type: 'dependency_timeout', domain: 'runtime', severity: 'warning', match: 'timed out', threshold: 3, window: '5m' });
    const e = detectionEngine({ rules: [r], maxKeysPerRule: 10 });
    const before = await counter(metrics.detectorStateEvictions, { rule: 'bounded-rate' });
    e.process(Array.from({ length: 25 }, (_, i) => rec(i * 10, 'request timed out', { workload: `w${i}`, pod: `p${i}` })));
    expect((await counter(metrics.detectorStateEvictions, { rule: 'bounded-rate' })) - before).toBe(15);
    // An evicted scope starts over: two more matches for w0 do not reach the threshold of 3.
    expect(e.process([rec(300, 'request timed out', { workload: 'w0', pod: 'p0' }), rec(310, 'request timed out', { workload: 'w0', pod: 'p0' })])).toEqual([]);
  });

  it('active episodes are capped; an evicted episode is counted as dropped and never recovers', async () => {
    const s = signature({ id: 'bounded-sig', incident_type: 'panic_fatal', domain: 'application', severity: 'error', match: 'panic:' });
    const e = detectionEngine({ rules: [s], lifecycle: { maxEpisodes: 5 } });
    const before = await counter(metrics.dropped, { component: 'lifecycle', reason: 'episode_evicted' });
    const observed = e.process(Array.from({ length: 8 }, (_, i) => rec(i * 10, 'panic: boom', { workload: `w${i}`, pod: `p${i}` })));
    expect(observed).toHaveLength(8);
    expect(e.activeEpisodes).toBe(5);
    expect((await counter(metrics.dropped, { component: 'lifecycle', reason: 'episode_evicted' })) - before).toBe(3);
    const later = e.process([rec(60 * 60_000, 'unrelated')]);
    expect(later.filter((f) => f.status === 'recovered')).toHaveLength(5);
  });
});
