/**
 * Required-literal analysis of a regular expression: a set of strings at least one of which
 * every match must contain (lower-cased). The engine ORs these into one small literal regex that
 * rejects most lines before any rule's full pattern runs — the full patterns of the default set
 * joined together cost ~10 µs a line, their literals ~1 µs.
 *
 * Sound, not complete: whenever the analysis is unsure it returns null ("no requirement"), and
 * the rule is then always tested. The source comes without its flags, as JavaScript (with or
 * without u/v, i, s, m) or as the RE2 subset pattern.ts lets through, so only what every one of
 * those dialects reads the same way feeds a literal:
 * - an ASCII character that is not syntax, or a backslash before ASCII punctuation: that character;
 * - groups (capturing, named, non-capturing, inline modifiers), alternation, and the quantifiers
 *   ? * + {n} {n,} {n,m} (lazy too), which make an atom optional, repeated or exactly once.
 * Everything else matches "some characters" and ends the literal run: classes, `.`, escapes
 * other than the above (\d \w \s \n …, \xHH, \uHHHH, \u{…}, \cX, \k<name>, \p{…}, backreferences
 * and octal escapes with all their digits), and every non-ASCII character (its case folding and
 * code points depend on the flags); anchors, \b \B and lookarounds end it too. What cannot be
 * delimited the same way in every dialect makes the whole answer null: a class that opens with
 * `]` or `^]` (empty or any-character in JavaScript, a literal `]` in RE2), a `[` inside a class
 * (a nested class under v), a quantifier with nothing to repeat, a `{` that is not a quantifier,
 * other `(?` forms, unbalanced parentheses.
 *
 * Case: literals are lower-cased ASCII, and LiteralScanner matches them ignoring ASCII case and
 * reading U+212A KELVIN SIGN as k and U+017F LONG S as s — the only non-ASCII characters that
 * case-insensitive matching folds onto ASCII (JavaScript with u or v, RE2), so a literal holds
 * with or without the i flag.
 */

type Req = string[] | null;

/**
 * Words so frequent in logs that a literal made only of them filters almost nothing (measured on the
 * Loghub sample: "connect" is on 9 % of lines, "failed" on 6 %). Choosing among requirements that are
 * all sound, the analysis prefers any other; soundness does not depend on this list.
 */
const COMMON_WORDS = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'can', 'cannot', 'could', 'for', 'from', 'in', 'is', 'it', 'not', 'of', 'on', 'or', 'the', 'to', 'was', 'with',
  'connect', 'connected', 'connecting', 'connection', 'connections', 'error', 'errors', 'fail', 'failed', 'failure', 'failing', 'unable', 'time', 'timeout', 'timed', 'out',
  'exception', 'server', 'client', 'request', 'response', 'status', 'service', 'message', 'info', 'warn', 'warning', 'debug', 'start', 'started', 'stop', 'stopped',
  'open', 'close', 'closed', 'read', 'write', 'get', 'set', 'new', 'user', 'node', 'data', 'file', 'process', 'thread', 'task', 'state', 'http', 'true', 'false', 'null',
]);

function selectivity(literal: string): number {
  const words = literal.split(/[^a-z0-9]+/).filter(Boolean);
  return words.length > 0 && words.every((w) => COMMON_WORDS.has(w)) ? Math.min(literal.length, 3) : literal.length;
}
type Atom = { literal: string } | { req: Req } | { zero: true } | { cls: true };
const MIN_LITERAL = 3;

const ZERO: Atom = { zero: true };
const CLS: Atom = { cls: true };

/** Thrown for a construct the analysis does not delimit with certainty; the answer is then null. */
class Unknown extends Error {}
const unknown = (): never => {
  throw new Unknown();
};

const HEX2 = /^[0-9a-fA-F]{2}/;
const HEX4 = /^[0-9a-fA-F]{4}/;
const BRACED_HEX = /^\{[0-9a-fA-F]+\}/;
const PROPERTY = /^\{[A-Za-z0-9_=]+\}/;
const GROUP_NAME = /^<(?:[\p{ID_Continue}$\u200c\u200d]|\\u[0-9a-fA-F]{4}|\\u\{[0-9a-fA-F]+\})+>/u;

class Parser {
  private i = 0;
  private readonly s: string;
  constructor(source: string) {
    this.s = source;
  }

  parse(): Req {
    const r = this.alt();
    if (this.i !== this.s.length) unknown();
    return r;
  }

  private alt(): Req {
    const branches: Req[] = [this.seq()];
    while (this.s[this.i] === '|') {
      this.i++;
      branches.push(this.seq());
    }
    if (branches.some((b) => b === null)) return null;
    return [...new Set(branches.flat() as string[])];
  }

