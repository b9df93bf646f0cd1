import { describe, expect, it } from 'vitest';
import { signature } from '../../src/detect/builders.ts';
import type { Finding } from '../../src/model/finding.ts';
import { LifecycleSaver } from '../../src/state/lifecycle-saver.ts';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { createLogger } from '../../src/logger.ts';
import { rec } from '../helpers/records.ts';
import { detectionEngine, type Detection } from '../../src/pipeline.ts';
import type { LifecycleState } from '../../src/findings/lifecycle.ts';

const M = 60_000;
const oom = signature({ id: 'oom', incident_type: 'oom_killed', domain: 'runtime', severity: 'error', match: 'OOMKilled', quietFor: '5m', suppressFor: '30m' });
const steps = (fs: Finding[]) => fs.map((f) => `${f.incident_type}/${f.status}`);
/** A restart: the state goes through JSON, as through the state store. */
const viaStore = (e: Detection) => JSON.parse(JSON.stringify(e.lifecycleSnapshot())) as LifecycleState;

describe('findings lifecycle across a restart', () => {
  it('a repeat inside suppression stays suppressed, and the episode open before the restart recovers after it with the id a single run gives', () => {
    const lines = [rec(0, 'container OOMKilled password=hunter2'), rec(M, 'container OOMKilled'), rec(2 * M, 'container OOMKilled'), rec(20 * M, 'unrelated')];
    const single = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    const expected = lines.flatMap((l) => single.process([l]));
    expect(steps(expected)).toEqual(['oom_killed/observed', 'oom_killed/recovered']);

    const before = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    const got = before.process([lines[0]!]);
    const state = viaStore(before);
    // What the state store holds is redacted: it may be JetStream KV, and raw lines never go over NATS.
    expect(JSON.stringify(state)).not.toContain('hunter2');
    const after = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    expect(after.restoreLifecycle(state)).toBe(1);
    for (const l of lines.slice(1)) got.push(...after.process([l]));
    expect(steps(got)).toEqual(steps(expected));
    expect(got.map((f) => f.finding_id)).toEqual(expected.map((f) => f.finding_id));
    expect(got[1]).toMatchObject({ first_seen: expected[1]!.first_seen, count: 3 });
  });

  it('without the saved state the same restart re-opens the incident (what the state prevents)', () => {
    const after = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    expect(steps(after.process([rec(M, 'container OOMKilled')]))).toEqual(['oom_killed/observed']);
  });

  it('an episode of a rule whose definition changed across the restart is not restored', () => {
    const before = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    before.process([rec(0, 'container OOMKilled')]);
    const after = detectionEngine({ rules: [{ ...oom, severity: 'critical' }], allowedLatenessMs: 0 });
    expect(after.restoreLifecycle(viaStore(before))).toBe(0);
    expect(after.restoreLifecycle({ v: 1, episodes: [] })).toBe(0);
    expect(after.restoreLifecycle({ bogus: true } as never)).toBe(0);
  });

  it('the saver writes on change only, restores at start, and survives an unreadable saved value', async () => {
    const store = new MemoryStore();
    const log = createLogger('silent');
    const e1 = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    const s1 = new LifecycleSaver({ engine: e1, store, key: 'lifecycle.c.all', log });
    e1.process([rec(0, 'container OOMKilled')]);
    await s1.saveIfChanged();
    const first = await store.get('lifecycle.c.all');
    expect(first).not.toBeNull();
    await store.put('lifecycle.c.all', new Uint8Array([1]));
    await s1.saveIfChanged(); // nothing changed: not rewritten
    expect(await store.get('lifecycle.c.all')).toEqual(new Uint8Array([1]));
    const e2 = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    expect(await new LifecycleSaver({ engine: e2, store, key: 'lifecycle.c.all', log }).restore()).toBe(0);
    await store.put('lifecycle.c.all', first!);
    const e3 = detectionEngine({ rules: [oom], allowedLatenessMs: 0 });
    expect(await new LifecycleSaver({ engine: e3, store, key: 'lifecycle.c.all', log }).restore()).toBe(1);
    expect(e3.process([rec(M, 'container OOMKilled')])).toEqual([]);
  });
});
