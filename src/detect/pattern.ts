import { RE2JS } from 're2js';
import type { Pattern } from './types.ts';

/** A compiled pattern: test() plus a literal (if any) usable in a LogQL line filter. */
export interface CompiledPattern {
  test(text: string): boolean;
  /** A literal every match contains (for LogQL `|=`), when one is known. */
  literal?: string;
  /**
   * Regex source (JavaScript syntax) for the engine's required-literal analysis (literals.ts), so
   * the pattern runs only on lines holding one of its literals; absent: tested on every line.
   */
  prefilter?: string;
  /** The matched text (for a LogQL filter taken from a real line); not on the hot path. */
  exec?(text: string): string | undefined;
  describe: string;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Longest run of plain characters in a regex source: a cheap, sound LogQL hint when unambiguous. */
function literalOf(source: string): string | undefined {
  if (/[|]/.test(source)) return undefined; // alternation: no single required literal
  const runs = source.split(/\\.|[.*+?^${}()[\]\\]/);
  let best = '';
  for (const r of runs) if (r.length > best.length) best = r;
  return best.length >= 4 ? best : undefined;
}

export function compilePattern(p: Pattern): CompiledPattern {
  if (typeof p === 'string') return compileContains(p, false);
  if (p instanceof RegExp) {
    const re = new RegExp(p.source, p.flags.replace(/[gy]/g, ''));
    const lit = p.flags.includes('i') ? undefined : literalOf(p.source);
    return {
      test: (t) => re.test(t),
      exec: (t) => re.exec(t)?.[0],
      ...(lit ? { literal: lit } : {}),
      prefilter: p.flags.includes('i') ? p.source : `(?-i:${p.source})`,
      describe: String(p),
    };
  }
  if ('contains' in p) return compileContains(p.contains, p.caseSensitive ?? false);
  // Data-only regex: RE2 semantics, linear time whatever the pattern, so no rule can stall the stream.
  const re2 = RE2JS.compile(p.regex, p.caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE);
  return {
    test: (t) => re2.matcher(t).find(),
    // re2js is a JavaScript interpreter of RE2, several times slower than V8's regexes: the literal
    // prefilter matters most here. The literal analysis reads JavaScript syntax, which RE2 shares
    // except for a few constructs; a source using any of them is simply not prefiltered.
    ...(re2SharesJsSyntax(p.regex) ? { prefilter: p.regex } : {}),
    describe: `re2:/${p.regex}/${p.caseSensitive ? '' : 'i'}`,
  };
}

// RE2 constructs that read differently as JavaScript: \Q…\E quoting, \A \z \C, one-letter \pL
// classes and any other letter escape outside the common ones, and POSIX classes like [[:alpha:]]
// (anywhere in a bracket expression, so any `[:` is refused).
const RE2_ONLY = /\\[^.\\\-/dDwWsSbBnrtf()[\]{}|*+?^$:'"=<>!,#&%@~`;]|\[:/;

/** True when the RE2 source has no construct that JavaScript reads differently (see RE2_ONLY). */
export function re2SharesJsSyntax(source: string): boolean {
  return !RE2_ONLY.test(source);
}

function compileContains(s: string, caseSensitive: boolean): CompiledPattern {
  if (caseSensitive) {
    return { test: (t) => t.includes(s), literal: s, prefilter: `(?-i:${escapeRe(s)})`, describe: JSON.stringify(s) };
  }
  const re = new RegExp(escapeRe(s), 'i');
  return { test: (t) => re.test(t), exec: (t) => re.exec(t)?.[0], prefilter: escapeRe(s), describe: `${JSON.stringify(s)}i` };
}

/** Validate a data-only regex: compiles under RE2 (no backreferences, no lookaround). Returns an error text or null. */
export function checkRe2(source: string): string | null {
  try {
    RE2JS.compile(source);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

export function compileAny(patterns: Pattern | Pattern[] | undefined): CompiledPattern[] {
  if (patterns === undefined) return [];
  return (Array.isArray(patterns) ? patterns : [patterns]).map(compilePattern);
}

export function testAny(ps: readonly CompiledPattern[], text: string): boolean {
  for (const p of ps) if (p.test(text)) return true;
  return false;
}