  private seq(): Req {
    const candidates: string[][] = [];
    let run = '';
    const flush = () => {
      if (run.length >= MIN_LITERAL) candidates.push([run]);
      run = '';
    };
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      const atom = this.atom();
      const q = this.quantifier();
      if ('literal' in atom) {
        if (q === 'optional') flush();
        else {
          run += atom.literal;
          if (q === 'repeat') flush();
        }
      } else if ('req' in atom) {
        flush();
        if (q !== 'optional' && atom.req) candidates.push(atom.req);
      } else flush();
    }
    flush();
    if (candidates.length === 0) return null;
    // The best requirement is the most selective: the one whose weakest literal is longest, where
    // a literal made only of words found on most log lines ("connect to", "failed") counts as short.
    let best = candidates[0]!;
    const score = (c: string[]) => Math.min(...c.map(selectivity)) - c.length * 0.01;
    for (const c of candidates) if (score(c) > score(best)) best = c;
    return best;
  }

  private atom(): Atom {
    const c = this.s[this.i]!;
    if (c === '\\') return this.escape();
    if (c === '[') {
      this.skipClass();
      return CLS;
    }
    if (c === '(') return this.group();
    if (c === '.') {
      this.i++;
      return CLS;
    }
    if (c === '^' || c === '$') {
      this.i++;
      return ZERO;
    }
    // A quantifier with nothing before it, or a brace that is no quantifier (a literal outside u/v).
    if ('*+?{'.includes(c)) unknown();
    this.i++;
    // ASCII stands for itself (a lone ] or } too: outside u/v; under them the source would not compile).
    return c.charCodeAt(0) < 0x80 ? { literal: c.toLowerCase() } : CLS;
  }

  private escape(): Atom {
    const n = this.s[this.i + 1];
    if (n === undefined) unknown();
    this.i += 2;
    if (n === 'b' || n === 'B') return ZERO;
    // \ before ASCII punctuation (or space, control) is that character in every dialect.
    if (n!.charCodeAt(0) < 0x80 && !/[A-Za-z0-9]/.test(n!)) return { literal: n!.toLowerCase() };
    const rest = this.s.slice(this.i);
    let m: RegExpExecArray | null = null;
    switch (n) {
      case 'x':
        m = HEX2.exec(rest);
        break;
      case 'u':
        m = HEX4.exec(rest) ?? BRACED_HEX.exec(rest);
        break;
      case 'c':
        m = /^[A-Za-z]/.exec(rest);
        break;
      case 'k':
        m = GROUP_NAME.exec(rest);
        break;
      case 'p':
      case 'P':
        m = PROPERTY.exec(rest);
        break;
      default:
        // A backreference or an octal escape: all its digits belong to it.
        if (/[0-9]/.test(n!)) m = /^[0-9]*/.exec(rest);
    }
    if (m) this.i += m[0].length;
    // Whatever it stands for (a class, a code point, a control character, a backreference, an
    // identity escape outside u/v), it is not known to be one ASCII character in every dialect.
    return CLS;
  }

  private group(): Atom {
    this.i++;
    let lookaround = false;
    if (this.s[this.i] === '?') {
      const rest = this.s.slice(this.i);
      let m: RegExpExecArray | null;
      if (rest.startsWith('?:')) this.i += 2;
      else if ((m = /^\?<?[=!]/.exec(rest))) {
        this.i += m[0].length;
        lookaround = true;
      } else if ((m = GROUP_NAME.exec(rest.slice(1)))) this.i += 1 + m[0].length;
      else if ((m = /^\?[ims]*(?:-[ims]*)?:/.exec(rest))) this.i += m[0].length; // (?i:…) (?-i:…)
      else unknown();
    }
    const inner = this.alt();
    if (this.s[this.i] !== ')') unknown();
    this.i++;
    return lookaround ? ZERO : { req: inner };
  }

  /** none: exactly once; repeat: at least once (run cannot continue across it); optional: may be absent. */
  private quantifier(): 'none' | 'repeat' | 'optional' {
    const c = this.s[this.i];
    let kind: 'none' | 'repeat' | 'optional' = 'none';
    if (c === '?' || c === '*') {
      this.i++;
      kind = 'optional';
    } else if (c === '+') {
      this.i++;
      kind = 'repeat';
    } else if (c === '{') {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(this.s.slice(this.i));
      if (m) {
        this.i += m[0].length;
        const min = m[1] === '' ? 0 : Number(m[1]);
        kind = min === 0 ? 'optional' : min === 1 && m[2] === '' ? 'none' : 'repeat';
      }
    }
    if (kind !== 'none' && this.s[this.i] === '?') this.i++; // lazy
    return kind;
  }

  private skipClass(): void {
    this.i++;
    if (this.s[this.i] === '^') this.i++;
    if (this.s[this.i] === ']') unknown();
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined || c === '[') unknown();
      if (c === ']') break;
      this.i += c === '\\' ? 2 : 1;
    }
    this.i++;
  }
}

/** Lower-cased literals, one of which every match of `source` contains; null when unknown. */
export function requiredLiterals(source: string): string[] | null {
  try {
    const r = new Parser(source).parse();
    return r && r.every((l) => l.length >= MIN_LITERAL && /^[\x00-\x7f]+$/.test(l)) ? r : null;
  } catch {
    return null;
  }
}
