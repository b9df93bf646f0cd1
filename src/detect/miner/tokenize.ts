import { RE2JS } from 're2js';

/**
 * Token typing for the miner, at two levels of detail.
 *
 * Fine tokens are what a person reads in a template, Loghub style: numbers become `<*>` but the
 * structure around them stays (`blk_<*>`, `/<*>:<*>`, `<*>ms`, `attempt_<*>`, `uid=<*>,`).
 * Coarse tokens are what the miner groups on (`coarseOf`): a whole identifier that contains a
 * number is one variable (`attempt_<*>`, `broadcast_<*>`, `rdd_<*>` are all `<*>`), because the
 * same slot often holds ids of different shapes.
 *
 * Masking is by token type, not per-system regex:
 *   - identifiers/numbers with a digit: hex, ids, IPs, UUIDs, versions, `blk_-123`, `3200ms`;
 *   - paths and URLs (`/a/b/c`, `C:\x\y`, `scheme://…`);
 *   - the value of `key=value` (`tag="View Lock"` → `tag="<*>"`), booleans excepted;
 *   - timestamps spread over tokens (`Fri Jun 17 07:07:00 2005`) and units after a number
 *     (`5.2 KB`), which fold into one variable token;
 *   - consecutive variable tokens fold into one, and so do lists of variables, optional quantity
 *     groups and the variable tail of a quoted span (see `foldScanned`), so the token
 *     count of an event does not depend on its values.
 * Words stay: whether a word position is a variable is decided by the miner from evidence.
 * Long lines cost bounded time: only the first `maxChars` characters and `maxTokens` tokens count.
 */
export const WILDCARD = '<*>';

export interface TokenizerLimits {
  maxChars: number;
  maxTokens: number;
}

export interface ExtraMask {
  /** RE2 syntax (linear-time matching), applied to each whitespace-separated token. */
  pattern: string;
  /** Shown as `<name>` in templates; `<*>` when absent. */
  name?: string;
}

/** How a fine token maps to its coarse (grouping) form. */
export const KIND = {
  /** Words, masked key=value, paths: the fine token is also the coarse token. */
  word: 0,
  /** Entirely variable (a number, an id, a folded run): coarse `<*>`. */
  variable: 1,
  /** Mixed, e.g. `(uid=<*>)`, `/<*>:<*>`: coarse is computed by `coarseOf`. */
  mixed: 2,
  /** `key=value`: the display keeps a word value (`user=root`), grouping masks it. */
  kv: 3,
  /** A word with an optional group joined to it (`bytes (<*> KB)`): grouping keeps the word only. */
  annotated: 4,
} as const;

export interface Tokenized {
  fine: string[];
  kinds: number[];
  /** True when the message went past a limit; the miner then ends the template with `<*>`. */
  truncated: boolean;
}

const C_SPACE = 0;
const C_ALPHA = 1;
const C_DIGIT = 2;
const C_OTHER = 3;

// Character classes for the first 128 code points; everything above is treated as a letter so
// non-Latin words and U+FFFD replacement characters stay word characters.
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (c <= 32 || c === 127) CLASS[c] = C_SPACE;
  else if (c >= 48 && c <= 57) CLASS[c] = C_DIGIT;
  else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) CLASS[c] = C_ALPHA;
  else CLASS[c] = C_OTHER;
}
const cls = (c: number): number => (c < 128 ? CLASS[c]! : C_ALPHA);

const EQ = 61;
const QUOTE = 34;
const DOT = 46;
const MINUS = 45;
const PLUS = 43;
const UNDERSCORE = 95;
const COLON = 58;
const SLASH = 47;
const BACKSLASH = 92;
const LT = 60;
const COMMA = 44;
const SEMICOLON = 59;
const OPEN_PAREN = 40;
const OPEN_BRACKET = 91;

/** Compiled extra masks from configuration (RE2: no pattern can stall the stream). */
export class ExtraMasks {
  private readonly res: ReturnType<typeof RE2JS.compile>[];
  private readonly names: string[];
  constructor(masks: readonly ExtraMask[] = []) {
    this.res = masks.map((m) => RE2JS.compile(m.pattern));
    this.names = masks.map((m) => (m.name ? `<${m.name.replace(/[\s<>$\\]/g, '_')}>` : WILDCARD));
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
      if (re.test(out)) {
        out = re.matcher(out).replaceAll(this.names[i]!);
        hit = true;
      }
    }
    return hit ? out : null;
  }
}

