import { RE2JS } from 're2js';
import type { EvidenceLine, ResourceScope } from '../model/finding.ts';
import type { LogRecord, SourceKind } from '../model/log-record.ts';
import type { Pattern } from '../detect/types.ts';
import type { CompiledRule } from '../detect/compile.ts';
import { quoteLabelValue } from '../sinks/loki/labels.ts';
import { REDACTED, redact, redactionSpans, truncateUtf8 } from '../parse/redact.ts';
import { MAX_QUERY_BYTES } from '../model/limits.ts';

export const MAX_EVIDENCE_LINES = 5;
export const MAX_EVIDENCE_LINE_BYTES = 512;
/** Raw bytes kept per sample before redaction, so a secret is never cut in half before it is masked. */
const RAW_SAMPLE_CHARS = 4096;

export interface Sample {
  ts: string;
  line: string;
  pod?: string;
  container?: string;
  /**
   * The Loki stream labels the sink gives the record (streamLabelsOf): the evidence query selects
   * exactly these streams. Absent on samples saved before the field existed.
   */
  labels?: Record<string, string>;
}

export function sampleOf(r: LogRecord): Sample {
  const s: Sample = { ts: r.ts, line: r.line.length > RAW_SAMPLE_CHARS ? r.line.slice(0, RAW_SAMPLE_CHARS) : r.line };
  if (r.target.pod) s.pod = clip(r.target.pod);
  if (r.target.container) s.container = r.target.container;
  s.labels = streamLabelsOf(r);
  return s;
}

/** Redact, then cap: at most 5 lines of at most 512 bytes leave the process. */
export function evidenceLines(samples: readonly Sample[]): EvidenceLine[] {
  return samples.slice(0, MAX_EVIDENCE_LINES).map((s) => {
    const e: EvidenceLine = { ts: s.ts, line: truncateUtf8(redact(s.line), MAX_EVIDENCE_LINE_BYTES) };
    if (s.pod) e.pod = s.pod;
    if (s.container) e.container = s.container;
    return e;
  });
}

// ── stream labels (mirrors LabelBuilder.build in src/sinks/loki/labels.ts) ─────────────────

/** Loki's label and structured-metadata value cap in the sink (MAX_LABEL_VALUE / MAX_METADATA_VALUE). */
const MAX_LABEL_VALUE = 1024;
const clip = (v: string): string => (v.length > MAX_LABEL_VALUE ? v.slice(0, MAX_LABEL_VALUE) : v);

/** Stream label names in the order the sink adds them (the selector lists them in this order). */
export const STREAM_LABELS = ['cluster', 'namespace', 'app', 'component', 'service_name', 'container', 'source'] as const;

/**
 * The stream labels the Loki sink gives a record: the same names, the same empty-value rule and the
 * same sanitizing (cluster and source clipped to 1024 characters; a longer value of any other label
 * is demoted to structured metadata, so it is no stream label). What this cannot know is the sink's
 * cardinality cap: a value demoted for cardinality is still listed here (see docs/findings.md).
 */
export function streamLabelsOf(r: LogRecord): Record<string, string> {
  const t = r.target;
  const out: Record<string, string> = {};
  const add = (name: string, value: string | undefined, guarded: boolean): void => {
    if (!value) return;
    if (!guarded) out[name] = clip(value);
    else if (value.length <= MAX_LABEL_VALUE) out[name] = value;
  };
  add('cluster', t.cluster, false);
  add('namespace', t.namespace, true);
  add('app', t.app ?? t.workload, true);
  add('component', t.component, true);
  add('service_name', t.service, true);
  add('container', t.container, true);
  add('source', r.kind, false);
  return out;
}

// ── the query ──────────────────────────────────────────────────────────────────────────────

/** A LogQL string literal (Go syntax, what Loki's parser unquotes). */
const q = quoteLabelValue;
/** RE2 syntax for a literal string. */
const re2Quote = (s: string): string => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');

/** Longest line filter literal; longer common text is cut at a word boundary. */
export const MAX_LITERAL_CHARS = 120;
export const MIN_LITERAL_CHARS = 4;
/** Characters of each sample searched for the literal (the evidence line shows at most 512 bytes). */
const LITERAL_SCAN_CHARS = 2048;

export interface EvidenceQueryOptions {
  /** The rule's patterns: the case-insensitive `|~` fallback when the lines share no literal. */
  patterns?: readonly Pattern[] | undefined;
  /** The text a rule pattern matched in a line (CompiledRule.matchedText): where a long literal is centred. */
  matchedText?: ((line: string) => string | undefined) | undefined;
  /** The records' source kind, for samples without stream labels (saved by an older version). */
  source?: SourceKind | undefined;
}

