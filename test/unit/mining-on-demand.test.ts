import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DATASETS, INCIDENTS, loghubLines } from '../../bench/lib/corpus.ts';
import { loadRules } from '../../src/detect/rulesets.ts';
import { createTemplateAssigner } from '../../src/detect/templates.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { parseRecord } from '../../src/parse/record.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const dir = process.env.RSD_LOGHUB_DIR ?? DEFAULT_DATASETS;

/** The default pipeline over real logs from 200 pods, one hour of event time; `mineAll` mines every record first. */
async function findings(pool: readonly string[], total: number, mineAll: boolean): Promise<{ out: string[]; mined: number }> {
  const templates = await createTemplateAssigner();
  const engine = detectionEngine({ rules: await loadRules({}), assignTemplate: templates.assign });
  const targets = Array.from({ length: 200 }, (_, i) => ({ cluster: 'c', namespace: `ns-${i % 10}`, workload: `app-${i % 40}`, pod: `app-${i % 40}-${i}`, container: 'main', node: `node-${i % 2}` }));
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  const out: string[] = [];
  for (let start = 0; start < total; start += 1000) {
    const batch: LogRecord[] = [];
    for (let i = start; i < start + 1000; i++) {
      const ms = t0 + Math.floor((i * 3_600_000) / total);
      const line = i % 97 === 0 ? INCIDENTS[(i / 97) % INCIDENTS.length | 0]! : pool[i % pool.length]!;
      const r = parseRecord({ ts: new Date(ms).toISOString(), tsMs: ms, line, stream: 'stdout', kind: 'pod', level: 'unknown', target: targets[(i * 31) % 200]! });
      if (mineAll) templates.assign(r);
      batch.push(r);
    }
    for (const f of engine.process(batch)) out.push(JSON.stringify(f));
  }
  return { out, mined: templates.miner.stats().lines };
}

describe('templates mined on demand', () => {
  it('give the same findings, byte for byte, as mining every record (Loghub + incidents, 120k records)', async () => {
    expect(existsSync(dir), `Loghub-2k datasets expected at ${dir} (set RSD_LOGHUB_DIR)`).toBe(true);
    const pool = loghubLines(dir);
    const all = await findings(pool, 120_000, true);
    const lazy = await findings(pool, 120_000, false);
    // The comparison means something only if mining-dependent findings occur.
    const types = new Set(all.out.map((f) => (JSON.parse(f) as { incident_type: string }).incident_type));
    expect(types).toContain('new_error_pattern');
    expect(types).toContain('error_spike');
    expect(all.out.length).toBeGreaterThan(100);
    expect(lazy.out).toEqual(all.out);
    expect(all.mined).toBe(120_000);
    expect(lazy.mined).toBeLessThan(120_000 / 2);
  });
});
