import type { LogRecord } from '../model/log-record.ts';
import type { Severity } from '../model/finding.ts';
import { parseDuration } from '../parse/timestamp.ts';
import { compileAny, compilePattern, type CompiledPattern } from './pattern.ts';
import { SOURCE_OF_KIND, type Pattern, type Rule, type ScopeLevel, type Selector } from './types.ts';

/** A rule with everything precomputed that the hot path needs. */
export interface CompiledRule {
  spec: Rule;
  id: string;
  version: string;
  incident_type: string;
  domain: Rule['domain'];
  severity: Severity;
  confidence: number;
  scope: ScopeLevel;
  selects: (r: LogRecord) => boolean;
  suppressMs: number;
  quietMs: number;
  emit: boolean;
  recovers: boolean;
  group: string | undefined;
  priority: number;
  escalate: Array<{ count: number; severity: Severity }>;
  title: string;
  /** The text a rule pattern matched in a line: a LogQL line filter that finds that line again. */
  matchedText: (line: string) => string | undefined;
  /** Whether the rule's selector restricts it to Kubernetes events. */
  eventsOnly: boolean;
  /** Patterns of `clearedBy`: a record matching one ends the rule's open episode of its scope. */
  clears: CompiledPattern[];
}

const DEFAULT_CONFIDENCE: Record<Rule['kind'], number> = {
  signature: 0.9,
  rate: 0.85,
  spike: 0.7,
  absent: 0.75,
  correlate: 0.85,
  new_pattern: 0.5,
  custom: 0.7,
  // Below every other kind's: a statistical guess about a line no rule understood.
  classify: 0.4,
};

export function compileRule(rule: Rule): CompiledRule {
  const patterns = 'match' in rule ? compileAny(rule.match as Pattern | Pattern[] | undefined) : [];
  const sources = rule.selector?.source;
  const eventsOnly = sources === 'events' || (Array.isArray(sources) && sources.length === 1 && sources[0] === 'events');
  return {
    spec: rule,
    id: rule.id,
    version: rule.version ?? '1',
    incident_type: rule.incident_type,
    domain: rule.domain,
    severity: rule.severity,
    confidence: rule.confidence ?? DEFAULT_CONFIDENCE[rule.kind],
    scope: rule.scope ?? (rule.kind === 'correlate' ? 'cluster' : 'workload'),
    // A spike rule must see every record of a scope to learn its baseline: its level filter
    // decides what is counted (in the detector), not which scopes are tracked.
    selects: compileSelector(rule.kind === 'spike' && rule.selector ? { ...rule.selector, level: undefined } : rule.selector),
    suppressMs: parseDuration(rule.suppressFor ?? '30m'),
    quietMs: parseDuration(rule.quietFor ?? '5m'),
    emit: rule.emit ?? true,
    recovers: rule.recovers ?? rule.kind !== 'new_pattern',
    group: rule.group,
    priority: rule.priority ?? 100,
    escalate: [...(rule.escalate ?? [])].sort((a, b) => a.count - b.count),
    title: rule.title ?? rule.incident_type.replace(/_/g, ' '),
    clears: compileAny(rule.clearedBy),
    matchedText: (line) => {
      for (const p of patterns) {
        const m = p.exec?.(line);
        if (m === undefined) continue;
        // Keep the constant head of the match: stop before numbers, quotes and escapes, which vary.
        const cut = /[0-9"\\=]/.exec(m.slice(4));
        const head = (cut ? m.slice(0, 4 + cut.index) : m).slice(0, 60).trimEnd();
        if (head.length >= 4) return head;
      }
      return undefined;
    },
    eventsOnly,
  };
}

type FieldTest = (v: string | undefined) => boolean;

function fieldTest(p: Pattern | string[]): FieldTest {
  if (Array.isArray(p)) {
    const set = new Set(p);
    return (v) => v !== undefined && set.has(v);
  }
  const c: CompiledPattern = typeof p === 'string' ? compilePattern({ regex: `^(?:${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})$`, caseSensitive: true }) : compilePattern(p);
  return (v) => v !== undefined && c.test(v);
}

export function compileSelector(sel: Selector | undefined): (r: LogRecord) => boolean {
  if (!sel) return () => true;
  const tests: Array<(r: LogRecord) => boolean> = [];
  if (sel.source && sel.source !== 'any') {
    const allowed = new Set(Array.isArray(sel.source) ? sel.source : [sel.source]);
    tests.push((r) => allowed.has(SOURCE_OF_KIND[r.kind]));
  }
  const targetField = (name: 'namespace' | 'workload' | 'pod' | 'container' | 'node' | 'app' | 'component' | 'service' | 'cluster', p: Pattern | string[] | undefined) => {
    if (p === undefined) return;
    const t = fieldTest(p);
    tests.push((r) => t(r.target[name]));
  };
  targetField('namespace', sel.namespace);
  targetField('workload', sel.workload);
  targetField('pod', sel.pod);
  targetField('container', sel.container);
  targetField('node', sel.node);
  targetField('app', sel.app);
  targetField('component', sel.component);
  targetField('service', sel.service);
  targetField('cluster', sel.cluster);
  if (sel.reason) {
    const reasons = new Set(sel.reason);
    tests.push((r) => r.event !== undefined && reasons.has(r.event.reason));
  }
  if (sel.eventType) {
    const et = sel.eventType;
    tests.push((r) => r.event?.type === et);
  }
  if (sel.objectKind) {
    const kinds = new Set(sel.objectKind);
    tests.push((r) => r.event !== undefined && kinds.has(r.event.involvedObject.kind));
  }
  if (sel.level?.length) {
    const levels = new Set(sel.level);
    tests.push((r) => levels.has(r.level));
  }
  if (tests.length === 1) return tests[0]!;
  return (r) => {
    for (const t of tests) if (!t(r)) return false;
    return true;
  };
}

export function severityFor(rule: CompiledRule, count: number): Severity {
  let s = rule.severity;
  for (const e of rule.escalate) if (count >= e.count) s = e.severity;
  return s;
}