/** The query options of a rule: its patterns (for the `|~` fallback) and where it matched (for a long literal). */
export function queryOptionsOf(rule: Pick<CompiledRule, 'spec' | 'matchedText'>, source?: SourceKind): EvidenceQueryOptions {
  const spec = rule.spec;
  const patterns = 'match' in spec && spec.match !== undefined ? ([spec.match].flat() as Pattern[]) : undefined;
  return { patterns, matchedText: rule.matchedText, source };
}

/**
 * A LogQL query that returns the evidence lines from Loki:
 *
 * - selector: every stream label the samples' records carry, with the sink's values (a label whose
 *   value differs between samples becomes `=~"a|b"`, one some samples lack also matches empty);
 * - line filter: the longest text every raw evidence line contains, with the same case, lying
 *   wholly outside what redaction removes (commonLiteral); else a case-insensitive `|~` of the rule
 *   patterns that match the lines, in RE2 syntax (patternRegex); else none;
 * - `| pod="…"` (structured metadata) when all samples come from one pod.
 */
export function evidenceQuery(samples: readonly Sample[], scope: ResourceScope, opts: EvidenceQueryOptions = {}): string {
  const lines = samples.map((s) => s.line);
  const selector = samples.length > 0 && samples.every((s) => s.labels) ? selectorOf(samples.map((s) => s.labels!)) : legacySelector(scope, opts.source);
  const pods = new Set(samples.map((s) => s.pod));
  const pod = pods.size === 1 ? [...pods][0] : undefined;
  const podFilter = pod ? ` | pod=${q(pod)}` : '';
  const literal = commonLiteral(lines, opts.matchedText);
  let filter = literal ? ` |= ${q(literal)}` : '';
  if (!literal) {
    const re = patternRegex(opts.patterns, lines);
    if (re) filter = ` |~ ${q(re)}`;
  }
  let query = `${selector}${filter}${podFilter}`;
  if (Buffer.byteLength(query) > MAX_QUERY_BYTES) query = `${selector}${podFilter}`;
  if (Buffer.byteLength(query) > MAX_QUERY_BYTES) query = legacySelector(scope, undefined);
  return query;
}

function selectorOf(labels: ReadonlyArray<Record<string, string>>): string {
  const names = new Set<string>();
  for (const l of labels) for (const n of Object.keys(l)) names.add(n);
  const order = (n: string): number => {
    const i = (STREAM_LABELS as readonly string[]).indexOf(n);
    return i < 0 ? STREAM_LABELS.length : i;
  };
  const parts: string[] = [];
  for (const name of [...names].sort((a, b) => order(a) - order(b) || (a < b ? -1 : 1))) {
    const values = [...new Set(labels.map((l) => l[name]).filter((v): v is string => v !== undefined))];
    const absent = labels.some((l) => l[name] === undefined);
    if (values.length === 1 && !absent) parts.push(`${name}=${q(values[0]!)}`);
    else parts.push(`${name}=~${q([...values.sort().map(re2Quote), ...(absent ? [''] : [])].join('|'))}`);
  }
  return `{${parts.join(', ')}}`;
}

/** The selector of findings whose samples carry no stream labels (saved before they did). */
function legacySelector(scope: ResourceScope, source: string | undefined): string {
  const sel = [`cluster=${q(scope.cluster)}`, `namespace=${q(scope.namespace)}`];
  if (source === 'event') sel.push(`source="event"`);
  else if (scope.container) sel.push(`container=${q(scope.container)}`);
  return `{${sel.join(', ')}}`;
}

// ── the literal ────────────────────────────────────────────────────────────────────────────

interface Scanned {
  text: string;
  /** Sorted, disjoint ranges a literal must not touch: what redaction removes, and earlier `[REDACTED]` marks. */
  banned: Array<[number, number]>;
}

function scan(line: string): Scanned {
  const banned: Array<[number, number]> = redactionSpans(line).map((s) => [s.start, s.end]);
  // Samples restored from a saved episode are redacted already: their marks are not in Loki either.
  for (let i = line.indexOf(REDACTED); i >= 0; i = line.indexOf(REDACTED, i + 1)) banned.push([i, i + REDACTED.length]);
  banned.sort((a, b) => a[0] - b[0]);
  return { text: line, banned };
}

const touches = (banned: ReadonlyArray<[number, number]>, start: number, end: number): boolean => banned.some(([a, b]) => a < end && start < b);

/** Whether `sub` occurs in `s` clear of its banned ranges (some occurrence) — monotone under taking substrings. */
function occursClear(s: Scanned, sub: string): boolean {
  for (let i = s.text.indexOf(sub); i >= 0; i = s.text.indexOf(sub, i + 1)) if (!touches(s.banned, i, i + sub.length)) return true;
  return false;
}

