import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadRules } from '../../src/detect/rulesets.ts';
import { requiredLiterals } from '../../src/detect/literals.ts';
import { compilePattern, re2SharesJsSyntax } from '../../src/detect/pattern.ts';
import { signature } from '../../src/detect/builders.ts';
import { LiteralScanner } from '../../src/detect/aho.ts';
import type { LogRecord } from '../../src/model/log-record.ts';
import { rec } from '../helpers/records.ts';
import { detectionEngine } from '../../src/pipeline.ts';

const DATASETS = resolve(import.meta.dirname, '../../../shared/datasets/loghub-2k');

function corpus(): string[] {
  const lines: string[] = [];
  if (existsSync(DATASETS)) {
    for (const s of readdirSync(DATASETS)) {
      const f = join(DATASETS, s, `${s}_2k.log`);
      if (existsSync(f)) lines.push(...readFileSync(f, 'utf8').split('\n').filter(Boolean));
    }
  }
  const inc = resolve(import.meta.dirname, '../fixtures/incident-corpus/incidents.ndjson');
  if (existsSync(inc)) {
    for (const l of readFileSync(inc, 'utf8').split('\n').filter(Boolean)) {
      const o = JSON.parse(l) as { line?: string; reason?: string; message?: string };
      lines.push(o.line ?? `reason=${o.reason} msg="${o.message}"`);
    }
  }
  for (const l of readFileSync(resolve(import.meta.dirname, '../../samples/incident.ndjson'), 'utf8').split('\n').filter(Boolean)) {
    const o = JSON.parse(l) as { line?: string; reason?: string; message?: string };
    lines.push(o.line ?? `reason=${o.reason} msg="${o.message}"`);
  }
  return lines;
}

