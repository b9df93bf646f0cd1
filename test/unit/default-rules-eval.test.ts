/**
 * Quality bar of the default rule set on real lines and event messages from public sources
 * (test/fixtures/incident-corpus): each sample replayed as a burst of 5 identical records within
 * 60 s in a pod of its own. Recall ≥ 0.9 for every incident type; findings on ≤ 2% of ordinary and
 * near-miss samples. `node scripts/eval-rules.ts` prints the misses and false positives.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeSample, evaluate, loadCorpus, type EvalResult } from '../../scripts/eval-rules.ts';

const CORPUS = resolve(import.meta.dirname, '../fixtures/incident-corpus');

const TYPES = [
  'image_pull_rate_limited',
  'image_pull_not_found',
  'image_pull_unauthorized',
  'disk_pressure',
  'scheduling_failed',
  'volume_mount_failed',
  'oom_killed',
  'crash_loop',
  'probe_failed',
  'dependency_timeout',
  'dependency_refused',
  'nats_unavailable',
  'db_connection_error',
  'tls_cert_error',
  'ldap_unreachable',
  'panic_fatal',
] as const;

describe('incident corpus', () => {
  const { incidents, ordinary } = loadCorpus(CORPUS);

  it('has at least 12 real samples of every incident type, each with its source', () => {
    for (const t of TYPES) expect(incidents.filter((s) => s.incident_type === t).length, t).toBeGreaterThanOrEqual(12);
    expect(incidents.every((s) => /^https:\/\//.test(s.source_url))).toBe(true);
    expect(new Set(incidents.map((s) => s.incident_type))).toEqual(new Set(TYPES));
  });

  it('has at least 150 ordinary and near-miss samples', () => {
    expect(ordinary.length).toBeGreaterThanOrEqual(150);
    expect(ordinary.every((s) => /^https:\/\//.test(s.source_url))).toBe(true);
  });
});

describe('default rules on the incident corpus', () => {
  let r: EvalResult;
  beforeAll(async () => {
    r = await evaluate(CORPUS);
  });

  it.each(TYPES)('recall of %s is at least 0.9', (t) => {
    const missed = r.misses.filter((m) => m.sample.incident_type === t).map((m) => `${describeSample(m.sample)}  <- ${m.fired.join(',') || 'nothing'}`);
    expect({ recall: r.recall[t], missed }).toEqual({ recall: expect.toSatisfy((x: number) => x >= 0.9), missed: expect.any(Array) });
  });

  it('raises findings on at most 2% of ordinary and near-miss lines', () => {
    const fps = r.fps.map((f) => `${describeSample(f.sample)}  -> ${f.fired.join(',')}`);
    expect({ fp_rate: r.fp_rate, fps }).toEqual({ fp_rate: expect.toSatisfy((x: number) => x <= 0.02), fps: expect.any(Array) });
  });
});