/** Whether no occurrence of `sub` in `s` touches a banned range (a literal must never be part of a secret). */
function neverBanned(s: Scanned, sub: string): boolean {
  for (let i = s.text.indexOf(sub); i >= 0; i = s.text.indexOf(sub, i + 1)) if (touches(s.banned, i, i + sub.length)) return false;
  return true;
}

const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);

/** Narrows [i, j) of `s` to word boundaries (no cut inside a word) without surrounding whitespace. */
function toBoundaries(s: string, i: number, j: number): [number, number] {
  let a = i;
  while (a < j && isWord(s[a - 1]) && isWord(s[a])) a++;
  // After a cut word, separators lead nowhere: "illed: container" → "container".
  const sep = a > i ? /[\s:;,.=|-]/ : /\s/;
  while (a < j && sep.test(s[a]!)) a++;
  let b = j;
  while (b > a && isWord(s[b - 1]) && isWord(s[b])) b--;
  const tail = b < j ? /[\s:;,.=|-]/ : /\s/;
  while (b > a && tail.test(s[b - 1]!)) b--;
  return [a, b];
}

/**
 * Cuts [a, b) of `s` to at most MAX_LITERAL_CHARS: from the rule's match (`focus`) when it lies
 * inside and enough text follows it, else the end of the run; moved to a word start when aligned.
 */
function window(s: string, a: number, b: number, focus: number | undefined, aligned: boolean): [number, number] {
  if (b - a <= MAX_LITERAL_CHARS) return [a, b];
  let start = focus !== undefined && focus >= a && focus < b && b - focus >= MAX_LITERAL_CHARS / 2 ? focus : Math.max(a, b - MAX_LITERAL_CHARS);
  if (aligned && start !== focus) {
    const space = s.slice(start, start + 20).search(/\s\S/);
    if (space >= 0) start += space + 1;
  }
  const end = Math.min(b, start + MAX_LITERAL_CHARS);
  if (aligned) {
    const [x, y] = toBoundaries(s, start, end);
    if (y - x >= MIN_LITERAL_CHARS) return [x, y];
  }
  return [start, end];
}

/**
 * The longest text that every raw line contains, with the same case (LogQL `|=` is case-sensitive),
 * never touching what redaction removes from any of them (so no secret reaches the query, and no
 * `[REDACTED]`, which Loki does not hold), with at least 4 letters or digits, cut to word boundaries
 * when that leaves 4 characters or more, and at most 120 characters (from the rule's match when longer).
 */
export function commonLiteral(lines: readonly string[], matchedText?: (line: string) => string | undefined): string | undefined {
  if (lines.length === 0) return undefined;
  const scanned = lines.map(scan);
  // The shortest line bounds the literal and has the fewest candidates.
  let base = scanned[0]!;
  for (const s of scanned) if (s.text.length < base.text.length) base = s;
  const others = scanned.filter((s) => s !== base);
  const text = base.text;
  const limit = Math.min(text.length, LITERAL_SCAN_CHARS);
  const inAll = (i: number, j: number): boolean => {
    const sub = text.slice(i, j);
    return others.every((s) => occursClear(s, sub));
  };
  // Maximal common runs, by sliding window over each segment of the base line clear of banned text.
  const runs: Array<[number, number]> = [];
  let segStart = 0;
  const bounds = [...base.banned.filter(([a]) => a < limit), [limit, limit] as [number, number]];
  for (const [bs, be] of bounds) {
    const segEnd = Math.min(bs, limit);
    let j = segStart;
    let lastJ = -1;
    for (let i = segStart; i < segEnd; i++) {
      if (j < i) j = i;
      while (j < segEnd && inAll(i, j + 1)) j++;
      if (j > lastJ && j - i >= MIN_LITERAL_CHARS) runs.push([i, j]);
      lastJ = j;
    }
    segStart = Math.max(segStart, be);
  }
  if (runs.length === 0) return undefined;
  const m = matchedText?.(text);
  const focusAt = m ? text.indexOf(m) : -1;
  const focus = focusAt >= 0 ? focusAt : undefined;
  const candidates: Array<{ lit: string; aligned: boolean; score: number }> = [];
  for (const [i, j] of runs) {
    const [a, b] = toBoundaries(text, i, j);
    if (b - a >= MIN_LITERAL_CHARS) {
      const [x, y] = window(text, a, b, focus, true);
      candidates.push({ lit: text.slice(x, y), aligned: true, score: y - x + (focus !== undefined && focus >= x && focus < y ? 0.5 : 0) });
    }
    let [x, y] = window(text, i, j, focus, false);
    while (x < y && /\s/.test(text[x]!)) x++;
    while (y > x && /\s/.test(text[y - 1]!)) y--;
    if (y - x >= MIN_LITERAL_CHARS) candidates.push({ lit: text.slice(x, y), aligned: false, score: y - x });
  }
  candidates.sort((p, r) => Number(r.aligned) - Number(p.aligned) || r.score - p.score);
  for (const c of candidates) {
    // `msg="` is in every logfmt line: a filter needs some letters or digits to select anything.
    if ((c.lit.match(/[A-Za-z0-9]/g)?.length ?? 0) < MIN_LITERAL_CHARS) continue;
    if (c.lit.includes(REDACTED) || redact(c.lit) !== c.lit) continue;
    if (scanned.every((s) => s.text.includes(c.lit) && neverBanned(s, c.lit))) return c.lit;
  }
  return undefined;
}

