import type { Rule } from './types.ts';
import { loadDefaultPipeline, loadPipelineFile, loadSecondStagePipeline } from './load.ts';
import { loadOperatorRules } from './operator-rules.ts';

export interface RuleSources {
  /** Include pipelines/default.ts (default true). */
  defaults?: boolean;
  /** Include the second stage, pipelines/second-stage.ts (default: as `defaults`; it types what they leave unclaimed). */
  secondStage?: boolean;
  pipelines?: string[];
  rules?: string[];
}

/** All rules from the default set, TypeScript pipelines and operator rule files, ids unique. */
export async function loadRules(src: RuleSources): Promise<Rule[]> {
  const sets = [];
  if (src.defaults !== false) sets.push(await loadDefaultPipeline());
  if (src.secondStage ?? src.defaults !== false) sets.push(await loadSecondStagePipeline());
  for (const p of src.pipelines ?? []) sets.push(await loadPipelineFile(p));
  for (const r of src.rules ?? []) sets.push(await loadOperatorRules(r));
  const seen = new Map<string, string>();
  const rules: Rule[] = [];
  for (const set of sets) {
    for (const rule of set.rules) {
      const prev = seen.get(rule.id);
      if (prev) throw new Error(`${set.name}: rule "${rule.id}": duplicate id (already defined in ${prev})`);
      seen.set(rule.id, set.name);
      rules.push(rule);
    }
  }
  return rules;
}
