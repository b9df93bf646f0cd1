/**
 * Redaction of secrets in text that leaves the process as evidence (findings, NATS, tap).
 *
 * What goes: passwords, secrets, API keys and tokens given as `key=value`, `key: value`,
 * `"key":"value"` (also escaped JSON, Python and Ruby hashes) or in query strings; credentials
 * after `Bearer`/`Basic`/`Token`; the password of `scheme://user:password@host` URLs and DSNs
 * (`user:password@tcp(host)`); cookie values; PEM private keys; JWTs; and tokens that announce
 * themselves by their format (AWS access key ids, GitHub, GitLab, Slack, Stripe, npm, Google and
 * Vault tokens, Slack webhook paths, Azure SAS signatures).
 *
 * What stays: the keys (the reader still sees what kind of value was there), user names (in
 * `user=bob`, `for user "bob"` or `https://bob:…@host`: they tell who, and are no credential),
 * and ordinary words that happen to be key names: `auth: ldap bind`, `token bucket`,
 * `password policy`, `tokenizer`, `(auth:SIMPLE)`, `password: YES`. Keys are split in two
 * (see classifyKey): for a *strong* key (password, client_secret, api_key, access_token…) any value
 * goes but placeholders (`***`, `<*>`, `${VAR}`, `null`, `YES` …); for a *weak* key (token, auth,
 * authorization, secret, credentials, session, signature …), which is also an everyday word, only a
 * value that looks like a credential (letters and digits, no spaces or brackets, not a host name,
 * path, e-mail address, 0x-number or Java identity string) goes.
 *
 * Redaction works on spans of the original text: every rule marks the secret it found, overlapping
 * spans are merged, and each is replaced by `[REDACTED]`. A span never covers a quote, backtick or
 * bracket that closes something opened before the secret, so templates and summaries stay
 * well-formed. redactionSpans() exposes the spans so callers can pick text outside them (the
 * evidence query's literal). redact() is idempotent.
 */

export const REDACTED = '[REDACTED]';
const R = REDACTED;

/** `[start, end)` of the original text, replaced by `text` in the redacted output. */
export interface RedactionSpan {
  start: number;
  end: number;
  text: string;
}

type Finder = (text: string, out: RedactionSpan[]) => void;

// ── key classification ────────────────────────────────────────────────────────────────────

type KeyClass = 'strong' | 'weak' | undefined;

/** Keys (flattened: lower case, separators removed) whose value is a secret whatever it reads. */
const STRONG_SUFFIX =
  /(?:password|passwd|passphrase|pwd|apikey|secretkey|privatekey|accesskey|signingkey|encryptionkey|masterkey|accountkey|sharedaccesskey|hmackey|licensekey|subscriptionkey|clientkey)$/;
/** Tokens and secrets whose name says they are credentials; any other `…token` / `…secret` key is weak. */
const STRONG_TOKEN =
  /(?:access|refresh|id|auth|api|bearer|session|security|private|personal|oauth|github|gh|gitlab|slack|bot|vault|npm|csrf|xsrf|client|service|user|app)token$/;
const STRONG_SECRET = /(?:client|app|api|jwt|shared|webhook|signing|consumer|oauth|session|cookie|hmac|master|encryption|private|totp|otp)secret$/;
const WEAK_SUFFIX = /(?:token|secret|auth|authorization|session|sessionid|sessid|signature)$/;

/** Every secret key holds one of these: a cheap first test, most keys (`level`, `msg`, `ts`) fail it. */
const KEY_WORD = /pass|pwd|secret|token|auth|cred|sess|sid|sig|key/i;

/**
 * strong / weak / not a secret key, from the key's name flattened (lower case, separators gone):
 * `password`, `DB_PASSWORD`, `x-api-key`, `accessToken`, `spring.datasource.password`. A key names a
 * secret only by its last word: `password_policy`, `token_bucket`, `tokenizer`, `auth_method` do not.
 */
export function classifyKey(name: string): KeyClass {
  if (!KEY_WORD.test(name)) return undefined;
  const flat = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!flat) return undefined;
  if (flat === 'pass' || STRONG_SUFFIX.test(flat) || STRONG_TOKEN.test(flat) || STRONG_SECRET.test(flat)) return 'strong';
  // `credentials: invalid` is prose; `java.naming.security.credentials=…`, `bindCredential: …` are passwords.
  if (/credentials?$/.test(flat)) return flat === 'credential' || flat === 'credentials' ? 'weak' : 'strong';
  if (WEAK_SUFFIX.test(flat) || /(?:^|[._-])(?:sid|sig)$/i.test(name)) return 'weak';
  return undefined;
}

