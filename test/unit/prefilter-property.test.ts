import { describe, expect, it } from 'vitest';
import { requiredLiterals } from '../../src/detect/literals.ts';
import { compilePattern, type CompiledPattern } from '../../src/detect/pattern.ts';
import { LiteralScanner } from '../../src/detect/aho.ts';
import type { Pattern } from '../../src/detect/types.ts';

/**
 * The prefilter is sound: it never skips a line the pattern matches. Patterns go the way the
 * engine takes them (compilePattern → prefilter source → requiredLiterals → one LiteralScanner
 * over many patterns' literal groups, one each), and every skip is checked against
 * the pattern itself.
 */

/** The engine's decision for a batch of patterns on one line: which of them it would test. */
class Prefilter {
  private readonly scanner: LiteralScanner | null;
  /** Each pattern's group in the scanner (-1: no literals, always run). */
  private readonly groups: number[];
  readonly literals: Array<string[] | null>;
  constructor(patterns: readonly CompiledPattern[]) {
    this.literals = patterns.map((p) => (p.prefilter !== undefined ? requiredLiterals(p.prefilter) : null));
    const groups: string[][] = [];
    this.groups = this.literals.map((l) => {
      if (l === null) return -1;
      groups.push(l);
      return groups.length - 1;
    });
    this.scanner = groups.length ? new LiteralScanner(groups) : null;
  }
  /** For each pattern: true when the engine would run it on `line`. */
  runs(line: string): boolean[] {
    const found = new Set(this.scanner === null ? [] : this.scanner.groupsIn(line));
    return this.groups.map((g) => g < 0 || found.has(g));
  }
}

const runsOn = (p: Pattern, line: string): boolean => new Prefilter([compilePattern(p)]).runs(line)[0]!;

/** mulberry32: small, fast, deterministic. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T;
  pick(xs: string): string;
  pick<T>(xs: readonly T[] | string): T | string {
    return xs[this.int(xs.length)]!;
  }
}

// Characters the grammar and the lines draw from: ASCII letters with non-ASCII case partners
// (k/K ~ U+212A, s/S ~ U+017F), other non-ASCII letters (ß ẞ é É İ ı Ω µ), digits, punctuation.
const PLAIN = 'abcekKsSxyzAEXY019 -_:=,"\'';
const UNICODE = ['\u212a', '\u017f', 'ß', '\u1e9e', 'é', 'É', '\u0130', '\u0131', 'Ω', '\u2126', 'µ', 'Μ'];
const WORDS = ['kelvin', 'Kelvin', 'sss', 'KSK', 'error', 'timeout', 'ask', 'BCD', 'x-y', 'abc', 'pod', 'ßs'];
const PUNCT_ESCAPES = ['\\.', '\\/', '\\\\', '\\(', '\\)', '\\[', '\\]', '\\{', '\\}', '\\|', '\\*', '\\+', '\\?', '\\^', '\\$', '\\-', '\\"', '\\ ', '\\:', '\\e', '\\q', '\\z'];
const ESCAPED_CHAR: Record<string, string> = { '\\e': 'e', '\\q': 'q', '\\z': 'z' };
const CODE_CHARS = ['a', 'A', 'k', 'K', 's', 'S', 'b', 'C', '1', ' ', '-', 'é', '\u212a', '\u017f', '\u0130', 'ß'];
const LINE_CHARS = PLAIN + UNICODE.join('') + '\n\t.()[]{}\\|*+?^$/<>#';

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');

interface Node {
  src: string;
  /** A string this node probably matches (not always: flags, assertions, negation). */
  sample: string;
  /** Zero-width (quantifying it is not worth generating). */
  zero?: boolean;
  quantified?: boolean;
}

interface Ctx {
  unicode: boolean; // u or v
  v: boolean;
  groups: string[]; // samples of the capturing groups so far, by number - 1
  names: Array<{ name: string; sample: string }>;
  quantifiers: number;
}

