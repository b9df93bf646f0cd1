import type { LogRecord, Target } from '../model/log-record.ts';
import { parseDuration } from '../parse/timestamp.ts';
import { compileSelector } from './compile.ts';
import type { Selector } from './types.ts';

/**
 * The string forms of operator rules, in the shape the design writes them:
 *
 *   match: "LDAP Result Code 200 OR failed to connect to LDAP"
 *   threshold: ">= 5 in 10m"
 *   selector: namespace=image-factory, component=backend     # or { namespace: image-factory, component: [backend, api] }
 *
 * Each function reports a problem through `fail(field, reason)`, which throws.
 */
export type Fail = (field: string, reason: string) => never;

const MATCH_HELP = 'a string match is literal substrings joined by OR, e.g. "LDAP Result Code 200 OR failed to connect to LDAP"';

/**
 * `A OR B OR "a quoted phrase"`: each branch is a literal substring, matched case-insensitively
 * (like `match.contains`). OR is the keyword only in capitals and between spaces; a branch in double
 * or single quotes is taken as written (so it may hold OR, AND, NOT or surrounding spaces; a
 * backslash escapes the quote and itself). AND and NOT are refused rather than guessed at.
 */
export function parseMatchString(s: string, field: string, fail: Fail): string[] {
  const branches: string[] = [];
  const n = s.length;
  let i = 0;
  const skipWs = () => {
    while (i < n && /\s/.test(s[i]!)) i++;
  };
  const emptyBranch = (): never =>
    fail(field, `branch ${branches.length + 1} of ${JSON.stringify(s)} is empty (${s.trim() === '' ? 'nothing to match' : 'OR needs a literal on both sides'}); ${MATCH_HELP}`);
  for (;;) {
    skipWs();
    if (i >= n) emptyBranch();
    const q = s[i]!;
    if (q === '"' || q === "'") {
      let phrase = '';
      let j = i + 1;
      for (; j < n && s[j] !== q; j++) {
        if (s[j] === '\\' && j + 1 < n) j++;
        phrase += s[j];
      }
      if (j >= n) fail(field, `unterminated quote: the phrase starting at ${JSON.stringify(s.slice(i, i + 20))} has no closing ${q}`);
      if (phrase.length === 0) emptyBranch();
      branches.push(phrase);
      i = j + 1;
      skipWs();
      if (i >= n) break;
      const next = /^OR(?=\s|$)/.exec(s.slice(i));
      if (!next) fail(field, `expected OR after the quoted phrase ${JSON.stringify(phrase)}, found ${JSON.stringify(s.slice(i, i + 20))} (quote the whole phrase)`);
      i += 2;
      continue;
    }
    // A bare branch runs to the next standalone OR (outside quotes: a quote inside bare text is literal).
    const rest = s.slice(i);
    const or = /(^|\s)OR(?=\s|$)/.exec(rest);
    const text = (or ? rest.slice(0, or.index) : rest).trim();
    if (text.length === 0) emptyBranch();
    const op = /(?:^|\s)(AND|NOT)(?=\s|$)/.exec(text);
    if (op) {
      const kw = op[1]!;
      fail(
        field,
        kw === 'AND'
          ? `AND is not supported in a string match (each OR branch is one literal substring): quote the phrase to match the word itself ('"${text}"'), or use the structured form (match: { regex: [...] }) for a combination`
          : `NOT is not supported in a string match: list what must not match under exclude (exclude: "healthcheck OR probe"), or quote the phrase to match the word itself ('"${text}"')`,
      );
    }
    branches.push(text);
    if (!or) break;
    i += or.index + or[0].length;
  }
  return branches;
}

const THRESHOLD_HELP = 'use ">= N in DURATION", "> N in DURATION" or "N in DURATION", e.g. ">= 5 in 10m"';

/** `>= 5 in 10m` (5 or more within 10 minutes), `> 4 in 10m` (the same), `5 in 10m` (the same). */
export function parseThresholdString(s: string, field: string, fail: Fail): { count: number; window: string } {
  const t = s.trim();
  const m = /^(>=|≥|>|<=|≤|<|==|=|!=)?\s*(\S+)(?:\s+(\S+)\s*(.*))?$/.exec(t);
  if (!m || t === '') fail(field, `${JSON.stringify(s)} is not a threshold: ${THRESHOLD_HELP}`);
  const [, op = '', countText, inWord, windowText] = m!;
  if (['<=', '≤', '<', '==', '=', '!='].includes(op)) {
    fail(field, `${JSON.stringify(s)}: "${op}" is not supported: a threshold fires when the count in the window reaches it, so only >= and > compare (silence is an absent rule); ${THRESHOLD_HELP}`);
  }
  if (!/^\d+$/.test(countText!)) fail(field, `${JSON.stringify(s)}: the count ${JSON.stringify(countText)} must be a whole number; ${THRESHOLD_HELP}`);
  const n = Number(countText);
  const count = op === '>' ? n + 1 : n;
  if (!Number.isSafeInteger(count) || count < 1) fail(field, `${JSON.stringify(s)}: the count must be at least 1 (or "> 0"); ${THRESHOLD_HELP}`);
  if (inWord === undefined) fail(field, `${JSON.stringify(s)} has no window: ${THRESHOLD_HELP}`);
  if (inWord!.toLowerCase() !== 'in') fail(field, `${JSON.stringify(s)}: expected "in" before the window, found ${JSON.stringify(inWord)}; ${THRESHOLD_HELP}`);
  const window = windowText!.trim();
  if (window === '') fail(field, `${JSON.stringify(s)} has no window after "in": ${THRESHOLD_HELP}`);
  let ms: number;
  try {
    ms = parseDuration(window);
  } catch (err) {
    return fail(field, `${JSON.stringify(s)}: window: ${(err as Error).message}`);
  }
  if (ms <= 0) fail(field, `${JSON.stringify(s)}: the window must be a positive duration`);
  return { count, window };
}