/** Values that name no secret: masks, template wildcards, variables, booleans, status words. */
const PLACEHOLDER =
  /^(?:\*+|x{3,}|•+|\.{3}|…|<[^<>]*>|\[[A-Z_ -]+\]|%[sdvq]|\{\{[^}]*\}\}|null|nil|none|undefined|true|false|yes|no|on|off|-+|n\/a|redacted|hidden|masked|filtered|omitted|required|missing|empty|expired|invalid|incorrect|wrong|mismatch|changed|reset|updated|rejected|denied|accepted|ok|set|unset|provided|supplied|not|is|was|must|too|does|did|cannot|and|or|for|of|the|a|an)$/i;
/** Variable references (`${DB_PASSWORD}`, `$DB_PASSWORD`): upper case only, `$ecret1` may be a password. */
const VARIABLE = /^\$(?:\{[^}]*\}|[A-Z_][A-Z0-9_]*)$/;
const isPlaceholder = (v: string): boolean => PLACEHOLDER.test(v) || VARIABLE.test(v);
const PATH = /^(?:\/|~\/|\.\.?\/|[A-Za-z]:\\)/;

function strongValueIsSecret(key: string, v: string): boolean {
  if (!v || isPlaceholder(v) || PATH.test(v)) return false;
  // `tests pass=12`: a count, not a password.
  if (/^\d{1,3}$/.test(v) && key.toLowerCase() === 'pass') return false;
  return true;
}

