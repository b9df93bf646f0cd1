import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, Registry, registerProcessMetrics } from '../../src/prometheus.ts';

describe('Prometheus text exposition', () => {
  it('writes HELP, TYPE and one sample per label set, escaping help and label values', async () => {
    const r = new Registry();
    const c = new Counter({ name: 't_requests_total', help: 'Requests\\by "code"\nsecond line', labelNames: ['code', 'path'], registers: [r] });
    c.inc({ code: 200, path: '/a' });
    c.inc({ code: 200, path: '/a' }, 2);
    c.inc({ code: 500, path: 'a"b\\c\nd' });
    const text = await r.metrics();
    expect(text).toBe(
      [
        '# HELP t_requests_total Requests\\\\by "code"\\nsecond line',
        '# TYPE t_requests_total counter',
        't_requests_total{code="200",path="/a"} 3',
        't_requests_total{code="500",path="a\\"b\\\\c\\nd"} 1',
        '',
      ].join('\n'),
    );
  });

  it('shows a metric without labels as 0 before its first update, and omits unset labels', async () => {
    const r = new Registry();
    new Counter({ name: 't_zero_total', help: 'h', registers: [r] });
    const g = new Gauge({ name: 't_g', help: 'h', labelNames: ['a', 'b'], registers: [r] });
    g.set({ a: 'x' }, 1.5);
    g.inc({ a: 'x' });
    g.dec({ a: 'x' }, 0.25);
    const text = await r.metrics();
    expect(text).toContain('t_zero_total 0\n');
    expect(text).toContain('t_g{a="x"} 2.25\n');
  });

  it('writes cumulative histogram buckets with +Inf, _sum and _count', async () => {
    const r = new Registry();
    const h = new Histogram({ name: 't_seconds', help: 'h', labelNames: ['sink'], buckets: [0.1, 1, 0.5], registers: [r] });
    for (const v of [0.05, 0.1, 0.3, 0.7, 3]) h.observe({ sink: 'loki' }, v);
    const text = await r.metrics();
    expect(text).toContain(
      [
        't_seconds_bucket{sink="loki",le="0.1"} 2',
        't_seconds_bucket{sink="loki",le="0.5"} 3',
        't_seconds_bucket{sink="loki",le="1"} 4',
        't_seconds_bucket{sink="loki",le="+Inf"} 5',
        't_seconds_sum{sink="loki"} 4.15',
        't_seconds_count{sink="loki"} 5',
      ].join('\n'),
    );
    const end = h.startTimer({ sink: 'x' });
    expect(end()).toBeGreaterThanOrEqual(0);
    expect((await h.get()).values.find((v) => v.metricName === 't_seconds_count' && v.labels.sink === 'x')?.value).toBe(1);
  });

  it('rejects what Prometheus would reject: bad names, unknown labels, duplicate names, counters going down', () => {
    const r = new Registry();
    expect(() => new Counter({ name: 'bad-name', help: 'h', registers: [r] })).toThrow(/invalid metric name/);
    const c = new Counter({ name: 't_c', help: 'h', labelNames: ['a'], registers: [r] });
    expect(() => c.inc({ b: 'x' })).toThrow(/unknown label b/);
    expect(() => c.inc({ a: 'x' }, -1)).toThrow(/only goes up/);
    expect(() => new Gauge({ name: 't_c', help: 'h', registers: [r] })).toThrow(/already been registered/);
    expect(() => new Gauge({ name: 't_le', help: 'h', labelNames: ['le'], registers: [r] })).toThrow(/invalid label/);
  });

  it('reads process metrics at scrape time', async () => {
    const r = new Registry();
    registerProcessMetrics(r, 'x_');
    const text = await r.metrics();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('x_process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value('x_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value('x_process_cpu_seconds_total')).toBeCloseTo(value('x_process_cpu_user_seconds_total') + value('x_process_cpu_system_seconds_total'), 1);
    expect(value('x_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(value('x_process_open_fds')).toBeGreaterThan(2);
    expect(value('x_process_start_time_seconds')).toBeGreaterThan(Date.now() / 1000 - 3600);
    expect(text).toContain(`x_nodejs_version_info{version="${process.version}"} 1`);
    // A second scrape does not double the CPU counter (it is re-read, not added to).
    const again = await r.metrics();
    expect(Number(/^x_process_cpu_seconds_total (\S+)$/m.exec(again)?.[1])).toBeLessThan(value('x_process_cpu_seconds_total') * 1.2 + 0.05);
  });
});
