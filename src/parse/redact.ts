/**
 * Redaction of secrets in text that leaves the process as evidence (findings, NATS).
 * Patterns are applied in order; each replaces only the secret, keeping the key so the reader
 * still sees what kind of value was there.
 */

const R = '[REDACTED]';

interface Rule {
  name: string;
  re: RegExp;
  replace: string | ((...args: string[]) => string);
}

const SECRET_KEYS =
  'password|passwd|passphrase|pwd|pass|secret|token|access[_-]?token|refresh[_-]?token|id[_-]?token|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|secret[_-]?(?:access[_-]?)?key|client[_-]?secret|private[_-]?key|auth(?:orization)?|credentials?|session[_-]?id|cookie|x-api-key';

const RULES: Rule[] = [
  // PEM private key blocks (possibly cut off at the end of the sample).
  { name: 'private_key', re: /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----[\s\S]*?(?:-----END \1-----|$)/g, replace: `-----BEGIN $1-----${R}-----END $1-----` },
  // Authorization: Bearer/Basic/Token credentials.
  { name: 'bearer', re: /\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi, replace: `$1$2${R}` },
  // JSON Web Tokens anywhere.
  { name: 'jwt', re: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, replace: R },
  // user:password@ in URLs and DSNs.
  { name: 'url_password', re: /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+:)[^@/?#\s]+@/gi, replace: `$1${R}@` },
  // "key": "value" in JSON.
  { name: 'json_secret', re: new RegExp(`("(?:[A-Za-z0-9_.-]*[_.-])?(?:${SECRET_KEYS})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi'), replace: `$1"${R}"` },
  // key=value / key: value (logfmt, query strings, config dumps).
  {
    name: 'kv_secret',
    re: new RegExp(`(\\b(?:[A-Za-z0-9]+[_.-])?(?:${SECRET_KEYS})\\b\\s*[=:]\\s*)("[^"]*"|'[^']*'|[^\\s,;&"'}]+)`, 'gi'),
    // "Authorization: Bearer [REDACTED]" was already handled by the bearer rule: keep the scheme visible.
    replace: (_m: string, key: string, value: string) => (value.startsWith(R) || /^(?:Bearer|Basic|Token)$/i.test(value) ? `${key}${value}` : `${key}${R}`),
  },
  // Cloud and SaaS access keys.
  { name: 'aws_access_key', re: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b/g, replace: R },
  { name: 'gcp_api_key', re: /\bAIza[0-9A-Za-z_-]{35}\b/g, replace: R },
  { name: 'github_token', re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/g, replace: R },
  { name: 'slack_token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g, replace: R },
  { name: 'azure_sas', re: /([?&]sig=)[A-Za-z0-9%+/=]{16,}/g, replace: `$1${R}` },
];

export function redact(text: string): string {
  let out = text;
  for (const rule of RULES) {
    rule.re.lastIndex = 0;
    out = out.replace(rule.re, rule.replace as (substring: string, ...args: unknown[]) => string);
  }
  return out;
}

/** Truncate to at most maxBytes of UTF-8 without splitting a character; appends "…" when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text; // fast path: cannot exceed
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes - 3); // room for "…" (3 bytes)
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8') + '…';
}
