/** Internal events (src/internal-events/): one call counts exactly and logs at most once a minute per label set. */
import { afterEach, describe, expect, it } from 'vitest';
import { defineEvent, setEventLogger } from '../../src/internal-events/event.ts';
import { lokiEvents } from '../../src/internal-events/loki.ts';
import { log } from '../../src/logger.ts';
import { metrics } from '../../src/metrics.ts';

type Line = { level: string; obj: Record<string, unknown>; msg: string };
function recorder(): { lines: Line[] } & Record<'info' | 'warn' | 'error', (obj: Record<string, unknown>, msg: string) => void> {
  const lines: Line[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
afterEach(() => setEventLogger(log));

describe('internal events', () => {
  it('count every occurrence, log once per label set per interval, with the same labels as the metric', () => {
    const rec = recorder();
    setEventLogger(rec as never);
    const counted: Array<[string, number]> = [];
    const ev = defineEvent<{ reason: string }>({ component: 'demo', level: 'warn', message: 'demo dropped', count: ({ reason }, n) => counted.push([reason, n]) });
    for (let i = 0; i < 1000; i++) ev({ reason: 'queue_full' }, 3);
    ev({ reason: 'spool_full' }, 7, { err: 'ENOSPC' });
    expect(counted.reduce((n, [, k]) => n + k, 0)).toBe(3007);
    expect(rec.lines).toEqual([
      { level: 'warn', obj: { component: 'demo', reason: 'queue_full', n: 3 }, msg: 'demo dropped' },
      { level: 'warn', obj: { component: 'demo', reason: 'spool_full', n: 7, err: 'ENOSPC' }, msg: 'demo dropped' },
    ]);
    // everyMs: 0 logs every time (rare conditions where each one matters).
    const every = defineEvent({ component: 'demo', level: 'error', message: 'spool cannot be opened', everyMs: 0 });
    every({});
    every({});
    expect(rec.lines.filter((l) => l.level === 'error')).toHaveLength(2);
  });

  it('the Loki sink\'s drop event is rsd_dropped_total{component="loki",reason} and one log line', async () => {
    const rec = recorder();
    setEventLogger(rec as never);
    const get = async () => (await metrics.dropped.get()).values.find((v) => v.labels.component === 'loki' && v.labels.reason === 'test_reason')?.value ?? 0;
    const before = await get();
    lokiEvents.dropped({ reason: 'test_reason' }, 5);
    lokiEvents.dropped({ reason: 'test_reason' }, 6);
    expect((await get()) - before).toBe(11);
    expect(rec.lines).toEqual([{ level: 'warn', obj: { component: 'loki', reason: 'test_reason', n: 5 }, msg: 'loki sink dropped records; see rsd_dropped_total{component="loki"}' }]);
  });

  it('through a component\'s own logger (already bound to its component) the event does not name it again', () => {
    const own = recorder();
    const ev = defineEvent<{ reason: string }>({ component: 'files', level: 'warn', message: 'position write failed: will retry' });
    ev({ reason: 'x' }, 1, { id: 'a' }, own as never);
    expect(own.lines).toEqual([{ level: 'warn', obj: { reason: 'x', id: 'a' }, msg: 'position write failed: will retry' }]);
  });
});
