/**
 * Turns a message into the token "shapes" the miner groups on. A shape keeps the words of a
 * token and replaces its variable parts by `<*>`, by token type rather than by per-system regex:
 *   - any alphanumeric run that contains a digit (numbers, hex, ids, IPs, UUIDs, timestamps,
 *     versions, `blk_-123`, `0x7fe`, `3200ms`): `<*>`, with `<*>.<*>` runs folded (IPs, floats);
 *   - the value of `key=value` (`uid=0,` -> `uid=<*>,`, `tag="View Lock"` -> `tag="<*>"`);
 *   - consecutive all-variable tokens fold into one, so variable-length lists of numbers or
 *     addresses (`@0x7fe @0x7ff …`) do not change the token count.
 * Words stay as they are: Loghub-style templates keep words, and merging word positions that turn
 * out to vary is the miner's job (it has the evidence, the tokenizer does not).
 * Long lines cost bounded time: only the first `maxChars` characters and `maxTokens` tokens count.
 */
export const WILDCARD = '<*>';

export interface TokenizerLimits {
  maxChars: number;
  maxTokens: number;
}

export interface ExtraMask {
  pattern: string;
  name?: string;
}

export interface Tokenized {
  shapes: string[];
  /** The raw text each shape came from (a folded run of variable tokens keeps the first). */
  raws: string[];
  /** True when the message went past a limit; the miner then ends the template with `<*>`. */
  truncated: boolean;
}

const enum_ = {
  space: 0,
  alpha: 1,
  digit: 2,
  other: 3,
} as const;

// Character classes for the first 128 code points; everything above is treated as a letter so
// non-Latin words and U+FFFD replacement characters stay word characters.
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (c <= 32 || c === 127) CLASS[c] = enum_.space;
  else if (c >= 48 && c <= 57) CLASS[c] = enum_.digit;
  else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) CLASS[c] = enum_.alpha;
  else CLASS[c] = enum_.other;
}
const cls = (c: number): number => (c < 128 ? CLASS[c]! : enum_.alpha);

const EQ = 61; // =
const QUOTE = 34; // "
const DOT = 46; // .
const MINUS = 45; // -
const PLUS = 43; // +

/** Compiled extra masks from configuration: applied to each whitespace token before typing. */
export class ExtraMasks {
  private readonly res: RegExp[];
  private readonly names: string[];
  constructor(masks: readonly ExtraMask[] = []) {
    this.res = masks.map((m) => new RegExp(m.pattern, 'g'));
    this.names = masks.map((m) => (m.name ? `<${m.name}>` : WILDCARD));
  }
  get size(): number {
    return this.res.length;
  }
  /** Masked text of a token, or null when no extra mask matched (the common case). */
  apply(token: string): string | null {
    let out = token;
    let hit = false;
    for (let i = 0; i < this.res.length; i++) {
      const re = this.res[i]!;
      re.lastIndex = 0;
      if (re.test(out)) {
        re.lastIndex = 0;
        out = out.replace(re, this.names[i]!);
        hit = true;
      }
    }
    return hit ? out : null;
  }
}