// ── the pattern fallback ───────────────────────────────────────────────────────────────────

/**
 * RE2 source of a rule pattern, or undefined when it has no RE2 form. JavaScript lookarounds are
 * dropped (the regex matches more, never less: still every evidence line), named groups become
 * plain groups, `\uXXXX` becomes `\x{XXXX}`; backreferences and `\c` have no RE2 form.
 */
export function re2Source(p: Pattern): string | undefined {
  if (typeof p === 'string') return re2Quote(p);
  if (!(p instanceof RegExp)) return 'regex' in p ? p.regex : re2Quote(p.contains);
  if (p.flags.includes('v')) return undefined;
  const src = p.source;
  let out = '';
  let i = 0;
  const skipGroup = (from: number): number => {
    // From the '(' at `from`: the index after its matching ')'.
    let depth = 0;
    let inClass = false;
    for (let k = from; k < src.length; k++) {
      const c = src[k];
      if (c === '\\') k++;
      else if (inClass) inClass = c !== ']';
      else if (c === '[') inClass = true;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) return k + 1;
    }
    return -1;
  };
  let inClass = false;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[i + 1];
      if (n === undefined) return undefined;
      if (/[1-9k]/.test(n) || n === 'c') return undefined; // backreferences, control escapes
      if (n === 'u') {
        const m = /^\\u(?:\{([0-9A-Fa-f]+)\}|([0-9A-Fa-f]{4}))/.exec(src.slice(i));
        if (!m) return undefined;
        out += `\\x{${m[1] ?? m[2]}}`;
        i += m[0].length;
        continue;
      }
      if (n === '0') out += '\\x00';
      else if (n === '/') out += '/';
      else out += c + n;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      i++;
      continue;
    }
    if (c === '[') {
      if (src.startsWith('[^]', i) || src.startsWith('[]', i)) return undefined;
      inClass = true;
      out += c;
      i++;
      continue;
    }
    if (c === '(' && src[i + 1] === '?') {
      const kind = src.slice(i + 2, i + 4);
      if (kind.startsWith('=') || kind.startsWith('!') || kind === '<=' || kind === '<!') {
        const end = skipGroup(i);
        if (end < 0) return undefined;
        i = end;
        continue;
      }
      if (kind.startsWith('<')) {
        const close = src.indexOf('>', i);
        if (close < 0) return undefined;
        out += '(?:';
        i = close + 1;
        continue;
      }
    }
    out += c;
    i++;
  }
  const flags = (p.flags.includes('s') ? 's' : '') + (p.flags.includes('m') ? 'm' : '');
  return flags ? `(?${flags}:${out})` : out;
}

function compileRe2(source: string): RE2JS | undefined {
  try {
    return RE2JS.compile(source);
  } catch {
    return undefined;
  }
}

/** Longest `|~` regex; longer alternations are left out (the query stays under 2 KiB). */
const MAX_REGEX_CHARS = 1200;

/**
 * A case-insensitive RE2 regex (`(?i)…`) of the rule patterns that match the lines, valid RE2
 * (checked with re2js) and matching every line; undefined when there is none.
 */
export function patternRegex(patterns: readonly Pattern[] | undefined, lines: readonly string[]): string | undefined {
  if (!patterns?.length || lines.length === 0) return undefined;
  const parts: string[] = [];
  for (const p of patterns) {
    const src = re2Source(p);
    if (src === undefined || parts.includes(src)) continue;
    const re = compileRe2(`(?i)${src}`);
    if (re && lines.some((l) => re.matcher(l).find())) parts.push(src);
  }
  if (parts.length === 0) return undefined;
  const source = `(?i)${parts.length === 1 ? parts[0] : parts.map((s) => `(?:${s})`).join('|')}`;
  if (source.length > MAX_REGEX_CHARS) return undefined;
  const re = compileRe2(source);
  return re && lines.every((l) => re.matcher(l).find()) ? source : undefined;
}