function genClass(r: Rng, ctx: Ctx): Node {
  const items: Array<{ src: string; sample: string }> = [];
  const n = 1 + r.int(4);
  for (let k = 0; k < n; k++) {
    switch (r.int(9)) {
      case 0:
        items.push(r.pick([{ src: 'a-f', sample: 'c' }, { src: 'K-S', sample: 'K' }, { src: '0-9', sample: '7' }, { src: 'j-l', sample: 'k' }, { src: 'r-t', sample: 's' }]));
        break;
      case 1:
        items.push(r.pick([{ src: '\\d', sample: '4' }, { src: '\\w', sample: 'k' }, { src: '\\s', sample: ' ' }, { src: '\\W', sample: '-' }]));
        break;
      case 2: {
        const c = r.pick(CODE_CHARS);
        items.push({ src: r.chance(0.5) ? `\\u${hex(c.charCodeAt(0), 4)}` : c.charCodeAt(0) < 256 ? `\\x${hex(c.charCodeAt(0), 2)}` : c, sample: c });
        break;
      }
      case 3:
        items.push(r.pick([{ src: '\\-', sample: '-' }, { src: '\\]', sample: ']' }, { src: '\\\\', sample: '\\' }, { src: '.', sample: '.' }]));
        break;
      case 4:
        if (ctx.unicode) items.push(r.pick([{ src: '\\p{L}', sample: 'é' }, { src: '\\p{Lu}', sample: 'K' }, { src: '\\P{L}', sample: '1' }]));
        else items.push({ src: 'k', sample: 'k' });
        break;
      case 5: {
        const c = r.pick(UNICODE);
        items.push({ src: c, sample: c });
        break;
      }
      default: {
        const c = r.pick('abcksKSxz19');
        items.push({ src: c, sample: c });
      }
    }
  }
  const one = r.pick(items);
  if (ctx.v && r.chance(0.3)) {
    // Class set syntax: a nested class and a difference.
    return r.chance(0.5)
      ? { src: `[[${items.map((x) => x.src).join('')}]z]`, sample: r.chance(0.5) ? 'z' : one.sample }
      : { src: `[\\w--[${items.map((x) => x.src).join('')}]]`, sample: 'q' };
  }
  if (!ctx.v && r.chance(0.05)) return r.chance(0.5) ? { src: '[^]', sample: r.pick(LINE_CHARS) } : { src: '[]', sample: '' };
  if (r.chance(0.25)) return { src: `[^${items.map((x) => x.src).join('')}]`, sample: r.pick(LINE_CHARS) };
  return { src: `[${items.map((x) => x.src).join('')}]`, sample: one.sample };
}

function genEscape(r: Rng, ctx: Ctx): Node {
  switch (r.int(11)) {
    case 0: {
      const c = r.pick(CODE_CHARS.filter((x) => x.charCodeAt(0) < 256));
      return r.chance(0.9) ? { src: `\\x${hex(c.charCodeAt(0), 2).toUpperCase()}`, sample: c } : { src: '\\x4', sample: 'x4' };
    }
    case 1: {
      const c = r.pick(CODE_CHARS);
      return { src: `\\u${hex(c.charCodeAt(0), 4)}`, sample: c };
    }
    case 2: {
      const c = r.pick(CODE_CHARS);
      // Outside u/v, \u{2} is "uu".
      return ctx.unicode ? { src: `\\u{${hex(c.charCodeAt(0), 1)}}`, sample: c } : { src: '\\u{2}', sample: 'uu' };
    }
    case 3: {
      const l = r.pick('AJMaKksZ');
      return { src: `\\c${l}`, sample: String.fromCharCode(l.charCodeAt(0) % 32) };
    }
    case 4:
      return r.pick([{ src: '\\d', sample: '3' }, { src: '\\w', sample: r.pick('kKs_9') }, { src: '\\s', sample: ' ' }, { src: '\\D', sample: 'k' }, { src: '\\W', sample: r.pick(['-', '\u212a', '\u017f']) }, { src: '\\S', sample: 's' }]);
    case 5:
      return { src: r.pick(['\\b', '\\B']), sample: '', zero: true };
    case 6:
      return ctx.unicode ? r.pick([{ src: '\\p{L}', sample: r.pick(['é', 'K', '\u212a']) }, { src: '\\p{Lu}', sample: 'É' }, { src: '\\P{L}', sample: '5' }, { src: '\\p{Script=Greek}', sample: 'Ω' }]) : { src: '\\p{L}', sample: 'p{L}' };
    case 7:
      return r.pick([{ src: '\\n', sample: '\n' }, { src: '\\t', sample: '\t' }, { src: '\\0', sample: '\0' }]);
    case 8: {
      // A backreference: by number or by name.
      if (ctx.names.length && r.chance(0.5)) {
        const g = r.pick(ctx.names);
        return { src: `\\k<${g.name}>`, sample: g.sample };
      }
      if (ctx.groups.length) {
        const n = 1 + r.int(ctx.groups.length);
        return { src: `\\${n}`, sample: ctx.groups[n - 1]! };
      }
      return ctx.unicode ? { src: '\\.', sample: '.' } : r.pick([{ src: '\\k<nm>', sample: 'k<nm>' }, { src: '\\12', sample: '\n' }, { src: '\\8', sample: '8' }]);
    }
    default: {
      const e = r.pick(PUNCT_ESCAPES);
      return { src: e, sample: ESCAPED_CHAR[e] ?? e.slice(1) };
    }
  }
}

