import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import type { Pattern, Rule, RuleSet } from './types.ts';
import { validateRule } from './validate.ts';
import { checkRe2 } from './pattern.ts';
import { RuleLoadError } from './load.ts';
import { parseMatchString, parseSelector, parseThresholdString } from './operator-match.ts';

/**
 * Operator rules: data only (YAML or JSON), never executed as code. Patterns are RE2 regexes
 * (linear-time matching, so no rule can stall the stream) or plain substrings.
 *
 * The design's own shape (strings, see operator-match.ts):
 *
 * rules:
 *   - name: LDAP timeout spike           # id derived: ldap-timeout-spike (or give id:)
 *     source: logs
 *     selector: namespace=image-factory, component=backend
 *     match: LDAP Result Code 200 OR failed to connect to LDAP
 *     threshold: ">= 5 in 10m"
 *     severity: warning
 *     emit incident type: identity_provider_unreachable
 *
 * and the structured one:
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

const INCIDENT_TYPE_KEYS = ['incident_type', 'emit_incident_type', 'emit incident type'];
const TOP_FIELDS = new Set(['name', 'id', 'description', 'source', 'selector', 'match', 'exclude', 'threshold', 'severity', ...INCIDENT_TYPE_KEYS, 'domain', 'labels', 'suppression', 'recovery', 'correlation', 'scope', 'confidence']);
const MATCH_FIELDS = new Set(['regex', 'contains', 'exclude', 'case_sensitive']);
const THRESHOLD_FIELDS = new Set(['count', 'window']);
const CORRELATION_FIELDS = new Set(['with', 'window', 'on']);
const ID = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function strList(v: unknown): string[] | null {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

/** "LDAP timeout spike" → "ldap-timeout-spike": a display name gives the rule id findings carry. */
function idOf(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_.]+/g, '-')
    .replace(/^[-_.]+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

const ruleName = (n: YamlNode | null | undefined, i: number): string => {
  if (isMap(n)) {
    const v = n.get('name');
    if (typeof v === 'string') return v;
  }
  return `#${i + 1}`;
};

/**
 * YAML, checked on the document so that problems name the rule and field: a key given twice in a
 * rule (YAML keeps one of them; pasting the string form over a structured rule does that), and a
 * syntax error inside a rule, with a hint for the commonest one, an unquoted `>= 5 in 10m`.
 */
function parseYamlRules(text: string, file: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true });
  const root = doc.contents;
  const list = isMap(root) ? root.get('rules', true) : root;
  const items = isSeq(list) ? list.items : [];
  const locate = (pos: number): { rule: string; field: string | undefined } | null => {
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as YamlNode;
      const range = item?.range;
      if (!range || pos < range[0] || pos > range[2]) continue;
      let field: string | undefined;
      if (isMap(item)) {
        for (const p of item.items) {
          const k = p.key as YamlNode | null;
          const end = (p.value as YamlNode | null)?.range?.[2] ?? k?.range?.[2];
          if (isScalar(k) && k.range && end !== undefined && pos >= k.range[0] && pos <= end) field = String(k.value);
        }
      }
      return { rule: ruleName(item, i), field };
    }
    return null;
  };
  if (doc.errors.length) {
    const err = doc.errors[0]!;
    const first = err.message.split('\n')[0]!.replace(/:$/, '');
    const at = locate(err.pos[0]);
    const line = text.split('\n')[(err.linePos?.[0].line ?? 1) - 1] ?? '';
    const hint = /:\s*[<>]=?\s*\d/.test(line) ? ' (a value starting with > or < must be quoted in YAML: threshold: ">= 5 in 10m")' : '';
    if (at) throw new RuleLoadError(file, at.rule, at.field, `not valid YAML: ${first}${hint}`);
    throw new RuleLoadError(file, undefined, undefined, `not valid YAML: ${first}${hint}`);
  }
  const dupes = (node: unknown, rule: string, path: string): void => {
    if (!isMap(node)) return;
    const seen = new Set<string>();
    for (const p of node.items) {
      const k = isScalar(p.key) ? String(p.key.value) : undefined;
      if (k === undefined) continue;
      const field = path ? `${path}.${k}` : k;
      if (seen.has(k)) {
        throw new RuleLoadError(file, rule, field, `given twice in this rule${k === 'match' || k === 'threshold' || k === 'selector' ? ' (a string form and a structured form?)' : ''}: keep one`);
      }
      seen.add(k);
      dupes(p.value, rule, field);
    }
  };
  if (isMap(root)) {
    const top = new Set<string>();
    for (const p of root.items) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      if (top.has(k)) throw new RuleLoadError(file, undefined, k, 'given twice: keep one');
      top.add(k);
    }
  }
  items.forEach((item, i) => dupes(item, ruleName(item as YamlNode, i), ''));
  return doc.toJS();
}