describe('required-literal prefilter', () => {
  it('extracts literals that every match must contain', () => {
    expect(requiredLiterals('connection refused|ECONNREFUSED')).toEqual(['connection refused', 'econnrefused']);
    expect(requiredLiterals("didn'?t match (?:Pod's )?node (?:affinity|selector)")).toEqual(['t match ']);
    expect(requiredLiterals('(?:pull|image)[^\\n]{0,300}(?:429|too many requests)')).toEqual(['pull', 'image']);
    expect(requiredLiterals('\\d+ nodes')).toEqual([' nodes']);
    expect(requiredLiterals('^F\\d{4} \\d\\d')).toBeNull();
    expect(requiredLiterals('ab?c')).toBeNull();
    expect(requiredLiterals('(?:foo)?barbaz')).toEqual(['barbaz']);
    expect(requiredLiterals('x(?=abc)yz')).toBeNull();
  });

  it('the literal scanner reports every group whose literal occurs, case-insensitively', () => {
    const groups = [['timed out', 'timeout'], ['refused'], ['ldap'], ['héllo']];
    const sc = new LiteralScanner(groups);
    expect(sc.groupsIn('Connection REFUSED after TimeOut')).toEqual([0, 1, 3]);
    expect(sc.groupsIn('LDAP bind timed out')).toEqual([0, 2, 3]);
    expect(sc.groupsIn('all good')).toEqual([3]); // the non-ASCII group is always a candidate
    // Overlapping literals and suffix outputs (Aho–Corasick failure links).
    const sc2 = new LiteralScanner([['abcd'], ['bc'], ['cde']]);
    expect(sc2.groupsIn('xabcde')).toEqual([0, 1, 2]);
    expect(sc2.groupsIn('xabce')).toEqual([1]);
    // Any number of groups, each its own bit across words (group i: word i >>> 5, bit i & 31).
    const many = new LiteralScanner(Array.from({ length: 300 }, (_, i) => [`word${i}x`]));
    expect(many.words).toBe(10);
    expect(many.groupsIn('a word35x b word299x')).toEqual([35, 299]);
    expect(many.groupsIn('a word3x b')).toEqual([3]);
    const hits = new Uint32Array(many.words);
    expect(many.scan('nothing here', hits)).toBe(0);
    expect([...hits].every((w) => w === 0)).toBe(true);
    expect(many.scan('word31x word32x', hits)).not.toBe(0);
    expect([hits[0], hits[1]]).toEqual([2 ** 31, 1]);
    // An empty literal occurs in every text, the empty one included.
    const empty = new LiteralScanner([['zz'], ['']]);
    expect(empty.groupsIn('')).toEqual([1]);
    expect(empty.groupsIn('azz')).toEqual([0, 1]);
  });

  it('agrees with a naive case-insensitive search on random texts over a small alphabet', () => {
    // A small alphabet makes overlaps, shared prefixes and failure-link chains common.
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const word = (len: number): string => Array.from({ length: len }, () => 'abAB-é'[rnd(6)]).join('');
    for (let round = 0; round < 200; round++) {
      const groups = Array.from({ length: 1 + rnd(6) }, () => Array.from({ length: 1 + rnd(3) }, () => word(1 + rnd(4)).replace(/é/g, 'a')));
      const sc = new LiteralScanner(groups);
      for (let t = 0; t < 20; t++) {
        const text = word(rnd(30));
        const want: number[] = [];
        groups.forEach((lits, gi) => {
          if (lits.some((l) => text.toLowerCase().includes(l.toLowerCase()))) want.push(gi);
        });
        // A non-ASCII character restarts the automaton, so a literal never spans one (literals here are ASCII).
        expect(sc.groupsIn(text), `${JSON.stringify(groups)} in ${text}`).toEqual(want);
      }
    }
  });

  it('is sound on real lines: whenever a default pattern matches, one of its literals is in the line', async () => {
    const rules = await loadRules({});
    const lines = corpus();
    let matches = 0;
    for (const r of rules) {
      if (!('match' in r) || r.match === undefined) continue;
      for (const m of Array.isArray(r.match) ? r.match : [r.match]) {
        const c = compilePattern(m);
        const lits = c.prefilter ? requiredLiterals(c.prefilter) : null;
        if (!lits) continue;
        for (const l of lines) {
          if (!c.test(l)) continue;
          matches++;
          const low = l.toLowerCase();
          expect(lits.some((x) => low.includes(x)), `${r.id} ${c.describe} on ${l.slice(0, 200)}`).toBe(true);
        }
      }
    }
    expect(matches).toBeGreaterThan(100);
  });

  it('the engine finds exactly the same with and without the prefilter', async () => {
    const rules = await loadRules({});
    const lines = corpus();
    const records = (): LogRecord[] => lines.map((l, i) => rec(i * 50, l, { pod: `p${i % 40}`, workload: `w${i % 40}` }));
    const a = detectionEngine({ rules }).process(records());
    const b = detectionEngine({ rules, prefilter: false }).process(records());
    expect(a.length).toBeGreaterThan(10);
    expect(a).toEqual(b);
  });

  it('data-only (RE2) patterns join the prefilter unless their syntax reads differently as JavaScript', async () => {
    expect(compilePattern({ regex: 'java\\.lang\\.OutOfMemoryError|JavaScript heap out of memory' }).prefilter).toBeDefined();
    for (const re2Only of ['\\Qa.b\\E', '[[:alpha:]]+Error', '[a[:digit:]]x', '\\pLfoo', '\\Afoo', 'foo\\z', '\\x41bc']) {
      expect(re2SharesJsSyntax(re2Only), re2Only).toBe(false);
      expect(compilePattern({ regex: re2Only }).prefilter, re2Only).toBeUndefined();
    }
    // Same findings with and without the prefilter, on lines each pattern matches (and some it does not).
    const patterns = ['java\\.lang\\.OutOfMemoryError|JavaScript heap out of memory', '(?i)quota\\s+exceeded', 'disk (?:full|quota) on /\\w+', '\\Qjava.lang.Error\\E', '[[:alpha:]]+Exception: timeout', '\\pLmissing key'];
    const rules = patterns.map((regex, i) => signature({ id: `re2-${i}`, incident_type: `re2_${i}`, domain: 'application', severity: 'warning', match: { regex } }));
    const lines = ['Exception in thread "main" java.lang.OutOfMemoryError: Java heap space', 'FATAL ERROR: JavaScript heap out of memory', 'pods "x" is forbidden: QUOTA   Exceeded', 'disk full on /data', 'threw java.lang.Error at boot', 'IOException: timeout', 'xmissing key', 'ordinary line', 'java.lang.Errors are fine'];
    const records = (): LogRecord[] => lines.map((l, i) => rec(i * 1000, l, { pod: `p${i}`, workload: `w${i}` }));
    const a = detectionEngine({ rules }).process(records());
    const b = detectionEngine({ rules, prefilter: false }).process(records());
    expect(new Set(a.map((f) => f.incident_type)).size).toBe(patterns.length);
    expect(a).toEqual(b);
  });
});