function genAtom(r: Rng, ctx: Ctx, depth: number): Node {
  switch (r.int(depth > 2 ? 10 : 13)) {
    case 0:
    case 1: {
      const c = r.pick(PLAIN);
      return { src: c, sample: c };
    }
    case 2:
    case 3:
    case 4: {
      const w = r.pick(WORDS);
      return { src: w, sample: w };
    }
    case 5: {
      const c = r.pick(UNICODE);
      return { src: c, sample: c };
    }
    case 6:
    case 7:
      return genEscape(r, ctx);
    case 8:
      return genClass(r, ctx);
    case 9:
      return r.pick<Node>([{ src: '.', sample: r.pick(['k', '\u212a', '\n', 'é']) }, { src: '^', sample: '', zero: true }, { src: '$', sample: '', zero: true }]);
    default: {
      const inner = genAlt(r, ctx, depth + 1);
      switch (r.int(7)) {
        case 0: {
          ctx.groups.push(inner.sample);
          return { src: `(${inner.src})`, sample: inner.sample, quantified: inner.quantified };
        }
        case 1: {
          const name = `n${ctx.names.length}`;
          ctx.groups.push(inner.sample);
          ctx.names.push({ name, sample: inner.sample });
          return { src: `(?<${name}>${inner.src})`, sample: inner.sample, quantified: inner.quantified };
        }
        case 2:
          return { src: `(?:${inner.src})`, sample: inner.sample, quantified: inner.quantified };
        case 3:
          // Positive lookahead: the sample goes on to match its content, which the rest may consume.
          return { src: `(?=${inner.src})`, sample: '', zero: true };
        case 4:
          return { src: `(?${r.pick(['<=', '<!', '!'])}${inner.src})`, sample: '', zero: true };
        default:
          return { src: `(?${r.pick(['i', '-i', 's', 'm-i', 'is'])}:${inner.src})`, sample: inner.sample, quantified: inner.quantified };
      }
    }
  }
}

function genQuantified(r: Rng, ctx: Ctx, depth: number): Node {
  const a = genAtom(r, ctx, depth);
  // No quantifier over a quantified group, and few in all: keeps backtracking polynomial and small.
  if (a.zero || a.quantified || ctx.quantifiers >= 4 || !r.chance(0.3)) return a;
  ctx.quantifiers++;
  const [q, times] = r.pick<[string, number[]]>([
    ['?', [0, 1]],
    ['*', [0, 1, 2]],
    ['+', [1, 2]],
    ['{2}', [2]],
    ['{1,3}', [1, 3]],
    ['{0,2}', [0, 2]],
    ['{2,}', [2, 3]],
    ['{1}', [1]],
  ]);
  const lazy = r.chance(0.2) ? '?' : '';
  return { src: a.src + q + lazy, sample: a.sample.repeat(r.pick(times)), quantified: true };
}

function genSeq(r: Rng, ctx: Ctx, depth: number): Node {
  const n = 1 + r.int(depth === 0 ? 5 : 3);
  const parts = Array.from({ length: n }, () => genQuantified(r, ctx, depth));
  return { src: parts.map((p) => p.src).join(''), sample: parts.map((p) => p.sample).join(''), quantified: parts.some((p) => p.quantified) };
}

function genAlt(r: Rng, ctx: Ctx, depth: number): Node {
  const n = r.chance(0.3) ? 2 + r.int(2) : 1;
  const branches = Array.from({ length: n }, () => genSeq(r, ctx, depth));
  return { src: branches.map((b) => b.src).join('|'), sample: r.pick(branches).sample, quantified: branches.some((b) => b.quantified) };
}

