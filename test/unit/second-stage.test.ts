/**
 * The second stage: a classifier types warning-or-worse lines that no emitting pattern rule matched.
 * Mechanics with a small model trained here (claimed lines are left alone, info lines are never
 * classified, one verdict per template, the bound on verdicts), then the shipped model: it is what
 * training on the dev half gives (not stale), and it types none of the distinct problem lines of
 * the ten Loghub systems (traffic it was never tuned on).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loghubLines } from '../../bench/lib/corpus.ts';
import { SECOND_STAGE_THRESHOLDS } from '../../pipelines/second-stage.ts';
import { SECOND_STAGE_MODEL } from '../../pipelines/second-stage-model.ts';
import { modelSource, trainOnDev } from '../../scripts/train-classifier.ts';
import { classify, signature } from '../../src/detect/builders.ts';
import { Classifier, ORDINARY_CLASS, trainClassifier } from '../../src/detect/classifier.ts';
import { loadRules } from '../../src/detect/rulesets.ts';
import { SecondStage, statesRecovery } from '../../src/detect/second-stage.ts';
import { createTemplateAssigner } from '../../src/detect/templates.ts';
import { metrics } from '../../src/metrics.ts';
import type { LogRecord, Target } from '../../src/model/log-record.ts';
import { detectLevel, isProblemLine } from '../../src/parse/level.ts';
import { parseRecord } from '../../src/parse/record.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const TRAINING = [
  ...['queue broker unreachable, retrying publish', 'cannot reach message broker cluster', 'broker connection lost while publishing', 'message broker unreachable for producer'].map((text) => ({ text, label: 'broker_unavailable' })),
  ...['replica set lagging behind primary badly', 'replica lagging, reads are stale', 'primary lost its replica quorum'].map((text) => ({ text, label: 'db_role_capacity_error' })),
  ...['request served in ok time', 'cache warmed for tenant', 'publish succeeded to queue', 'connected to primary as replica', 'health check passed'].map((text) => ({ text, label: ORDINARY_CLASS })),
];

const target: Target = { cluster: 'c', namespace: 'shop', pod: 'api-1', container: 'api', workload: 'api' };
let clock = Date.parse('2026-12-01T00:00:00Z');
const rec = (line: string): LogRecord => {
  const ms = (clock += 1000);
  return parseRecord({ ts: new Date(ms).toISOString(), tsMs: ms, line, stream: 'stdout', kind: 'pod', level: 'unknown', target });
};

async function engineWith(stage: SecondStage) {
  const rules = [
    signature({ id: 'broker-sig', incident_type: 'broker_unavailable', domain: 'runtime', severity: 'error', match: /broker down hard/, group: 'incident' }),
    ...['broker_unavailable', 'db_role_capacity_error'].map((t) => classify({ id: `ss-${t}`, incident_type: t, domain: 'runtime', severity: 'warning', classifier: stage })),
  ];
  const templates = await createTemplateAssigner();
  return detectionEngine({ rules, assignTemplate: templates.assign });
}

describe('second stage: mechanics', () => {
  const model = trainClassifier(TRAINING, 'unit');

  it('types an unclaimed problem line, with low confidence and the detector named; a claimed line and an info line are left alone', async () => {
    const stage = new SecondStage({ model, minPosterior: 0.5, minMargin: 0 });
    const engine = await engineWith(stage);
    const typed = engine.process([rec('ERROR message broker unreachable, cannot publish')]);
    expect(typed.map((f) => [f.incident_type, f.rule.id, f.confidence, f.severity])).toEqual([['broker_unavailable', 'ss-broker_unavailable', 0.4, 'warning']]);
    expect(typed[0]!.evidence.details).toMatchObject({ detector: 'second-stage classifier', model: 'unit' });
    // The signature claims this one: only its finding (a fresh engine: no episode open yet).
    const claimed = (await engineWith(stage)).process([rec('ERROR broker down hard: message broker unreachable')]);
    expect(claimed.map((f) => f.rule.id)).toEqual(['broker-sig']);
    // Not warning-or-worse: never shown to the classifier.
    expect(engine.process([rec('INFO replica lagging behind primary badly')])).toEqual([]);
    expect(engine.process([rec('ERROR replica lagging behind primary badly')]).map((f) => f.incident_type)).toEqual(['db_role_capacity_error']);
  });

  it('a line that says something came back, and names no failure, is never typed', async () => {
    // Dev half's ordinary lines (HAProxy, NATS) and the phrasings around them.
    for (const l of [
      '2023-04-04 15:54:26 [WARNING]  (8) : Server csg-gateway/csggateway-app-2 is UP. 2 active and 0 backup servers online.',
      '2019/11/14 03:48:14.622499 [WRN] nats reconnected',
      'WARN connection to message broker restored',
    ]) expect(statesRecovery(l), l).toBe(true);
    // A failure named beside it wins; "nodes are available" is not a recovery.
    for (const l of [
      'rbd: mapping succeeded but /dev/rbd5 is not accessible, rbd: map failed: (22) Invalid argument',
      '0/2 nodes are available: 1 Insufficient memory, 2 Insufficient pods.',
      'Server backend/srv1 is DOWN, reason: Layer4 connection problem',
      'WARN broker reconnected, then lost again: message broker unreachable',
    ]) expect(statesRecovery(l), l).toBe(false);
    const stage = new SecondStage({ model, minPosterior: 0.5, minMargin: 0 });
    const engine = await engineWith(stage);
    expect(engine.process([rec('ERROR message broker unreachable, cannot publish')])).toHaveLength(1);
    expect((await engineWith(stage)).process([rec('WARN message broker connection restored')])).toEqual([]);
  });

  it('below the thresholds, or nearer ordinary: no finding', async () => {
    const strict = await engineWith(new SecondStage({ model, minPosterior: 0.999999, minMargin: 50 }));
    expect(strict.process([rec('ERROR message broker unreachable, cannot publish')])).toEqual([]);
    const loose = await engineWith(new SecondStage({ model, minPosterior: 0, minMargin: 0 }));
    expect(loose.process([rec('ERROR health check passed for request')])).toEqual([]);
  });

  it('one verdict per template; the verdicts are bounded and evictions counted', async () => {
    const stage = new SecondStage({ model, minPosterior: 0.5, minMargin: 0, maxTemplates: 2 });
    const engine = await engineWith(stage);
    const evictions = async () => (await metrics.secondStageEvictions.get()).values.reduce((a, v) => a + v.value, 0);
    const before = await evictions();
    for (const w of ['alpha', 'beta', 'gamma', 'delta']) engine.process([rec(`ERROR ${w} unrelated words about ${w} ${w}`)]);
    expect(stage.size).toBe(2);
    expect((await evictions()) - before).toBe(2);
  });

  it('the classifier ignores values: numbers, hex and paths are not features', () => {
    const c = new Classifier(model);
    expect(c.predict('12345 0xdeadbeef 10.0.0.1 v2 2026-12-03T10:00:00Z')).toBeNull();
    expect(c.predict('message broker unreachable 10.0.0.7:9092')).toEqual(c.predict('message broker unreachable 10.9.9.9:1234'));
  });
});

describe('second stage: the shipped model', () => {
  it('is what training on the dev half gives (npm run train:classifier when this fails)', () => {
    expect(modelSource(SECOND_STAGE_MODEL)).toBe(modelSource(trainOnDev()));
  });

  it('loads with the defaults (one rule per incident type), not without them', async () => {
    const rules = await loadRules({});
    const ss = rules.filter((r) => r.kind === 'classify');
    expect(ss.map((r) => r.incident_type).sort()).toEqual(SECOND_STAGE_MODEL.classes.filter((c) => c !== ORDINARY_CLASS));
    expect(await loadRules({ defaults: false })).toEqual([]);
    expect((await loadRules({ secondStage: false })).some((r) => r.kind === 'classify')).toBe(false);
  });

  it('types none of the distinct warning-or-worse lines of the ten Loghub systems at the shipped thresholds', () => {
    const dir = process.env.RSD_LOGHUB_DIR ?? resolve(import.meta.dirname, '../../../shared/datasets/loghub-2k');
    expect(existsSync(dir), `Loghub-2k datasets expected at ${dir} (set RSD_LOGHUB_DIR)`).toBe(true);
    const problem = [...new Set(loghubLines(dir))].filter((l) => isProblemLine(detectLevel(l), l));
    expect(problem.length).toBeGreaterThan(4000);
    const c = new Classifier(SECOND_STAGE_MODEL);
    const typed = problem.filter((l) => {
      const p = c.predict(l);
      return p !== null && p.posterior >= SECOND_STAGE_THRESHOLDS.minPosterior && p.margin >= SECOND_STAGE_THRESHOLDS.minMargin;
    });
    expect(typed.slice(0, 5)).toEqual([]);
  });
});