// Units glued to the number before them, so `5.2 KB` and `93.0 B` share a shape.
const UNITS = new Set(['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'KiB', 'MiB', 'GiB', 'TiB', 'kB', 'ms', 'us', 'µs', 'ns']);
// Date words count as variables next to numbers: `Fri Jun 17 07:07:00 2005` is one timestamp.
const DATE_WORDS = new Set(
  'Jan Feb Mar Apr May Jun Jul Aug Sep Sept Oct Nov Dec January February March April June July August September October November December Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday'.split(
    ' ',
  ),
);

export function tokenize(content: string, limits: TokenizerLimits, extra?: ExtraMasks): Tokenized {
  const shapes: string[] = [];
  const raws: string[] = [];
  const end = content.length < limits.maxChars ? content.length : limits.maxChars;
  let truncated = end < content.length;
  let dateWords = false;
  let i = 0;
  while (i < end) {
    while (i < end && cls(content.charCodeAt(i)) === enum_.space) i++;
    if (i >= end) break;
    if (shapes.length >= limits.maxTokens) {
      truncated = true;
      break;
    }
    const start = i;
    let digits = false;
    let eqAt = -1;
    let slashes = 0;
    while (i < end) {
      const c = content.charCodeAt(i);
      const k = cls(c);
      if (k === enum_.space) break;
      if (k === enum_.digit) digits = true;
      else if (c === SLASH || c === BACKSLASH) slashes++;
      else if (c === EQ && eqAt < 0) eqAt = i;
      else if (c === QUOTE && i > start && content.charCodeAt(i - 1) === EQ) {
        // key="quoted value with spaces" is one token whose value is variable.
        const close = content.indexOf('"', i + 1);
        if (close > 0 && close < end) i = close;
      }
      i++;
    }
    const raw = content.slice(start, i);
    let shape: string;
    const masked = extra && extra.size > 0 ? extra.apply(raw) : null;
    if (masked !== null) shape = masked;
    else if (eqAt > start && eqAt < i - 1 && isKey(content, start, eqAt)) shape = kvShape(raw, eqAt - start);
    else if (slashes >= 2 && isPath(raw)) shape = pathShape(raw);
    else if (digits) shape = digitShape(raw);
    else {
      shape = raw;
      const last = shapes.length - 1;
      if (last >= 0 && shapes[last] === WILDCARD) {
        // `<*> KB,` -> `<*>,`
        let u = raw.length;
        while (u > 1 && TRAILING.includes(raw[u - 1]!)) u--;
        if (UNITS.has(u === raw.length ? raw : raw.slice(0, u))) {
          shapes[last] = WILDCARD + raw.slice(u);
          continue;
        }
      }
      if (!dateWords && DATE_WORDS.has(raw)) dateWords = true;
    }
    if (shape === WILDCARD && shapes.length > 0 && shapes[shapes.length - 1] === WILDCARD) continue;
    shapes.push(shape);
    raws.push(raw);
  }
  if (dateWords) foldDates(shapes, raws);
  return { shapes, raws, truncated };
}

const SLASH = 47;
const TRAILING = ',;:)]}.';
const BACKSLASH = 92;
const COLON = 58;

/** Only digits/wildcards and date punctuation: `<*>`, `<*>:<*>:<*>`, `<*>,`. */
function isTimeLike(shape: string | undefined): boolean {
  if (shape === undefined || !shape.includes(WILDCARD)) return false;
  const rest = shape.replaceAll(WILDCARD, '');
  for (let j = 0; j < rest.length; j++) {
    const c = rest.charCodeAt(j);
    if (c !== COLON && c !== DOT && c !== 44 && c !== MINUS && c !== SLASH && c !== PLUS) return false;
  }
  return true;
}

function foldDates(shapes: string[], raws: string[]): void {
  let w = 0;
  for (let r = 0; r < shapes.length; r++) {
    let s = shapes[r]!;
    if (DATE_WORDS.has(s) && (isTimeLike(shapes[r - 1]) || isTimeLike(shapes[r + 1]) || DATE_WORDS.has(shapes[r + 1] ?? ''))) {
      s = WILDCARD;
    }
    if (isTimeLike(s) && w > 0 && isTimeLike(shapes[w - 1]) && (s === WILDCARD || shapes[w - 1] === WILDCARD)) {
      // A timestamp spread over several tokens folds into one variable.
      if (shapes[w - 1] !== WILDCARD && DATE_WORDS.has(raws[r] ?? '')) shapes[w - 1] = WILDCARD;
      if (s === WILDCARD || DATE_WORDS.has(raws[w - 1] ?? '')) {
        shapes[w - 1] = WILDCARD;
        continue;
      }
    }
    shapes[w] = s;
    raws[w] = raws[r]!;
    w++;
  }
  shapes.length = w;
  raws.length = w;
}

function isPath(raw: string): boolean {
  let a = 0;
  let b = raw.length;
  while (a < b && OPENERS.includes(raw[a]!)) a++;
  while (b > a && CLOSERS.includes(raw[b - 1]!)) b--;
  const c0 = raw.charCodeAt(a);
  if (c0 === SLASH) return raw.indexOf('/', a + 1) > 0 && raw.indexOf('/', a + 1) < b - 1;
  if (raw.includes('://', a)) return true;
  if (b - a > 3 && cls(c0) === enum_.alpha && raw.charCodeAt(a + 1) === COLON && raw.charCodeAt(a + 2) === BACKSLASH) return true;
  return false;
}

const OPENERS = `([{'"<`;
const CLOSERS = `)]}'",;:.>`;

/** `'/udev/sda'` -> `'<*>'`: the path is the variable, its quoting and brackets are not. */
function pathShape(raw: string): string {
  let a = 0;
  let b = raw.length;
  while (a < b && OPENERS.includes(raw[a]!)) a++;
  while (b > a && CLOSERS.includes(raw[b - 1]!)) b--;
  return raw.slice(0, a) + WILDCARD + raw.slice(b);
}

function isKey(s: string, start: number, eq: number): boolean {
  const c0 = s.charCodeAt(start);
  if (cls(c0) !== enum_.alpha && c0 !== 95) return false;
  for (let j = start + 1; j < eq; j++) {
    const c = s.charCodeAt(j);
    const k = cls(c);
    if (k !== enum_.alpha && k !== enum_.digit && c !== 95 && c !== DOT && c !== MINUS) return false;
  }
  return true;
}

// Trailing separators after a value stay, and so does a closing bracket the value did not open,
// so `uid=0,` and `(uid=0)` keep their shape while `ws=WorkSource{1}` masks as a whole.
function kvShape(raw: string, eq: number): string {
  let tail = raw.length;
  while (tail > eq + 1) {
    const ch = raw[tail - 1]!;
    if (ch === ',' || ch === ';') tail--;
    else if ((ch === ')' || ch === ']' || ch === '}') && !raw.includes(OPEN_OF[ch]!, eq + 1)) tail--;
    else break;
  }
  if (tail === eq + 1) return raw;
  const value = raw.slice(eq + 1, tail);
  // Booleans are enum constants (`force=false` and `force=true` are different events in practice).
  if (BOOLEANS.has(value)) return raw;
  const quoted = value.length >= 2 && value.charCodeAt(0) === QUOTE && value.charCodeAt(value.length - 1) === QUOTE;
  return raw.slice(0, eq + 1) + (quoted ? '"<*>"' : WILDCARD) + raw.slice(tail);
}
const BOOLEANS = new Set(['true', 'false', 'TRUE', 'FALSE', 'True', 'False']);
const OPEN_OF: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

const isWordChar = (k: number, c: number): boolean => k === enum_.alpha || k === enum_.digit || c === 95 || c === MINUS || c === DOT;

/**
 * Identifier-level masking: a run of letters/digits joined by `_`, `-` or `.` that contains a
 * digit is one variable (`blk_-12`, `attempt_1445_0020_m_000001_0`, `10.1.2.3`, `v6.1`, `3200ms`);
 * other punctuation (`/ : = ( ) [ ] @ ,`) is structure and stays.
 */
export function digitShape(raw: string): string {
  let out = '';
  let j = 0;
  const n = raw.length;
  while (j < n) {
    const c = raw.charCodeAt(j);
    const k = cls(c);
    if (isWordChar(k, c)) {
      let d = k === enum_.digit;
      let e = j + 1;
      while (e < n) {
        const ce = raw.charCodeAt(e);
        const ke = cls(ce);
        if (ke === enum_.digit) d = true;
        else if (!isWordChar(ke, ce)) break;
        // `instruction......0`: a run of dots is a separator, not part of an identifier.
        else if (ce === DOT && e + 1 < n && raw.charCodeAt(e + 1) === DOT) break;
        e++;
      }
      if (d) {
        // Keep separators that end the run (`10.1.2.3.` at a sentence end, `x_`), but not inside it.
        let t = e;
        while (t > j && (raw.charCodeAt(t - 1) === DOT || raw.charCodeAt(t - 1) === MINUS || raw.charCodeAt(t - 1) === 95)) t--;
        out += WILDCARD + raw.slice(t, e);
      } else out += raw.slice(j, e);
      j = e;
    } else {
      // A sign directly before digits belongs to the number (`(-1)`, `+3`).
      if (c === PLUS && j + 1 < n && cls(raw.charCodeAt(j + 1)) === enum_.digit) {
        j++;
        continue;
      }
      out += raw[j];
      j++;
    }
  }
  return out;
}