/** Case flips and the non-ASCII case partners of k and s, a few insertions and deletions. */
function mutate(r: Rng, s: string): string {
  let out = '';
  for (const ch of s) {
    if (r.chance(0.04)) continue;
    let c = ch;
    const p = r.next();
    if (p < 0.15) c = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
    else if (p < 0.35) c = ({ k: '\u212a', K: '\u212a', s: '\u017f', S: '\u017f', '\u212a': 'k', '\u017f': 'S', é: 'É', ß: '\u1e9e', '\u0130': 'i' } as Record<string, string>)[c] ?? c;
    out += c;
    if (r.chance(0.03)) out += r.pick(LINE_CHARS);
  }
  return out;
}

const noise = (r: Rng, n: number): string => Array.from({ length: r.int(n + 1) }, () => r.pick(LINE_CHARS)).join('');

function genLines(r: Rng, src: string, sample: string): string[] {
  const piece = (): string => {
    const a = r.int(src.length + 1);
    return src.slice(a, a + 1 + r.int(8));
  };
  return [
    sample,
    noise(r, 6) + sample + noise(r, 6),
    noise(r, 4) + mutate(r, sample) + noise(r, 4),
    mutate(r, sample),
    mutate(r, noise(r, 3) + piece() + sample.slice(r.int(sample.length + 1)) + piece()),
    noise(r, 3) + piece() + noise(r, 3) + piece() + noise(r, 3),
  ];
}

const FLAG_SETS = ['', 'i', 'u', 'iu', 's', 'm', 'ims', 'iu', 'isu', 'mu', 'v', 'iv', 'imsv', 'ims', 'iu', 'iv'];