/**
 * Selector labels: the stream labels the Loki sink keeps (so a rule selects with the same words a
 * LogQL query uses), plus the record fields the engine reads. `source` is a Loki label too, but a
 * rule says it with its top-level `source`.
 */
const TARGET_LABELS: Readonly<Record<string, keyof Target>> = {
  cluster: 'cluster',
  namespace: 'namespace',
  app: 'app',
  component: 'component',
  service_name: 'service',
  service: 'service',
  container: 'container',
  workload: 'workload',
  pod: 'pod',
  node: 'node',
};
const EVENT_LABELS = ['reason', 'type', 'kind'];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'unknown'];
export const SELECTOR_LABELS: readonly string[] = [...Object.keys(TARGET_LABELS), ...EVENT_LABELS, 'level'];
const LABELS_HELP =
  'selectors use the stream labels the Loki sink keeps (cluster, namespace, app, component, service_name, container), the record fields workload, pod, node and level, and for events reason, type and kind';

/**
 * Whether the engine's selector (compile.ts) really filters on a target field: a selector field it
 * does not know is ignored, so a rule on it would match every record. Probed rather than assumed, so
 * a label the engine learns to filter on becomes usable here without a change.
 */
const filters = new Map<keyof Target, boolean>();
export function engineFilters(field: keyof Target): boolean {
  let ok = filters.get(field);
  if (ok === undefined) {
    const test = compileSelector({ [field]: ['probe-a'] } as Selector);
    const record = (v: string) => ({ kind: 'pod', level: 'unknown', line: '', target: { cluster: 'probe', namespace: 'probe', [field]: v } }) as unknown as LogRecord;
    ok = test(record('probe-a')) && !test(record('probe-b'));
    filters.set(field, ok);
  }
  return ok;
}

function values(v: unknown): string[] | null {
  const one = (x: unknown) => (typeof x === 'string' ? x : typeof x === 'number' || typeof x === 'boolean' ? String(x) : null);
  const list = Array.isArray(v) ? v.map(one) : [one(v)];
  return list.length > 0 && list.every((x) => x !== null) ? (list as string[]) : null;
}

/** `namespace=image-factory, component=backend` → { namespace: 'image-factory', component: 'backend' }. */
function parseSelectorString(s: string, fail: Fail): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = s.split(',');
  parts.forEach((raw, i) => {
    const part = raw.trim();
    if (part === '') fail('selector', `${JSON.stringify(s)}: item ${i + 1} is empty (write label=value, label=value)`);
    if (/!=|=~|!~/.test(part)) fail('selector', `${JSON.stringify(part)}: only label=value (exact) is supported; list several values in the mapping form, { label: [a, b] }`);
    const eq = part.indexOf('=');
    if (eq <= 0) fail('selector', `${JSON.stringify(part)} is not label=value`);
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k in out) fail(`selector.${k}`, `given twice in ${JSON.stringify(s)} (a record has one value; list several in the mapping form, { ${k}: [a, b] })`);
    out[k] = v;
  });
  return out;
}

/** A selector mapping (or its string form) → the engine's Selector. */
export function parseSelector(raw: unknown, source: Selector['source'], fail: Fail): Selector {
  const selector: Selector = { source };
  if (raw === undefined) return selector;
  let entries: Array<[string, unknown]>;
  if (typeof raw === 'string') entries = Object.entries(parseSelectorString(raw, fail));
  else if (raw && typeof raw === 'object' && !Array.isArray(raw)) entries = Object.entries(raw);
  else return fail('selector', 'must be a mapping { label: value | [values] } or a string "label=value, label=value"');
  const seenField = new Map<string, string>();
  for (const [k, v] of entries) {
    const field = `selector.${k}`;
    if (k === 'source') fail(field, 'the record kind is chosen by the rule\'s top-level source (logs, events or any)');
    if (!(k in TARGET_LABELS) && !EVENT_LABELS.includes(k) && k !== 'level') {
      fail(field, `no record carries a label "${k}", so this selector would never match; ${LABELS_HELP} (allowed: ${SELECTOR_LABELS.join(', ')})`);
    }
    const list = values(v);
    if (!list) fail(field, 'must be a value or a list of values');
    list!.forEach((x, j) => {
      const at = list!.length > 1 || Array.isArray(v) ? `${field}[${j}]` : field;
      if (x === '') fail(at, 'must not be empty');
      if (x.startsWith('!')) fail(at, `${JSON.stringify(x)}: negation is not supported (a selector lists the values it keeps)`);
    });
    const target = TARGET_LABELS[k];
    if (target !== undefined) {
      const other = seenField.get(target);
      if (other !== undefined) fail(field, `same label as selector.${other}: give one`);
      seenField.set(target, k);
      if (!engineFilters(target)) {
        fail(field, `the detection engine cannot filter on ${k} yet (its selector ignores the field), so this rule would match every ${k}; refused rather than over-matching`);
      }
      (selector as Record<string, unknown>)[target] = list;
    } else if (k === 'reason') selector.reason = list!;
    else if (k === 'kind') selector.objectKind = list!;
    else if (k === 'type') {
      if (list!.length !== 1 || !['Normal', 'Warning'].includes(list![0]!)) fail(field, 'must be Normal or Warning (one of them)');
      selector.eventType = list![0] as 'Normal' | 'Warning';
    } else {
      const bad = list!.find((x) => !LEVELS.includes(x));
      if (bad !== undefined) fail(field, `${JSON.stringify(bad)} is not a level (levels: ${LEVELS.join(', ')})`);
      selector.level = list! as Selector['level'];
    }
  }
  return selector;
}