/** Whether a value after a weak key (or an auth scheme) reads like a credential rather than a word. */
export function credentialLike(v: string): boolean {
  if (v.length < 8) return false;
  if (!/^[A-Za-z0-9\-._~+/=%:!#*^$@|]+$/.test(v)) return false; // spaces, brackets, braces: prose or an object dump
  if (/^0x[0-9a-f]+$/i.test(v)) return false; // numeric ids (ZooKeeper session ids, pointers)
  if (/^[A-Za-z_$][\w$.]*@[0-9a-f]+$/.test(v)) return false; // Java identity strings: android.os.BinderProxy@2bd79ce
  if (/^[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/.test(v)) return false; // e-mail addresses
  if (/^(?=[^A-Z]*$)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?::\d+)?$/.test(v)) return false; // host names
  if (v.includes('://') || PATH.test(v)) return false;
  if (isPlaceholder(v)) return false;
  const letters = /[A-Za-z]/.test(v);
  const digits = /\d/.test(v);
  if (letters && digits) return true;
  return v.length >= 32 && !/^[A-Za-z]+(?:[._-][A-Za-z]+)*$/.test(v);
}

function valueIsSecret(cls: KeyClass, key: string, v: string): boolean {
  if (cls === 'strong') return strongValueIsSecret(key, v);
  if (cls === 'weak') return credentialLike(v);
  return false;
}

/** Auth schemes: the credential is the next token (handled by the scheme rule), not this word. */
const SCHEME_WORD = /^(?:Bearer|Basic|Token|Digest|Negotiate|NTLM|AWS4-HMAC-SHA256)$/i;

// ── rules ─────────────────────────────────────────────────────────────────────────────────

const span = (out: RedactionSpan[], start: number, end: number, text = R): void => {
  if (end > start) out.push({ start, end, text });
};

/** Drops closers at the end of an unquoted value that close something opened before it: `(auth:x)`. */
function trimClosers(v: string): string {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{', '>': '<' };
  for (;;) {
    const last = v[v.length - 1];
    const open = last !== undefined ? pairs[last] : undefined;
    if (open === undefined) return v;
    if (v.split(open).length > v.split(last!).length - 1) return v; // balanced inside the value
    v = v.slice(0, -1);
  }
}

const PEM = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----([\s\S]*?)(-----END \1-----|$)/g;
const privateKey: Finder = (text, out) => {
  for (const m of text.matchAll(PEM)) {
    const bodyStart = m.index + 16 + m[1]!.length;
    const bodyEnd = bodyStart + m[2]!.length;
    // Cut off before its footer (the sample ended): mask to the end and close the block.
    if (m[3]) span(out, bodyStart, bodyEnd);
    else out.push({ start: bodyStart, end: bodyEnd, text: `${R}-----END ${m[1]}-----` });
  }
};

const SCHEME = /\b(Bearer|Token|Basic)[ \t]+([A-Za-z0-9\-._~+/]+=*)/gi;
function basicCredential(v: string): boolean {
  if (v.length < 8 || !/^[A-Za-z0-9+/]+=*$/.test(v)) return false;
  const decoded = Buffer.from(v, 'base64').toString('latin1');
  return /^[\x20-\x7e]*:[\x20-\x7e]*$/.test(decoded);
}
/** Right after an Authorization header name (`Authorization: `, `authorization="`, Go's `Authorization:[`). */
const AFTER_AUTH_HEADER = /authorization["']?[ \t]*(?:[:=]|=>)[ \t]*["'[]?[ \t]*$/i;
const authScheme: Finder = (text, out) => {
  for (const m of text.matchAll(SCHEME)) {
    const v = m[2]!;
    // In an Authorization header any value of 8 characters or more is the credential; elsewhere
    // "Bearer"/"Token"/"Basic" are also words ("token bucket", "basic authentication").
    const header = AFTER_AUTH_HEADER.test(text.slice(Math.max(0, m.index - 40), m.index));
    const ok = (header && v.length >= 8) || (m[1]!.toLowerCase() === 'basic' ? basicCredential(v) || credentialLike(v) : credentialLike(v));
    if (ok) span(out, m.index + m[0].length - v.length, m.index + m[0].length);
  }
};

const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const jwt: Finder = (text, out) => {
  for (const m of text.matchAll(JWT)) span(out, m.index, m.index + m[0].length);
};

// scheme://user:password@host — the password may hold ':' and even '@' (the last '@' of the authority ends it).
const URL_USERINFO = /\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@"'`<>]*:([^/?#\s"'`<>]+)@/gi;
// Go MySQL DSNs: user:password@tcp(host:3306)/db
const GO_DSN = /(?<![\w:/@.-])[\w.-]+:([^@\s/"'`<>]+)@(?:tcp|tcp6|unix|udp)\(/g;
const urlPassword: Finder = (text, out) => {
  for (const re of [URL_USERINFO, GO_DSN]) {
    for (const m of text.matchAll(re)) {
      const pw = m[1]!;
      if (isPlaceholder(pw)) continue;
      const end = m.index + m[0].lastIndexOf('@');
      span(out, end - pw.length, end);
    }
  }
};

/** A quoted key and a quoted value: "k":"v" (JSON), "k"=>"v" (Ruby), 'k': 'v' (Python), \"k\":\"v\" (escaped JSON). */
const QUOTED_PAIRS: Array<{ re: RegExp; unescape: (v: string) => string }> = [
  { re: /"((?:[^"\\\n]|\\.){1,80}?)"[ \t]*(?::|=>)[ \t]*"((?:[^"\\\n]|\\.)*)"/g, unescape: (v) => v },
  { re: /'([^'\\\n]{1,80}?)'[ \t]*(?::|=>)[ \t]*'((?:[^'\\\n]|\\.)*)'/g, unescape: (v) => v },
  { re: /\\"((?:[^"\\\n]|\\[^"]){1,80}?)\\"[ \t]*:[ \t]*\\"((?:[^"\\\n]|\\[^"])*)\\"/g, unescape: (v) => v.replace(/\\\\/g, '\\') },
];
const quotedPair: Finder = (text, out) => {
  for (const { re, unescape } of QUOTED_PAIRS) {
    for (const m of text.matchAll(re)) {
      const key = m[1]!;
      const value = m[2]!;
      const cls = classifyKey(key);
      if (!cls || !valueIsSecret(cls, key, unescape(value))) continue;
      const close = re === QUOTED_PAIRS[2]!.re ? 2 : 1;
      const end = m.index + m[0].length - close;
      span(out, end - value.length, end);
    }
  }
};

// key=value, key: value, key => value (logfmt, query strings, env dumps, headers, YAML, connection strings).
// A key is not part of a path (`/etc/passwd: …`) and starts with a letter. Only the key and the
// separator are matched, so a key inside another key's quoted value (msg="… password=x …") is found.
// Not mid-identifier either: in `https://x-access-token:…@host` the URL rule has the password.
const KEY = /(?<![\w/\\.])(?<![\w/\\.]-)([A-Za-z_][\w.-]*)[ \t]*(?:=>|[=:])[ \t]*/g;
/** An unquoted value ends at '&' only where a query-string parameter follows (`&state=…`); `Tr0ub&3` is one value. */
const VALUE = /"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|["']?(?:[^\s,;&"'`]|&(?![A-Za-z_][\w.-]*=))+/y;
const keyValue: Finder = (text, out) => {
  for (const m of text.matchAll(KEY)) {
    const key = m[1]!;
    const cls = classifyKey(key);
    // `cookie: a=b; c=d` is the cookie rule's.
    if (!cls || /cookie$/i.test(key)) continue;
    const at = m.index + m[0].length;
    VALUE.lastIndex = at;
    const vm = VALUE.exec(text);
    if (!vm) continue;
    let v = vm[0];
    let end = at + v.length;
    const q = v[0];
    if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) {
      v = v.slice(1, -1);
      end -= 1;
    } else if (q === '"' || q === "'") {
      // An unterminated quote: the value may run to the end of the line.
      const nl = text.indexOf('\n', at);
      const stop = nl < 0 ? text.length : nl;
      if (valueIsSecret(cls, key, text.slice(at + 1, stop).trim())) span(out, at + 1, stop);
      continue;
    } else {
      const trimmed = trimClosers(v);
      end -= v.length - trimmed.length;
      v = trimmed;
      if (SCHEME_WORD.test(v)) continue;
    }
    if (valueIsSecret(cls, key, v)) span(out, end - v.length, end);
  }
};

const COOKIE_HEADER = /\b(?:set-)?cookie[ \t]*[:=][ \t]*"?/gi;
const COOKIE_PAIR = /([^=;\s"'`,]+)=("[^"]*"|[^;\s"'`,]*)[ \t]*(?:;[ \t]*)?/y;
const COOKIE_ATTRIBUTE = /^(?:path|domain|expires|max-age|samesite|secure|httponly|priority|partitioned|version|comment)$/i;
const cookie: Finder = (text, out) => {
  for (const m of text.matchAll(COOKIE_HEADER)) {
    COOKIE_PAIR.lastIndex = m.index + m[0].length;
    for (let p = COOKIE_PAIR.exec(text); p; p = COOKIE_PAIR.exec(text)) {
      const name = p[1]!;
      let v = p[2]!;
      let start = p.index + name.length + 1;
      if (v.startsWith('"')) {
        v = v.slice(1, -1);
        start += 1;
      }
      if (!COOKIE_ATTRIBUTE.test(name) && v && !isPlaceholder(v)) span(out, start, start + v.length);
    }
  }
};

/** Tokens recognised by their format alone. */
const FORMATS: RegExp[] = [
  /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, // Google API keys
  /\bya29\.[0-9A-Za-z_-]{20,}/g, // Google OAuth access tokens
  /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/g, // GitHub
  /\bglpat-[A-Za-z0-9_-]{20,}/g, // GitLab
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, // Slack
  /\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b/g, // Stripe secret and restricted keys
  /\bnpm_[A-Za-z0-9]{36}\b/g, // npm
  /\bhv[sbr]\.[A-Za-z0-9_-]{20,}/g, // Vault
];
const SLACK_WEBHOOK = /hooks\.slack\.com\/services\/[A-Z0-9]+\/[A-Z0-9]+\/([A-Za-z0-9]+)/g;
const AZURE_SAS = /[?&]sig=([A-Za-z0-9%+/=]{16,})/g;
const formats: Finder = (text, out) => {
  for (const re of FORMATS) for (const m of text.matchAll(re)) span(out, m.index, m.index + m[0].length);
  for (const re of [SLACK_WEBHOOK, AZURE_SAS]) {
    for (const m of text.matchAll(re)) span(out, m.index + m[0].length - m[1]!.length, m.index + m[0].length);
  }
};

const FINDERS: Finder[] = [privateKey, authScheme, jwt, urlPassword, quotedPair, keyValue, cookie, formats];

/** Cheap test that no rule can match: most lines have none of these and skip the rules entirely. */
const TRIGGER =
  /pass|pwd|secret|token|auth|cred|sess|sid|sig|key|cookie|bearer|basic|eyJ|@|A[KS]IA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|AIza|ya29\.|gh[pousr]_|github_pat_|glpat-|xox|[sr]k_(?:live|test)_|npm_|hv[sbr]\.|hooks\.slack/i;

/** The secrets of `text`: sorted, merged spans of the original text. */
export function redactionSpans(text: string): RedactionSpan[] {
  if (!TRIGGER.test(text)) return [];
  const found: RedactionSpan[] = [];
  for (const f of FINDERS) f(text, found);
  if (found.length <= 1) return found;
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: RedactionSpan[] = [{ ...found[0]! }];
  for (let i = 1; i < found.length; i++) {
    const s = found[i]!;
    const cur = merged[merged.length - 1]!;
    if (s.start > cur.end) merged.push({ ...s });
    else if (s.end > cur.end) {
      cur.end = s.end;
      cur.text = R;
    }
  }
  return merged;
}

export function redact(text: string): string {
  const spans = redactionSpans(text);
  if (spans.length === 0) return text;
  let out = '';
  let at = 0;
  for (const s of spans) {
    out += text.slice(at, s.start) + s.text;
    at = s.end;
  }
  return out + text.slice(at);
}

/**
 * Truncate to at most maxBytes of UTF-8 without splitting a character; appends "…" when cut.
 * A cut never leaves half a `[REDACTED]` behind.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text; // fast path: cannot exceed
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes - 3); // room for "…" (3 bytes)
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  let head = buf.subarray(0, end).toString('utf8');
  const open = head.lastIndexOf('[');
  if (open >= 0 && head.length - open < R.length && R.startsWith(head.slice(open))) head = head.slice(0, open);
  return head + '…';
}