export function parseOperatorRules(text: string, file: string): RuleSet {
  let doc: unknown;
  if (file.endsWith('.json')) {
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new RuleLoadError(file, undefined, undefined, `not valid JSON: ${(err as Error).message}`);
    }
  } else {
    doc = parseYamlRules(text, file);
  }
  const list = isObj(doc) ? doc.rules : doc;
  if (!Array.isArray(list)) throw new RuleLoadError(file, undefined, 'rules', 'must be a list of rules');
  const rules: Rule[] = [];
  const ids = new Map<string, string>();
  list.forEach((raw, i) => {
    const label = isObj(raw) && typeof raw.name === 'string' ? raw.name : `#${i + 1}`;
    const fail = (field: string, reason: string): never => {
      throw new RuleLoadError(file, label, field, reason);
    };
    if (!isObj(raw)) fail('(rule)', 'must be a mapping');
    const r = raw as Obj;
    for (const k of Object.keys(r)) if (!TOP_FIELDS.has(k)) fail(k, `unknown field (allowed: ${[...TOP_FIELDS].join(', ')})`);
    if (typeof r.name !== 'string' || r.name.trim() === '') fail('name', 'required string');
    // The id findings carry: the name itself when it is one, else derived from it (or given).
    let id: string;
    if (r.id !== undefined) {
      if (typeof r.id !== 'string' || !ID.test(r.id)) fail('id', 'must match [a-z0-9][a-z0-9_.-]* (max 63 chars)');
      id = r.id as string;
    } else {
      id = ID.test(r.name as string) ? (r.name as string) : idOf(r.name as string);
      if (!ID.test(id)) fail('name', `gives no rule id (letters or digits needed); add id: with [a-z0-9][a-z0-9_.-]*`);
    }
    const idField = r.id !== undefined ? 'id' : 'name';
    if (ids.has(id)) fail(idField, ids.get(id) === r.name ? 'duplicate rule name' : `rule id "${id}" is already taken by rule "${ids.get(id)}"`);
    ids.set(id, r.name as string);

    const typeKeys = INCIDENT_TYPE_KEYS.filter((k) => r[k] !== undefined);
    if (typeKeys.length > 1) fail(typeKeys[1]!, `the same as ${typeKeys[0]}: give one`);
    const typeField = typeKeys[0] ?? 'incident_type';
    const incidentType = r[typeField];

    const source = r.source ?? 'logs';
    if (!['logs', 'events', 'any'].includes(source as string)) fail('source', 'must be logs, events or any');
    const selector = parseSelector(r.selector, source as 'logs' | 'events' | 'any', fail);

    const patterns: Pattern[] = [];
    let exclude: Pattern[] = [];
    if (typeof r.match === 'string') {
      // The design's form: "A OR B", literal and case-insensitive like match.contains.
      patterns.push(...parseMatchString(r.match, 'match', fail).map((s) => ({ contains: s, caseSensitive: false })));
      if (r.exclude !== undefined) {
        if (typeof r.exclude !== 'string') fail('exclude', 'must be a string like the match ("healthcheck OR probe")');
        exclude = parseMatchString(r.exclude as string, 'exclude', fail).map((s) => ({ contains: s, caseSensitive: false }));
      }
    } else if (isObj(r.match)) {
      if (r.exclude !== undefined) fail('exclude', 'goes under match (match.exclude) in the structured form; the top-level exclude is for a string match');
      const m = r.match;
      for (const k of Object.keys(m)) if (!MATCH_FIELDS.has(k)) fail(`match.${k}`, `unknown field (allowed: ${[...MATCH_FIELDS].join(', ')})`);
      if (m.case_sensitive !== undefined && typeof m.case_sensitive !== 'boolean') fail('match.case_sensitive', 'must be true or false');
      const caseSensitive = m.case_sensitive === true;
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
      exclude = toPatterns('exclude');
    } else {
      fail('match', r.match === undefined ? 'required: a string ("A OR B") or a mapping with regex and/or contains' : 'must be a string ("A OR B") or a mapping with regex and/or contains');
    }

    let threshold = 1;
    let window: string | number = '5m';
    if (typeof r.threshold === 'string') {
      ({ count: threshold, window } = parseThresholdString(r.threshold, 'threshold', fail));
    } else if (isObj(r.threshold)) {
      const t = r.threshold;
      for (const k of Object.keys(t)) if (!THRESHOLD_FIELDS.has(k)) fail(`threshold.${k}`, `unknown field (allowed: count, window)`);
      if (!Number.isInteger(t.count) || (t.count as number) < 1) fail('threshold.count', 'must be an integer ≥ 1');
      threshold = t.count as number;
      if (t.window !== undefined) {
        if (typeof t.window !== 'string' && typeof t.window !== 'number') fail('threshold.window', 'must be a duration like 10m');
        window = t.window as string | number;
      }
    } else if (r.threshold !== undefined) {
      fail('threshold', 'must be a string ">= N in DURATION" (e.g. ">= 5 in 10m") or a mapping { count, window }');
    }
    const rule: Rule = {
      kind: threshold > 1 ? 'rate' : 'signature',
      id,
      incident_type: incidentType as string,
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
    const stringThreshold = typeof r.threshold === 'string';
    const fieldOf: Record<string, string> = {
      ...OPERATOR_FIELD,
      id: idField,
      incident_type: typeField,
      ...(stringThreshold ? { window: 'threshold', threshold: 'threshold' } : {}),
    };
    const problem = validateRule(rule);
    if (problem) fail(fieldOf[problem.field] ?? problem.field, problem.reason);
    rules.push(rule);

    if (r.correlation !== undefined) {
      if (!isObj(r.correlation)) fail('correlation', 'must be a mapping { with, window, on }');
      const c = r.correlation as Obj;
      for (const k of Object.keys(c)) if (!CORRELATION_FIELDS.has(k)) fail(`correlation.${k}`, 'unknown field (allowed: with, window, on)');
      const withList = strList(c.with);
      if (!withList || withList.length === 0) fail('correlation.with', 'must list incident types to correlate with');
      const corr: Rule = {
        kind: 'correlate',
        id: `${id}-correlated`,
        incident_type: `${incidentType as string}_correlated`,
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

const OPERATOR_FIELD: Record<string, string> = { suppressFor: 'suppression', quietFor: 'recovery', window: 'threshold.window', threshold: 'threshold.count' };

export async function loadOperatorRules(file: string): Promise<RuleSet> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new RuleLoadError(file, undefined, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseOperatorRules(text, file);
}
