import { parseDuration } from '../parse/timestamp.ts';
import { compilePattern } from './pattern.ts';
import type { Pattern, Rule } from './types.ts';

const KINDS = new Set(['signature', 'rate', 'spike', 'absent', 'correlate', 'new_pattern', 'custom', 'classify']);
const DOMAINS = new Set(['release', 'infrastructure', 'runtime', 'security', 'identity', 'application']);
const SEVERITIES = new Set(['info', 'warning', 'error', 'critical']);
const SCOPES = new Set(['cluster', 'namespace', 'workload', 'pod', 'container', 'node']);
const ID = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const INCIDENT = /^[a-z][a-z0-9_]{0,62}$/;

export interface RuleProblem {
  field: string;
  reason: string;
}

/** Check a rule built in TypeScript (or converted from operator YAML). Returns the first problem. */
export function validateRule(r: unknown): RuleProblem | null {
  if (!r || typeof r !== 'object') return { field: '(rule)', reason: 'must be an object' };
  const rule = r as Partial<Rule> & Record<string, unknown>;
  if (typeof rule.id !== 'string' || !ID.test(rule.id)) return { field: 'id', reason: 'must match [a-z0-9][a-z0-9_.-]* (max 63 chars)' };
  if (typeof rule.kind !== 'string' || !KINDS.has(rule.kind)) return { field: 'kind', reason: `must be one of ${[...KINDS].join(', ')}` };
  if (typeof rule.incident_type !== 'string' || !INCIDENT.test(rule.incident_type)) return { field: 'incident_type', reason: 'must be snake_case ([a-z][a-z0-9_]*)' };
  if (typeof rule.domain !== 'string' || !DOMAINS.has(rule.domain)) return { field: 'domain', reason: `must be one of ${[...DOMAINS].join(', ')}` };
  if (typeof rule.severity !== 'string' || !SEVERITIES.has(rule.severity)) return { field: 'severity', reason: `must be one of ${[...SEVERITIES].join(', ')}` };
  if (rule.scope !== undefined && !SCOPES.has(rule.scope)) return { field: 'scope', reason: `must be one of ${[...SCOPES].join(', ')}` };
  if (rule.confidence !== undefined && !(typeof rule.confidence === 'number' && rule.confidence >= 0 && rule.confidence <= 1)) return { field: 'confidence', reason: 'must be a number in [0, 1]' };
  for (const f of ['suppressFor', 'quietFor', 'window', 'bucket', 'for', 'warmup'] as const) {
    const v = rule[f];
    if (v === undefined) continue;
    try {
      if (parseDuration(v as string | number) <= 0 && f !== 'suppressFor') return { field: f, reason: 'must be a positive duration' };
    } catch (err) {
      return { field: f, reason: (err as Error).message };
    }
  }
  for (const f of ['match', 'exclude'] as const) {
    const v = rule[f] as Pattern | Pattern[] | undefined;
    if (v === undefined) continue;
    const list = Array.isArray(v) ? v : [v];
    for (let i = 0; i < list.length; i++) {
      try {
        compilePattern(list[i]!);
      } catch (err) {
        return { field: `${f}[${i}]`, reason: `invalid pattern: ${(err as Error).message}` };
      }
    }
  }
  switch (rule.kind) {
    case 'signature':
    case 'rate':
      if (rule.match === undefined || (Array.isArray(rule.match) && rule.match.length === 0)) return { field: 'match', reason: 'at least one pattern is required' };
      if (rule.kind === 'rate' && (rule.threshold === undefined || rule.window === undefined)) return { field: rule.threshold === undefined ? 'threshold' : 'window', reason: 'required for rate rules' };
      if (rule.threshold !== undefined && !(Number.isInteger(rule.threshold) && (rule.threshold as number) >= 1)) return { field: 'threshold', reason: 'must be an integer ≥ 1' };
      break;
    case 'absent':
      if (rule.for === undefined) return { field: 'for', reason: 'required for absent rules' };
      break;
    case 'correlate':
      if (!Array.isArray(rule.conditions) || rule.conditions.length === 0) return { field: 'conditions', reason: 'at least one condition is required' };
      for (let i = 0; i < rule.conditions.length; i++) {
        const c = rule.conditions[i]!;
        if (!c.incident && !c.rule) return { field: `conditions[${i}]`, reason: 'needs incident or rule' };
      }
      if (!['node', 'namespace', 'workload', 'cluster'].includes(rule.on as string)) return { field: 'on', reason: 'must be node, namespace, workload or cluster' };
      if (rule.window === undefined) return { field: 'window', reason: 'required for correlate rules' };
      break;
    case 'custom':
      if (typeof rule.operator !== 'function') return { field: 'operator', reason: 'must be a function (records$) => Observable<CustomSignal>' };
      break;
    case 'classify': {
      const c = rule.classifier as { labelOf?: unknown } | undefined;
      if (!c || typeof c.labelOf !== 'function') return { field: 'classifier', reason: 'must be a SecondStage (src/detect/second-stage.ts)' };
      break;
    }
  }
  return null;
}
