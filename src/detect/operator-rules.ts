import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Pattern, Rule, RuleSet, Selector } from './types.ts';
import { validateRule } from './validate.ts';
import { checkRe2 } from './pattern.ts';
import { RuleLoadError } from './load.ts';

/**
 * Operator rules: data only (YAML or JSON), never executed as code. Patterns are RE2 regexes
 * (linear-time matching, so no rule can stall the stream) or plain substrings.
 *
 * rules:
 *   - name: ldap-timeouts
 *     source: logs            # logs | events | any
 *     selector: { namespace: [auth], container: [api] }
 *     match: { regex: ["ldap.*timed? ?out"], contains: ["LDAP timeout"], exclude: ["healthcheck"] }
 *     threshold: { count: 5, window: 10m }
 *     severity: error
 *     incident_type: ldap_unreachable
 *     domain: identity
 *     labels: { team: identity }
 *     suppression: 30m
 *     recovery: 5m
 *     correlation: { with: [dependency_timeout], window: 10m, on: namespace }
 */

const TOP_FIELDS = new Set(['name', 'description', 'source', 'selector', 'match', 'threshold', 'severity', 'incident_type', 'domain', 'labels', 'suppression', 'recovery', 'correlation', 'scope', 'confidence']);
const SELECTOR_FIELDS = new Set(['namespace', 'workload', 'pod', 'container', 'node', 'app', 'reason', 'type', 'kind', 'level']);
const MATCH_FIELDS = new Set(['regex', 'contains', 'exclude', 'case_sensitive']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function strList(v: unknown): string[] | null {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

export function parseOperatorRules(text: string, file: string): RuleSet {
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new RuleLoadError(file, undefined, undefined, `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  const list = isObj(doc) ? doc.rules : doc;
  if (!Array.isArray(list)) throw new RuleLoadError(file, undefined, 'rules', 'must be a list of rules');
  const rules: Rule[] = [];
  const names = new Set<string>();
  list.forEach((raw, i) => {
    const id = isObj(raw) && typeof raw.name === 'string' ? raw.name : `#${i + 1}`;
    const fail = (field: string, reason: string): never => {
      throw new RuleLoadError(file, id, field, reason);
    };
    if (!isObj(raw)) fail('(rule)', 'must be a mapping');
    const r = raw as Obj;
    for (const k of Object.keys(r)) if (!TOP_FIELDS.has(k)) fail(k, `unknown field (allowed: ${[...TOP_FIELDS].join(', ')})`);
    if (typeof r.name !== 'string') fail('name', 'required string');
    if (names.has(id)) fail('name', 'duplicate rule name');
    names.add(id);
    const source = r.source ?? 'logs';
    if (!['logs', 'events', 'any'].includes(source as string)) fail('source', 'must be logs, events or any');

    const selector: Selector = { source: source as 'logs' | 'events' | 'any' };
    if (r.selector !== undefined) {
      if (!isObj(r.selector)) fail('selector', 'must be a mapping');
      for (const [k, v] of Object.entries(r.selector as Obj)) {
        if (!SELECTOR_FIELDS.has(k)) fail(`selector.${k}`, `unknown selector (allowed: ${[...SELECTOR_FIELDS].join(', ')})`);
        const l = strList(v);
        if (!l) fail(`selector.${k}`, 'must be a string or a list of strings');
        if (k === 'reason') selector.reason = l!;
        else if (k === 'type') selector.eventType = l![0] as 'Normal' | 'Warning';
        else if (k === 'kind') selector.objectKind = l!;
        else if (k === 'level') selector.level = l! as Selector['level'];
        else (selector as Record<string, unknown>)[k] = l!;
      }
    }

    if (!isObj(r.match)) fail('match', 'required mapping with regex and/or contains');
    const m = r.match as Obj;
    for (const k of Object.keys(m)) if (!MATCH_FIELDS.has(k)) fail(`match.${k}`, `unknown field (allowed: ${[...MATCH_FIELDS].join(', ')})`);
    const caseSensitive = m.case_sensitive === true;
    const patterns: Pattern[] = [];
    const toPatterns = (key: 'regex' | 'contains' | 'exclude'): Pattern[] => {
      if (m[key] === undefined) return [];
      const l = strList(m[key]);
      if (!l) fail(`match.${key}`, 'must be a string or a list of strings');
      return l!.map((s, j) => {
        if (s.length === 0) fail(`match.${key}[${j}]`, 'must not be empty');
        if (key === 'contains') return { contains: s, caseSensitive };
        const problem = checkRe2(s);
        if (problem) fail(`match.${key}[${j}]`, `not a valid RE2 regex (backreferences and lookaround are not supported, so matching stays linear-time): ${problem}`);
        return { regex: s, caseSensitive };
      });
    };
    patterns.push(...toPatterns('regex'), ...toPatterns('contains'));
    if (patterns.length === 0) fail('match', 'needs at least one regex or contains pattern');
    const exclude = toPatterns('exclude');

    let threshold = 1;
    let window: string | number = '5m';
    if (r.threshold !== undefined) {
      if (!isObj(r.threshold)) fail('threshold', 'must be a mapping { count, window }');
      const t = r.threshold as Obj;
      if (!Number.isInteger(t.count) || (t.count as number) < 1) fail('threshold.count', 'must be an integer ≥ 1');
      threshold = t.count as number;
      if (t.window !== undefined) {
        if (typeof t.window !== 'string' && typeof t.window !== 'number') fail('threshold.window', 'must be a duration like 10m');
        window = t.window as string | number;
      }
    }
    const rule: Rule = {
      kind: threshold > 1 ? 'rate' : 'signature',
      id: r.name as string,
      incident_type: r.incident_type as string,
      domain: (r.domain ?? 'application') as Rule['domain'],
      severity: r.severity as Rule['severity'],
      selector,
      match: patterns,
      threshold,
      window,
      ...(exclude.length ? { exclude } : {}),
      ...(r.scope !== undefined ? { scope: r.scope as Rule['scope'] } : {}),
      ...(r.confidence !== undefined ? { confidence: r.confidence as number } : {}),
      ...(r.suppression !== undefined ? { suppressFor: r.suppression as string } : {}),
      ...(r.recovery !== undefined ? { quietFor: r.recovery as string } : {}),
    } as Rule;
    if (r.labels !== undefined) {
      if (!isObj(r.labels) || !Object.values(r.labels).every((v) => typeof v === 'string')) fail('labels', 'must be a mapping of strings');
      rule.labels = r.labels as Record<string, string>;
    }
    const problem = validateRule(rule);
    if (problem) fail(OPERATOR_FIELD[problem.field] ?? problem.field, problem.reason);
    rules.push(rule);

    if (r.correlation !== undefined) {
      if (!isObj(r.correlation)) fail('correlation', 'must be a mapping { with, window, on }');
      const c = r.correlation as Obj;
      const withList = strList(c.with);
      if (!withList || withList.length === 0) fail('correlation.with', 'must list incident types to correlate with');
      const corr: Rule = {
        kind: 'correlate',
        id: `${r.name as string}-correlated`,
        incident_type: `${r.incident_type as string}_correlated`,
        domain: rule.domain,
        severity: rule.severity,
        window: (c.window as string) ?? '10m',
        on: ((c.on as string) ?? 'namespace') as 'namespace',
        conditions: [{ rule: rule.id }, ...withList!.map((incident) => ({ incident }))],
      };
      const cp = validateRule(corr);
      if (cp) fail(`correlation.${cp.field}`, cp.reason);
      rules.push(corr);
    }
  });
  return { name: file, rules };
}

const OPERATOR_FIELD: Record<string, string> = { id: 'name', suppressFor: 'suppression', quietFor: 'recovery', window: 'threshold.window', threshold: 'threshold.count' };

export async function loadOperatorRules(file: string): Promise<RuleSet> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new RuleLoadError(file, undefined, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseOperatorRules(text, file);
}
