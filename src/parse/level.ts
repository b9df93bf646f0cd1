import type { Level } from '../model/log-record.ts';

/**
 * Level detection that works across formats without configuration: structured fields first,
 * then klog's one-letter prefix, then a bracketed/upper-case level token near the start of the line.
 */

const WORDS: Record<string, Level> = {
  trace: 'trace', debug: 'debug', dbg: 'debug', info: 'info', information: 'info', informational: 'info',
  notice: 'info', warn: 'warn', warning: 'warn', error: 'error', err: 'error', eror: 'error',
  fatal: 'fatal', critical: 'fatal', crit: 'fatal', panic: 'fatal', emerg: 'fatal', alert: 'fatal', severe: 'error',
};

export function levelFromWord(word: string | undefined): Level {
  if (!word) return 'unknown';
  return WORDS[word.toLowerCase()] ?? 'unknown';
}

const KLOG = /^([IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d+/;
// A level word as its own token in the first 64 chars: "ERROR", "[warn]", "level=error", "<E>" …
const HEAD_LEVEL = /(?:^|[\s\[(<|:])(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERR(?:OR)?|FATAL|CRIT(?:ICAL)?|PANIC|SEVERE|trace|debug|info|warn(?:ing)?|error|fatal|critical|panic)(?=[\s\]):>|,]|$)/;
const LEVEL_KV = /\b(?:level|lvl|severity|loglevel)\s*[=:]\s*"?([A-Za-z]+)/i;

export function detectLevel(line: string, fields?: Readonly<Record<string, string>>): Level {
  if (fields) {
    const f = fields.level ?? fields.lvl ?? fields.severity ?? fields['log.level'] ?? fields.levelname ?? fields.loglevel;
    if (f !== undefined) {
      const lv = levelFromWord(f);
      if (lv !== 'unknown') return lv;
      const n = Number(f); // pino/bunyan numeric levels
      if (Number.isInteger(n)) return n >= 60 ? 'fatal' : n >= 50 ? 'error' : n >= 40 ? 'warn' : n >= 30 ? 'info' : n >= 20 ? 'debug' : 'trace';
    }
  }
  const k = KLOG.exec(line);
  if (k) return k[1] === 'I' ? 'info' : k[1] === 'W' ? 'warn' : k[1] === 'E' ? 'error' : 'fatal';
  const head = line.length > 96 ? line.slice(0, 96) : line;
  const kv = LEVEL_KV.exec(head);
  if (kv) {
    const lv = levelFromWord(kv[1]);
    if (lv !== 'unknown') return lv;
  }
  const h = HEAD_LEVEL.exec(head);
  if (h) return levelFromWord(h[1]);
  return 'unknown';
}

const ERROR_VOCAB = /\b(?:error|errors|exception|fail(?:ed|ure|ing)?|fatal|panic|critical|refused|timed? ?out|unable to|cannot|can't|denied|unreachable|crash(?:ed)?)\b/i;

/** Warning-or-worse, from the level when known, else from error vocabulary. */
export function isProblemLine(level: Level, line: string): boolean {
  if (level === 'warn' || level === 'error' || level === 'fatal') return true;
  if (level !== 'unknown') return false;
  return ERROR_VOCAB.test(line.length > 512 ? line.slice(0, 512) : line);
}
