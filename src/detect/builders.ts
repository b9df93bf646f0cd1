/**
 * Typed builders for pipelines/*.ts. Each returns plain data (plus functions for `custom`),
 * validated when the rule set is loaded, so a mistake is reported with the rule id and field.
 *
 *   import { ruleSet, signature, rate } from 'robot-sre-detector/pipeline';
 *   export default ruleSet('payments', [
 *     rate({ id: 'ldap-timeouts', incident_type: 'ldap_unreachable', domain: 'identity',
 *            severity: 'error', match: /ldap.*timed? ?out/i, threshold: 5, window: '10m' }),
 *   ]);
 */
import type {
  AbsentRule,
  ClassifyRule,
  CorrelateRule,
  CustomRule,
  NewPatternRule,
  RateRule,
  Rule,
  RuleSet,
  SignatureRule,
  SpikeRule,
} from './types.ts';

type Spec<R> = Omit<R, 'kind'>;

export const signature = (spec: Spec<SignatureRule>): SignatureRule => ({ kind: 'signature', ...spec });
export const rate = (spec: Spec<RateRule>): RateRule => ({ kind: 'rate', ...spec });
export const spike = (spec: Spec<SpikeRule>): SpikeRule => ({ kind: 'spike', ...spec });
export const absent = (spec: Spec<AbsentRule>): AbsentRule => ({ kind: 'absent', ...spec });
export const correlate = (spec: Spec<CorrelateRule>): CorrelateRule => ({ kind: 'correlate', ...spec });
export const newPattern = (spec: Spec<NewPatternRule>): NewPatternRule => ({ kind: 'new_pattern', ...spec });
/** Template-mining based rule (alias of newPattern: a never-seen error template per workload). */
export const patterns = newPattern;
export const custom = (spec: Spec<CustomRule>): CustomRule => ({ kind: 'custom', ...spec });
/** A second-stage rule: signals when its classifier types an unclaimed problem line as its incident_type. */
export const classify = (spec: Spec<ClassifyRule>): ClassifyRule => ({ kind: 'classify', ...spec });

export function ruleSet(name: string, rules: Rule[]): RuleSet {
  return { name, rules };
}

export type * from './types.ts';