describe('prefilter soundness on random regexes', () => {
  it('never skips a line the regex matches (JavaScript RegExp, flags i/u/v/s/m)', () => {
    const r = new Rng(20260101);
    const BATCH = 40; // past 31 detectors share the last bit, as in the engine
    let pairs = 0;
    let hits = 0;
    let prefilteredHits = 0;
    let regexes = 0;
    let withLiterals = 0;
    const failures: string[] = [];
    const started = Date.now();
    while (regexes < 1000) {
      const batch: Array<{ re: RegExp; lines: string[] }> = [];
      while (batch.length < BATCH) {
        const flags = r.pick(FLAG_SETS);
        const ctx: Ctx = { unicode: /[uv]/.test(flags), v: flags.includes('v'), groups: [], names: [], quantifiers: 0 };
        const node = genAlt(r, ctx, 0);
        let re: RegExp;
        try {
          re = new RegExp(node.src, flags);
        } catch {
          continue; // not valid under these flags
        }
        batch.push({ re, lines: genLines(r, node.src, node.sample) });
      }
      const pf = new Prefilter(batch.map((b) => compilePattern(b.re)));
      regexes += batch.length;
      withLiterals += pf.literals.filter((l) => l !== null).length;
      // Lines of every regex of the batch are scanned for all of them.
      const lines = batch.flatMap((b) => b.lines);
      for (const line of lines) {
        const runs = pf.runs(line);
        batch.forEach(({ re }, k) => {
          pairs++;
          if (!re.test(line)) return;
          hits++;
          if (pf.literals[k] !== null) prefilteredHits++;
          if (!runs[k] && failures.length < 10) failures.push(`${String(re)} literals ${JSON.stringify(pf.literals[k])} skipped ${JSON.stringify(line)}`);
        });
      }
    }
    const ms = Date.now() - started;
    expect(failures).toEqual([]);
    // Not vacuous: many pairs, many matches, and many of them on regexes the prefilter narrows.
    expect(pairs).toBeGreaterThanOrEqual(5000);
    expect(hits / pairs).toBeGreaterThanOrEqual(0.1);
    expect(withLiterals / regexes).toBeGreaterThanOrEqual(0.2);
    expect(prefilteredHits).toBeGreaterThanOrEqual(1000);
    console.log(`prefilter property: ${regexes} regexes (${withLiterals} with literals), ${pairs} pairs, ${hits} matches (${((100 * hits) / pairs).toFixed(1)} %), ${prefilteredHits} on prefiltered regexes, ${ms} ms`);
  });

  it('never skips a line the pattern matches (data-only RE2 regex, case-insensitive or not)', () => {
    const r = new Rng(4242);
    let pairs = 0;
    let hits = 0;
    let prefilteredHits = 0;
    const failures: string[] = [];
    let patterns = 0;
    while (patterns < 300) {
      const ctx: Ctx = { unicode: false, v: false, groups: [], names: [], quantifiers: 0 };
      const node = genAlt(r, ctx, 0);
      let c: CompiledPattern;
      const caseSensitive = r.chance(0.5);
      try {
        c = compilePattern({ regex: node.src, caseSensitive });
        c.test('');
      } catch {
        continue; // not RE2 (lookarounds, backreferences, …)
      }
      patterns++;
      const pf = new Prefilter([c]);
      for (const line of genLines(r, node.src, node.sample)) {
        pairs++;
        if (!c.test(line)) continue;
        hits++;
        if (pf.literals[0] !== null) prefilteredHits++;
        if (!pf.runs(line)[0] && failures.length < 10) failures.push(`${c.describe} literals ${JSON.stringify(pf.literals[0])} skipped ${JSON.stringify(line)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(hits / pairs).toBeGreaterThanOrEqual(0.1);
    expect(prefilteredHits).toBeGreaterThanOrEqual(100);
    console.log(`prefilter property (RE2): ${patterns} patterns, ${pairs} pairs, ${hits} matches (${((100 * hits) / pairs).toFixed(1)} %), ${prefilteredHits} on prefiltered patterns`);
  });
});

describe('prefilter regressions', () => {
  it('escapes it cannot read as one ASCII character end the literal run instead of joining it', () => {
    for (const src of ['\\x41BC', '\\u0041BC', '\\u{41}BC', '\\cJ', '\\cJBC', '(?<a>x)\\k<a>', '\\k<a>', '\\p{L}BC', '\\12BC']) {
      expect(requiredLiterals(src), src).toBeNull();
    }
    expect(requiredLiterals('\\x41bcd')).toEqual(['bcd']);
    expect(requiredLiterals('\\u0041bcd')).toEqual(['bcd']);
    expect(requiredLiterals('\\cJabc')).toEqual(['abc']);
    expect(requiredLiterals('(?<name>abc)\\k<name>')).toEqual(['abc']);
    expect(requiredLiterals('(abc)\\1\\12def')).toEqual(['abc']);
    expect(requiredLiterals('err\\.log\\/x')).toEqual(['err.log/x']);
    // Non-ASCII characters (whose case folding depends on the flags) end the run too.
    expect(requiredLiterals('caf\u00e9 au lait')).toEqual([' au lait']);
    expect(requiredLiterals('\u212aelvin')).toEqual(['elvin']);
    // Constructs delimited differently by JavaScript and RE2 (or by u and v): no requirement at all.
    expect(requiredLiterals('xyz[^]|abc]')).toBeNull();
    expect(requiredLiterals('xyz[]|abc]')).toBeNull();
    expect(requiredLiterals('[[a]b]xyz')).toBeNull();
    expect(requiredLiterals('a{b|cde')).toBeNull();
  });

  it('the engine runs each of these patterns on the line it matches', () => {
    const cases: Array<[Pattern, string]> = [
      [/\x41BC/, 'ABC'],
      [/\x41BC/, 'xABCx'],
      [/\u0041BC/, 'ABC'],
      [/\cJ/, 'a\nb'],
      [/\cJabc/, '\nabc'],
      [/(?<a>x)\k<a>/, 'xx'],
      [/(?<a>xyz)\k<a>/, 'xyzxyz'],
      [/kelvin/iu, '\u212aelvin'],
      [/KELVIN/iu, 'x\u212aELVIN'],
      [/\u017f/iu, 's'],
      [/sss/iu, '\u017f\u017f\u017f'],
      [/(?i:ask)/u, 'a\u017f\u212a'],
      [/\u212aelvin/, '\u212aelvin'],
      [{ regex: 'kelvin' }, '\u212aelvin'],
      [{ regex: 'status: ask' }, 'STATU\u017f: A\u017f\u212a'],
    ];
    for (const [p, line] of cases) {
      expect(compilePattern(p).test(line), `${String(p)} matches ${line}`).toBe(true);
      expect(runsOn(p, line), `${String(p)} runs on ${JSON.stringify(line)}`).toBe(true);
    }
    // The scanner reads KELVIN SIGN and LONG S as k and s, and still skips what has neither.
    expect(new LiteralScanner([['kelvin'], ['ask']]).groupsIn('\u212aELVIN a\u017fK')).toEqual([0, 1]);
    expect(runsOn(/kelvin/iu, 'celsius')).toBe(false);
  });
});
