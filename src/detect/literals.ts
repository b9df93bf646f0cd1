/**
 * Required-literal analysis of a regular expression: a set of strings at least one of which
 * every match must contain (lower-cased). The engine ORs these into one small literal regex that
 * rejects most lines before any rule's full pattern runs — the full patterns of the default set
 * joined together cost ~10 µs a line, their literals ~1 µs.
 *
 * Sound, not complete: whenever the analysis is unsure it returns null ("no requirement"), and
 * the rule is then always tested.
 */

type Req = string[] | null;
const MIN_LITERAL = 3;

class Parser {
  private i = 0;
  private readonly s: string;
  constructor(source: string) {
    this.s = source;
  }

  parse(): Req {
    const r = this.alt();
    return this.i === this.s.length ? r : null;
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
      const c = this.s[this.i]!;
      let atom: { literal: string } | { req: Req } | { zero: true } | { cls: true };
      if (c === '\\') {
        const n = this.s[this.i + 1];
        if (n === undefined) return null;
        this.i += 2;
        if (/[bB]/.test(n)) atom = { zero: true };
        else if (/[dDwWsSnrtfv0-9kpPuxc]/.test(n)) {
          // \p{..}, \u{..}, \xHH, backreferences: treat as "some character(s)".
          if ((n === 'p' || n === 'P' || n === 'u') && this.s[this.i] === '{') this.i = this.s.indexOf('}', this.i) + 1 || this.s.length;
          atom = { cls: true };
        } else atom = { literal: n.toLowerCase() };
      } else if (c === '[') {
        this.skipClass();
        atom = { cls: true };
      } else if (c === '(') {
        this.i++;
        let lookaround = false;
        if (this.s[this.i] === '?') {
          const rest = this.s.slice(this.i, this.i + 4);
          if (rest.startsWith('?:')) this.i += 2;
          else if (rest.startsWith('?=') || rest.startsWith('?!')) (this.i += 2), (lookaround = true);
          else if (rest.startsWith('?<=') || rest.startsWith('?<!')) (this.i += 3), (lookaround = true);
          else if (rest.startsWith('?<')) this.i = this.s.indexOf('>', this.i) + 1;
          else {
            // Inline modifiers (?i:…) (?-i:…)
            const m = /^\?[a-z]*-?[a-z]*:/.exec(this.s.slice(this.i));
            if (!m) return null;
            this.i += m[0].length;
          }
        }
        const inner = this.alt();
        if (this.s[this.i] !== ')') return null;
        this.i++;
        atom = lookaround ? { zero: true } : { req: inner };
      } else if (c === '.' || c === '^' || c === '$') {
        this.i++;
        atom = c === '.' ? { cls: true } : { zero: true };
      } else if ('*+?{'.includes(c)) {
        return null; // quantifier with nothing before it: not a pattern we understand
      } else {
        this.i++;
        atom = { literal: c.toLowerCase() };
      }
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
    // The best requirement is the one whose shortest literal is longest (most selective).
    let best = candidates[0]!;
    const score = (c: string[]) => Math.min(...c.map((x) => x.length)) - c.length * 0.01;
    for (const c of candidates) if (score(c) > score(best)) best = c;
    return best;
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
    if (this.s[this.i] === ']') this.i++;
    while (this.i < this.s.length && this.s[this.i] !== ']') this.i += this.s[this.i] === '\\' ? 2 : 1;
    this.i++;
  }
}

/** Lower-cased literals, one of which every match of `source` contains; null when unknown. */
export function requiredLiterals(source: string): string[] | null {
  try {
    const r = new Parser(source).parse();
    return r && r.every((l) => l.length >= MIN_LITERAL) ? r : null;
  } catch {
    return null;
  }
}