// Units glued to the number before them, so `5.2 KB` and `93.0 B` are one variable token.
const UNITS = new Set(['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'KiB', 'MiB', 'GiB', 'TiB', 'kB', 'ms', 'us', 'µs', 'ns', 's', 'sec', 'secs']);
const UNIT_TRAILING = ',;:)]}.';
// Date words are variables next to numbers: `Fri Jun 17 07:07:00 2005` is one timestamp.
const DATE_WORDS = new Set(
  'Jan Feb Mar Apr May Jun Jul Aug Sep Sept Oct Nov Dec January February March April June July August September October November December Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday'.split(
    ' ',
  ),
);
const BOOLEANS = new Set(['true', 'false', 'TRUE', 'FALSE', 'True', 'False']);

// Scratch output of `scan`: reused inside one synchronous call (no allocation on the hot path) and
// read only by the call that ran the scan. No exported function reads what an earlier call left; a
// result that outlives the call (the second hash lane) is kept on the caller's LineScanner.
const TOK: string[] = [];
const KINDS: number[] = [];
let scanned = 0;
let scanTruncated = false;
let scanDates = false;
// Hash-mode output: two 32-bit lanes over the (kind, fine token) sequence.
let lineH1 = 0;
let lineH2 = 0;

// Two FNV-1a style lanes with different multipliers, finalised with murmur3's fmix32. A token's
// lanes are a function of its characters only, so a word hashed in the scan loop and the same text
// hashed from a string agree.
const P1 = 0x01000193;
const P2 = 0x5bd1e995;
const S1 = 0x811c9dc5 | 0;
const S2 = 0x2f6b0e3d;
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
let tokH1 = 0;
let tokH2 = 0;
function hashString(t: string): void {
  let a = S1;
  let b = S2;
  for (let j = 0; j < t.length; j++) {
    const c = t.charCodeAt(j);
    a = Math.imul(a ^ c, P1);
    b = Math.imul(b ^ c, P2);
  }
  tokH1 = a;
  tokH2 = b;
}
/** Folds one token (its kind and lanes) into the line lanes. */
function mixToken(kind: number, a: number, b: number): void {
  lineH1 = Math.imul(((lineH1 << 13) | (lineH1 >>> 19)) ^ fmix(a ^ kind), P1);
  lineH2 = Math.imul(((lineH2 << 11) | (lineH2 >>> 21)) ^ fmix(b + kind), P2);
}
hashString(WILDCARD);
const WILD_H1 = tokH1;
const WILD_H2 = tokH2;

/**
 * One pass over the message: the fine token and kind of every whitespace-separated token, before
 * any folding. With `hashOnly` nothing is stored: the tokens are hashed into `lineH1/lineH2`
 * instead, and a plain word is hashed while it is scanned, without a substring — the miner's hot
 * path, where almost every line is a repeat of a known signature.
 */
function scan(content: string, limits: TokenizerLimits, extra: ExtraMasks | undefined, hashOnly: boolean): void {
  const end = content.length < limits.maxChars ? content.length : limits.maxChars;
  const hasExtra = extra !== undefined && extra.size > 0;
  let n = 0;
  scanTruncated = end < content.length;
  scanDates = false;
  lineH1 = S1;
  lineH2 = S2;
  let i = 0;
  while (i < end) {
    while (i < end && cls(content.charCodeAt(i)) === C_SPACE) i++;
    if (i >= end) break;
    if (n >= limits.maxTokens) {
      scanTruncated = true;
      break;
    }
    const start = i;
    let digits = false;
    let identifier = true; // only [A-Za-z0-9_.:-] (after an optional sign): one variable if it has a digit
    let eqAt = -1;
    let slashes = 0;
    let number = true; // digits and dots only (after an optional sign): the display is just `<*>`
    let skipped = false; // a quoted value was jumped over: the lanes below miss its characters
    let a = S1;
    let b = S2;
    while (i < end) {
      const c = content.charCodeAt(i);
      const k = c < 128 ? CLASS[c]! : C_ALPHA;
      if (k === C_SPACE) break;
      a = Math.imul(a ^ c, P1);
      b = Math.imul(b ^ c, P2);
      if (k === C_DIGIT) digits = true;
      else if (k === C_ALPHA) number = false;
      else {
        if (c !== DOT && !(i === start && (c === MINUS || c === PLUS))) number = false;
        if (c === SLASH || c === BACKSLASH) slashes++;
        else if (c === EQ && eqAt < 0) eqAt = i;
        else if (c === QUOTE && i > start && content.charCodeAt(i - 1) === EQ && !isEventKey(content, start, i - 1)) {
          // key="quoted value with spaces" is one token whose value is variable.
          const close = content.indexOf('"', i + 1);
          if (close > 0 && close < end) {
            i = close;
            skipped = true;
          }
        }
        if (identifier && !isJoiner(c) && !(i === start && (c === MINUS || c === PLUS || c === LT))) identifier = false;
        else if (c === DOT && i + 1 < end && content.charCodeAt(i + 1) === DOT) identifier = false;
      }
      i++;
    }
    // Plain numbers are the commonest variable: no substring, no shaping.
    if (number && digits && eqAt < 0 && slashes === 0 && content.charCodeAt(i - 1) !== DOT && content.charCodeAt(start) !== DOT && !hasExtra) {
      if (hashOnly) mixToken(KIND.variable, WILD_H1, WILD_H2);
      else {
        TOK[n] = WILDCARD;
        KINDS[n] = KIND.variable;
      }
      n++;
      continue;
    }
    let tok: string | null = null; // null: the plain word content[start, i), hashed in the loop above
    let kind: number = KIND.word;
    const masked = hasExtra ? extra.apply(content.slice(start, i)) : null;
    if (masked !== null) tok = masked;
    else if (eqAt > start && eqAt < i - 1 && isKey(content, start, eqAt) && !isEventKey(content, start, eqAt)) {
      const raw = content.slice(start, i);
      const v = kvShape(raw, eqAt - start);
      if (v === raw) tok = raw;
      else {
        tok = digits ? fineShape(raw) : raw;
        if (tok.charCodeAt(eqAt - start + 1) === QUOTE) tok = v;
        kind = KIND.kv;
      }
    } else if (slashes >= 2 && isPath(content.slice(start, i))) tok = pathShape(content.slice(start, i));
    else if (digits && !(identifier && isNameToken(content, start, i))) {
      // (also `msg=…` / `level=…` values, which are words of the event, not key=value variables)
      kind = identifier ? KIND.variable : KIND.mixed;
      if (number && content.charCodeAt(i - 1) !== DOT && content.charCodeAt(start) !== DOT) tok = WILDCARD;
      else if (!hashOnly) tok = fineShape(content.slice(start, i));
      else {
        hashFineShape(content, start, i);
        mixToken(kind, tokH1, tokH2);
        n++;
        continue;
      }
    } else if (!hashOnly || skipped) {
      tok = content.slice(start, i);
      if (!hashOnly && !scanDates && DATE_WORDS.has(tok)) scanDates = true;
    }
    if (hashOnly) {
      if (tok !== null) {
        hashString(tok);
        a = tokH1;
        b = tokH2;
      }
      mixToken(kind, a, b);
    } else {
      TOK[n] = tok!;
      KINDS[n] = kind;
    }
    n++;
  }
  scanned = n;
}

// Kind markers in signatures: control characters never survive tokenizing, so keys cannot collide.
const PIECES: string[] = [];
const MARK = ['\u0001', '\u0002', '\u0003', '\u0004'];

/**
 * Exact-signature key of a message: its fine tokens and kinds before folding. Folding is a pure
 * function of that sequence, so equal signatures always give equal tokens.
 */
export function signature(content: string, limits: TokenizerLimits, extra?: ExtraMasks): string {
  scan(content, limits, extra, false);
  // One join gives a flat string directly; `+=` would build a rope the Map lookup must flatten.
  PIECES.length = 0;
  if (scanTruncated) PIECES.push('\u0005');
  for (let j = 0; j < scanned; j++) PIECES.push(MARK[KINDS[j]!]!, TOK[j]!);
  return PIECES.join('');
}

/**
 * A miner's tokenizer: its limits and masks, and the second hash lane of its last `hash()`.
 * One per miner, so two miners never read each other's results.
 */
export class LineScanner {
  /** Second 32-bit lane of the last `hash()`: with the returned first lane, the 62-bit key. */
  h2 = 0;
  readonly limits: TokenizerLimits;
  readonly extra: ExtraMasks | undefined;
  constructor(limits: TokenizerLimits, extra?: ExtraMasks) {
    this.limits = limits;
    this.extra = extra;
  }

  /**
   * The signature as a 62-bit hash, without building it: returns the first lane (30 bits, a small
   * integer, so a Map lookup does not allocate) and keeps the second in `h2`. Equal signatures give
   * equal hashes; different ones collide with probability ~2^-62 per pair. Tokens are not kept: call
   * `tokenize` for them.
   */
  hash(content: string): number {
    scan(content, this.limits, this.extra, true);
    if (scanTruncated) mixToken(5, S1, S2);
    this.h2 = fmix(lineH2 ^ scanned);
    return fmix(lineH1 ^ scanned) & 0x3fffffff;
  }

  tokenize(content: string): Tokenized {
    return tokenize(content, this.limits, this.extra);
  }
}

/**
 * The same hash computed the slow way, from the stored tokens of a full scan: the definition the
 * hash-only scan must agree with (tests compare the two on real logs).
 */
export function signatureHashFromTokens(content: string, limits: TokenizerLimits, extra?: ExtraMasks): [number, number] {
  scan(content, limits, extra, false);
  lineH1 = S1;
  lineH2 = S2;
  for (let j = 0; j < scanned; j++) {
    hashString(TOK[j]!);
    mixToken(KINDS[j]!, tokH1, tokH2);
  }
  if (scanTruncated) mixToken(5, S1, S2);
  return [fmix(lineH1 ^ scanned) & 0x3fffffff, fmix(lineH2 ^ scanned)];
}

/**
 * Tokens of the message `scan` just read (the miss path): folds applied.
 *
 * Folding is a pure function of the scanned (fine token, kind) sequence, i.e. of the signature, so
 * the hot path (hash of the unfolded sequence) never runs it. The folds make messages of one event
 * agree on their token count where the count depends on the values:
 *   - a unit after a number joins it (`5.2 KB`);
 *   - consecutive variables are one variable, and so are lists: `1,2,3` or `10.0.0.1;10.0.0.2`
 *     inside a token, `10.0.0.1, 10.0.0.2` across tokens (a variable ending in `,` or `;` followed
 *     by a variable), `[10.0.0.1:50010, 10.0.0.2:50010]` as `[<*>]` (`foldBracketList`);
 *   - an optional quantity group, a bracket holding only numbers, units and `%` (`(1.16 KB)`,
 *     `(12%)`), is an annotation of the token before it: it joins that token and the grouping form
 *     drops it, so `1190 bytes (1.16 KB) sent` and `0 bytes sent` have the same tokens;
 *   - in a double-quoted span (`"GET /v2/x/servers/detail HTTP/1.1"`), everything from the first
 *     variable (or, after the first word, the first token starting with `/`) to the closing quote
 *     is one variable, so request lines with any number of tokens after the verb agree
 *     (`"GET <*>"`); the words before it stay, and a span of words only is left as it is;
 *   - timestamps spread over tokens fold into one variable (`foldDates`).
 */
function foldScanned(): Tokenized {
  const out: Tokenized = { fine: [], kinds: [], truncated: scanTruncated };
  for (let j = 0; j < scanned; j++) {
    const tok = TOK[j]!;
    if (tok.length > 1) {
      const c0 = tok.charCodeAt(0);
      if (c0 === QUOTE) {
        const end = foldQuoted(out, j);
        if (end >= 0) {
          j = end;
          continue;
        }
      } else if (c0 === OPEN_PAREN || c0 === OPEN_BRACKET) {
        const end = foldGroup(out, j);
        if (end >= 0) {
          j = end;
          continue;
        }
      }
      if (KINDS[j] === KIND.mixed && tok.charCodeAt(tok.length - 1) === COMMA) {
        const end = foldBracketList(out, j);
        if (end >= 0) {
          j = end;
          continue;
        }
      }
    }
    push(out, tok, KINDS[j]!);
  }
  if (scanDates) foldDates(out.fine, out.kinds);
  return out;
}

/** Appends one token, applying the unit, variable-run and list folds. */
function push(out: Tokenized, tok: string, kind: number): void {
  const { fine, kinds } = out;
  const last = fine.length - 1;
  const lastKind = last >= 0 ? kinds[last]! : -1;
  if (kind === KIND.word && lastKind === KIND.variable && isUnit(tok)) {
    // `5.2 KB,` -> one token; the trailing separator keeps it apart from a bare number.
    fine[last] += ` ${tok}`;
    if (UNIT_TRAILING.includes(tok[tok.length - 1]!)) kinds[last] = KIND.mixed;
    return;
  }
  // A list inside one token (`1,2,3`, `node-1;node-2`) is one variable.
  if (kind === KIND.mixed && coarseOf(tok, kind) === WILDCARD) kind = KIND.variable;
  const opensList = kind === KIND.mixed && isListOpen(tok, kind);
  if ((kind === KIND.variable || opensList) && (lastKind === KIND.variable || (lastKind === KIND.mixed && isListOpen(fine[last]!, lastKind)))) {
    // The display of a long run stays short: it varies anyway and only its start is informative.
    if (fine[last]!.length < MAX_FOLD) fine[last] += ` ${tok}`;
    else if (opensList && !endsWithListSeparator(fine[last]!)) fine[last] += tok.slice(-1); // the grouping form needs it
    kinds[last] = opensList ? KIND.mixed : KIND.variable;
    return;
  }
  fine.push(tok);
  kinds.push(kind);
}

function endsWithListSeparator(fine: string): boolean {
  const c = fine.charCodeAt(fine.length - 1);
  return c === COMMA || c === SEMICOLON;
}

/** `<*>,` / `<*> KB;`: a variable followed by a list separator (a variable may follow). */
function isListOpen(fine: string, kind: number): boolean {
  if (fine.length < 4 || !endsWithListSeparator(fine)) return false;
  const co = coarseOf(fine, kind);
  return co.length === 4 && co.startsWith(WILDCARD);
}

const MAX_LIST = 32;
const CLOSER_OF: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/**
 * At `[<*>,` / `setDataSource(<*>,` (a bracket opening a list of variables): when the list closes
 * within MAX_LIST tokens with only variables in between (`[10.0.0.1:50010, 10.0.0.2:50010]`,
 * `(2, 1)`), pushes it as one token, `[<*>]` / `setDataSource(<*>)`, the form a one-element list
 * has, and returns the index of the closing token; -1 otherwise.
 */
function foldBracketList(out: Tokenized, j: number): number {
  const head = coarseOf(TOK[j]!, KIND.mixed);
  const n = head.length;
  if (n < 5 || !head.endsWith(`${WILDCARD},`)) return -1;
  const closer = CLOSER_OF[head[n - 5]!];
  if (closer === undefined) return -1;
  const stop = Math.min(scanned, j + MAX_LIST);
  for (let k = j + 1; k < stop; k++) {
    const kind = KINDS[k]!;
    if (kind === KIND.variable) continue;
    if (kind !== KIND.mixed) return -1;
    const co = coarseOf(TOK[k]!, kind);
    if (co === WILDCARD || co === `${WILDCARD},`) continue;
    if (!co.startsWith(WILDCARD + closer) || !isClosingTail(co, 4)) return -1;
    push(out, head.slice(0, n - 1) + co.slice(3), KIND.mixed);
    return k;
  }
  return -1;
}

const MAX_QUOTED = 32;

/**
 * At a token opening a double-quoted span that closes within MAX_QUOTED tokens: pushes the words
 * before the span's first variable, then one variable up to and with the closing quote, and returns
 * the index of the closing token; -1 (nothing pushed) when the span is not foldable.
 */
function foldQuoted(out: Tokenized, j: number): number {
  const open = TOK[j]!;
  if (open.indexOf('"', 1) >= 0) return -1; // `"x"` closes itself (or nests): not a span
  const stop = Math.min(scanned, j + MAX_QUOTED);
  let close = -1;
  for (let k = j + 1; k < stop; k++) {
    const t = TOK[k]!;
    const q = t.indexOf('"');
    if (q < 0) continue;
    if (t.indexOf('"', q + 1) >= 0 || !isClosingTail(t, q + 1)) return -1;
    close = k;
    break;
  }
  if (close < 0) return -1;
  // The first variable; after the opening word a token starting with `/` counts as one (a request
  // target such as `/` or `/index.html`, which outside quotes would read as a word).
  let v = -1;
  for (let k = j; k <= close; k++) {
    if (KINDS[k] !== KIND.word || TOK[k]!.includes(WILDCARD) || (k > j && TOK[k]!.charCodeAt(0) === SLASH)) {
      v = k;
      break;
    }
  }
  if (v < 0) return -1; // only words: quoted text, as scanned
  for (let k = j; k < v; k++) push(out, TOK[k]!, KINDS[k]!);
  const closer = TOK[close]!;
  const tail = closer.slice(closer.indexOf('"'));
  out.fine.push(v === j ? `"${WILDCARD}${tail}` : WILDCARD + tail);
  out.kinds.push(KIND.mixed);
  return close;
}

/** After the closing quote only punctuation that ends a phrase. */
function isClosingTail(t: string, from: number): boolean {
  for (let x = from; x < t.length; x++) if (!QUOTE_TRAILING.includes(t[x]!)) return false;
  return true;
}
const QUOTE_TRAILING = ',;:.)]}';

const MAX_GROUP = 3;

/**
 * At a token opening a bracket that closes within MAX_GROUP tokens and holds only numbers, units
 * and punctuation (an optional annotation such as `(1.16 KB)`): joins it to the token before
 * (which keeps its grouping form) and returns the index of the closing token; -1 otherwise.
 */
function foldGroup(out: Tokenized, j: number): number {
  const last = out.fine.length - 1;
  if (last < 0) return -1;
  const lastKind = out.kinds[last]!;
  if (lastKind !== KIND.word && lastKind !== KIND.variable && lastKind !== KIND.annotated) return -1;
  const closer = TOK[j]!.charCodeAt(0) === OPEN_PAREN ? ')' : ']';
  const stop = Math.min(scanned, j + MAX_GROUP);
  let end = -1;
  for (let k = j; k < stop; k++) {
    const t = TOK[k]!;
    if (KINDS[k] === KIND.kv) return -1;
    if (t.endsWith(closer)) {
      end = k;
      break;
    }
  }
  if (end < 0) return -1;
  let group = TOK[j]!;
  for (let k = j + 1; k <= end; k++) group += ` ${TOK[k]}`;
  if (!isVariableGroup(group)) return -1;
  const f = out.fine[last]!;
  if (lastKind === KIND.variable) {
    if (f.length < MAX_FOLD) out.fine[last] = `${f} ${group}`;
  } else {
    out.fine[last] = `${f} ${group}`;
    out.kinds[last] = KIND.annotated;
  }
  return end;
}

/**
 * `(<*> KB)`, `(<*>%)`, `[<*> ms]`: a quantity restated or qualified, i.e. variables, at least one
 * unit or percent sign, punctuation, and no word. A bare `(<*>)` or `[<*>]` is not enough: it is
 * as often a slot that is always there (`host [ip]`, `(hostname)`) and whose value sometimes
 * reads as a word.
 */
function isVariableGroup(group: string): boolean {
  const inner = group.slice(1, -1);
  if (!inner.includes(WILDCARD)) return false;
  let quantity = false;
  for (const piece of inner.split(' ')) {
    let rest = piece.split(WILDCARD).join('');
    while (rest.length > 0 && GROUP_PUNCT.includes(rest[rest.length - 1]!)) {
      if (rest.endsWith('%')) quantity = true;
      rest = rest.slice(0, -1);
    }
    if (rest === '') continue;
    if (UNITS.has(rest) || NUMBER_SUFFIXES.has(rest)) {
      quantity = true;
      continue;
    }
    return false;
  }
  return quantity;
}
const GROUP_PUNCT = '.:,;-+/%#*~';

export function tokenize(content: string, limits: TokenizerLimits, extra?: ExtraMasks): Tokenized {
  scan(content, limits, extra, false);
  return foldScanned();
}

/**
 * `eth0`, `ssh2`, `wl0:`, `IPv6`, `md5`: letters then one or two digits read as a name, so they stay
 * words (an interface or protocol name is part of the event). When such a slot really varies
 * (`test1`, `bglio46` as user or host names) the miner's family evidence turns it into `<*>`.
 */
function isNameToken(s: string, a: number, b: number): boolean {
  while (b > a && (s.charCodeAt(b - 1) === COLON || s.charCodeAt(b - 1) === DOT)) b--;
  let d = a;
  while (d < b && cls(s.charCodeAt(d)) === C_ALPHA && s.charCodeAt(d) < 128) d++;
  if (d - a < 2 || b - d < 1 || b - d > 2) return false;
  for (let x = d; x < b; x++) if (cls(s.charCodeAt(x)) !== C_DIGIT) return false;
  return true;
}

const MAX_FOLD = 64;
const isJoiner = (c: number): boolean => c === UNDERSCORE || c === MINUS || c === DOT || c === COLON;

function isUnit(raw: string): boolean {
  if (UNITS.has(raw)) return true;
  let u = raw.length;
  while (u > 1 && UNIT_TRAILING.includes(raw[u - 1]!)) u--;
  return u < raw.length && UNITS.has(raw.slice(0, u));
}

/** A number-ish token next to a date word: `17`, `07:07:00`, `2005,`. */
function isTimeLike(kind: number | undefined, tok: string | undefined): boolean {
  return kind === KIND.variable || (kind === KIND.mixed && tok !== undefined && /^[<*>:.,/+-]+$/.test(tok));
}

function foldDates(fine: string[], kinds: number[]): void {
  let w = 0;
  for (let r = 0; r < fine.length; r++) {
    const tok = fine[r]!;
    let kind = kinds[r]!;
    const isDate =
      kind === KIND.word &&
      DATE_WORDS.has(tok) &&
      (isTimeLike(kinds[r - 1], fine[r - 1]) || isTimeLike(kinds[r + 1], fine[r + 1]) || DATE_WORDS.has(fine[r + 1] ?? ''));
    if (isDate) kind = KIND.variable;
    const timeLike = isDate || isTimeLike(kind, tok);
    // Fold a date word with its neighbours, and neighbours of a date word together.
    if (w > 0 && timeLike && isTimeLike(kinds[w - 1], fine[w - 1]) && (isDate || DATE_WORDS.has(fine[w - 1]!.split(' ')[0]!))) {
      fine[w - 1] = `${fine[w - 1]} ${tok}`;
      kinds[w - 1] = KIND.variable;
      continue;
    }
    fine[w] = tok;
    kinds[w] = kind;
    w++;
  }
  fine.length = w;
  kinds.length = w;
}

const OPENERS = `([{'"<`;
const CLOSERS = `)]}'",;:.>`;

function isPath(raw: string): boolean {
  let a = 0;
  let b = raw.length;
  while (a < b && OPENERS.includes(raw[a]!)) a++;
  while (b > a && CLOSERS.includes(raw[b - 1]!)) b--;
  const c0 = raw.charCodeAt(a);
  if (c0 === SLASH) {
    const next = raw.indexOf('/', a + 1);
    return next > 0 && next < b - 1;
  }
  const scheme = raw.indexOf('://', a);
  if (scheme > a && scheme < b) return true;
  return b - a > 3 && cls(c0) === C_ALPHA && raw.charCodeAt(a + 1) === COLON && raw.charCodeAt(a + 2) === BACKSLASH;
}

/** `'/udev/sda'` -> `'<*>'`: the path is the variable, its quotes and brackets are not. */
function pathShape(raw: string): string {
  let a = 0;
  let b = raw.length;
  while (a < b && OPENERS.includes(raw[a]!)) a++;
  while (b > a && CLOSERS.includes(raw[b - 1]!)) b--;
  return raw.slice(0, a) + WILDCARD + raw.slice(b);
}

// logfmt keys whose value names the event rather than a variable: `level=error msg="sync failed"`.
const EVENT_KEYS = new Set(['msg', 'message', 'event', 'level', 'lvl', 'severity']);

function isEventKey(s: string, start: number, eq: number): boolean {
  const len = eq - start;
  return len >= 3 && len <= 8 && EVENT_KEYS.has(s.slice(start, eq).toLowerCase());
}

function isKey(s: string, start: number, eq: number): boolean {
  const c0 = s.charCodeAt(start);
  if (cls(c0) !== C_ALPHA && c0 !== UNDERSCORE) return false;
  for (let j = start + 1; j < eq; j++) {
    const c = s.charCodeAt(j);
    const k = cls(c);
    if (k !== C_ALPHA && k !== C_DIGIT && c !== UNDERSCORE && c !== DOT && c !== MINUS) return false;
  }
  return true;
}

const OPEN_OF: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

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
  // Booleans and ALL-CAPS values are enum constants (`force=false`/`force=true`,
  // `action=ACTION_DOWN`/`action=ACTION_UP` are different events in practice).
  if (BOOLEANS.has(value) || /^[A-Z][A-Z_]*[A-Z]$/.test(value)) return raw;
  const quoted = value.length >= 2 && value.charCodeAt(0) === QUOTE && value.charCodeAt(value.length - 1) === QUOTE;
  return raw.slice(0, eq + 1) + (quoted ? '"<*>"' : WILDCARD) + raw.slice(tail);
}

const isWordChar = (k: number, c: number): boolean => k === C_ALPHA || k === C_DIGIT || c === UNDERSCORE || c === MINUS || c === DOT;

// Output of `shape`: the token with some ranges cut out (replaced by `<*>`, or dropped), either
// built as a string (display) or folded into the token lanes (hash mode), so the hot path hashes a
// shaped token without building it. `shapeAt` is the end of the raw text already emitted.
let shapeOut = '';
let shapeToHash = false;
let shapeAt = 0;
function emitRaw(s: string, a: number, b: number): void {
  if (a >= b) return;
  if (shapeToHash) {
    let h1 = tokH1;
    let h2 = tokH2;
    for (let j = a; j < b; j++) {
      const c = s.charCodeAt(j);
      h1 = Math.imul(h1 ^ c, P1);
      h2 = Math.imul(h2 ^ c, P2);
    }
    tokH1 = h1;
    tokH2 = h2;
  } else shapeOut += s.slice(a, b);
}
/** Emit the raw text up to `from`, then `<*>` (or nothing), and continue after `to`. */
function cut(s: string, from: number, to: number, wildcard: boolean): void {
  emitRaw(s, shapeAt, from);
  if (wildcard) emitRaw(WILDCARD, 0, 3);
  shapeAt = to;
}

/**
 * Fine (display) shape: in a run of letters/digits joined by `_ - .`, everything from the first
 * part with a digit on is one `<*>` (`attempt_1445_0020_m_01` -> `attempt_<*>`, `10.1.2.3` -> `<*>`,
 * `blk_-12` -> `blk_<*>`), a number with a unit suffix keeps it (`3200ms` -> `<*>ms`); other
 * punctuation is structure (`/10.1.2.3:80` -> `/<*>:<*>`).
 */
export function fineShape(raw: string): string {
  shapeToHash = false;
  shapeOut = '';
  shape(raw, 0, raw.length);
  return shapeOut;
}

/** `fineShape(s.slice(start, end))` hashed into tokH1/tokH2, without building it. */
function hashFineShape(s: string, start: number, end: number): void {
  shapeToHash = true;
  tokH1 = S1;
  tokH2 = S2;
  shape(s, start, end);
}

function shape(raw: string, start: number, n: number): void {
  shapeAt = start;
  let j = start;
  while (j < n) {
    const c = raw.charCodeAt(j);
    const k = cls(c);
    if (!isWordChar(k, c)) {
      // A sign or `<` directly before digits at the token start belongs to the number.
      if (j === start && (c === PLUS || c === LT || c === MINUS) && j + 1 < n && cls(raw.charCodeAt(j + 1)) === C_DIGIT) cut(raw, j, j + 1, false);
      j++;
      continue;
    }
    // One run of word characters; `..` ends it (`instruction......0`).
    let e = j;
    while (e < n) {
      const ce = raw.charCodeAt(e);
      if (!isWordChar(cls(ce), ce)) break;
      if (ce === DOT && e + 1 < n && raw.charCodeAt(e + 1) === DOT) break;
      e++;
    }
    if (e === j) {
      j++;
      continue;
    }
    shapeRun(raw, j, e);
    j = e;
  }
  emitRaw(raw, shapeAt, n);
}

function shapeRun(raw: string, a: number, b: number): void {
  // Find the first part (between joiners) that holds a digit.
  let p = a;
  while (p < b) {
    let q = p;
    let digit = false;
    while (q < b) {
      const cq = raw.charCodeAt(q);
      if (cq === UNDERSCORE || cq === DOT || cq === MINUS) break;
      if (cls(cq) === C_DIGIT) digit = true;
      q++;
    }
    // `ssh2`, `eth0`, `jk2`: a lowercase word with a short number suffix reads as a name; it stays
    // literal in the display form (the coarse form still treats it as a variable).
    if (digit && !isNamePart(raw, p, q)) {
      // Separators that end the run (`10.1.2.3.` at a sentence end) stay outside the variable.
      let t = b;
      while (t > q && (raw.charCodeAt(t - 1) === DOT || raw.charCodeAt(t - 1) === MINUS || raw.charCodeAt(t - 1) === UNDERSCORE)) t--;
      // A sign glued to the number (`blk_-12`) belongs to it.
      let s = p;
      if (s > a && raw.charCodeAt(s - 1) === MINUS && (s - 1 === a || !isAlnum(raw.charCodeAt(s - 2)))) s--;
      let e = t;
      if (q === t) {
        // `3200ms`, `12s`: digits then letters, last part of the run; the unit stays.
        let d = p;
        while (d < q && cls(raw.charCodeAt(d)) === C_DIGIT) d++;
        let l = d;
        while (l < q && cls(raw.charCodeAt(l)) === C_ALPHA) l++;
        if (d > p && l === q && d < q && NUMBER_SUFFIXES.has(raw.slice(d, q))) e = d;
      }
      cut(raw, s, e, true);
      return;
    }
    p = q + 1;
  }
}

const NUMBER_SUFFIXES = new Set(['ms', 's', 'us', 'ns', 'm', 'h', 'd', 'B', 'KB', 'MB', 'GB', 'TB', 'kB', 'k', 'K', 'M', 'G', 'x', 'px', 'Hz', 'MHz', 'GHz', 'th', 'st', 'nd', 'rd']);

function isNamePart(raw: string, a: number, b: number): boolean {
  let d = a;
  while (d < b && raw.charCodeAt(d) >= 97 && raw.charCodeAt(d) <= 122) d++;
  if (d === a || b - d > 2 || d === b) return false;
  for (let x = d; x < b; x++) if (cls(raw.charCodeAt(x)) !== C_DIGIT) return false;
  return true;
}

const isAlnum = (c: number): boolean => {
  const k = cls(c);
  return k === C_ALPHA || k === C_DIGIT;
};

/**
 * Coarse (grouping) token of a fine token: any identifier run that holds a `<*>` is one `<*>`,
 * and `<*>:<*>` folds (`/<*>:<*>` -> `/<*>`, `LOGIN(uid=<*>)` stays).
 */
export function coarseOf(fine: string, kind: number): string {
  if (kind === KIND.word) return fine;
  if (kind === KIND.variable) return WILDCARD;
  if (kind === KIND.kv) return kvShape(fine, fine.indexOf('='));
  if (kind === KIND.annotated) return fine.slice(0, fine.indexOf(' '));
  if (fine.includes(' ')) {
    // A number folded with a unit, followed by a separator: `<*> KB,` -> `<*>,`.
    let t = fine.length;
    while (t > 0 && UNIT_TRAILING.includes(fine[t - 1]!)) t--;
    return WILDCARD + fine.slice(t);
  }
  let out = '';
  let j = 0;
  const n = fine.length;
  while (j < n) {
    if (fine.startsWith(WILDCARD, j) || isCoarseWord(fine.charCodeAt(j))) {
      let e = j;
      let v = false;
      while (e < n) {
        if (fine.startsWith(WILDCARD, e)) {
          v = true;
          e += 3;
          continue;
        }
        const ce = fine.charCodeAt(e);
        if (!isCoarseWord(ce)) break;
        if (ce === DOT && e + 1 < n && fine.charCodeAt(e + 1) === DOT) break;
        e++;
      }
      if (e === j) {
        out += fine[j];
        j++;
        continue;
      }
      if (v) {
        // Leading separators (`.` after `....`) stay outside the variable.
        while (j < e && (fine.charCodeAt(j) === DOT || fine.charCodeAt(j) === MINUS || fine.charCodeAt(j) === UNDERSCORE)) out += fine[j++];
        let t = e;
        while (t > j && (fine.charCodeAt(t - 1) === DOT || fine.charCodeAt(t - 1) === MINUS || fine.charCodeAt(t - 1) === UNDERSCORE)) t--;
        if (out.endsWith(`${WILDCARD}:`)) out = out.slice(0, -1);
        else out += WILDCARD;
        out += fine.slice(t, e);
      } else out += fine.slice(j, e);
      j = e;
    } else {
      out += fine[j];
      j++;
    }
  }
  // A list of variables in one token (`<*>,<*>`, `<*>;<*>;<*>`, `<*>|<*>`) is one variable.
  return hasListOfVariables(out) ? collapseLists(out) : out;
}

const LIST_SEPARATORS = ',;|';

function hasListOfVariables(t: string): boolean {
  for (let j = t.indexOf(WILDCARD); j >= 0; j = t.indexOf(WILDCARD, j + 3)) {
    if (LIST_SEPARATORS.includes(t[j + 3] ?? ' ') && t.startsWith(WILDCARD, j + 4)) return true;
  }
  return false;
}

function collapseLists(t: string): string {
  let out = '';
  let j = 0;
  while (j < t.length) {
    if (t.startsWith(WILDCARD, j)) {
      out += WILDCARD;
      j += 3;
      while (LIST_SEPARATORS.includes(t[j] ?? ' ') && t.startsWith(WILDCARD, j + 1)) j += 4;
      continue;
    }
    out += t[j];
    j++;
  }
  return out;
}

const isCoarseWord = (c: number): boolean => {
  const k = cls(c);
  return k === C_ALPHA || k === C_DIGIT || c === UNDERSCORE || c === MINUS || c === DOT;
};
