import { LRUCache } from 'lru-cache';
import { metrics } from '../../metrics.ts';
import { templateHash } from './hash.ts';
import { decodeState, encodeState } from './snapshot.ts';
import { ExtraMasks, KIND, LineScanner, WILDCARD, coarseOf, type ExtraMask } from './tokenize.ts';

/**
 * Online log-template miner. One pass, a cluster id for every message.
 *
 * 1. The tokenizer types tokens (numbers, ids, IPs, paths, key=value values … are variables; words
 *    stay) in a display form and a coarser grouping form (see tokenize.ts).
 * 2. Hot path: the exact signature is looked up, as a 62-bit hash computed while scanning (no token
 *    strings are built), in a bounded cache. Almost every line of a steady stream ends here, which
 *    is why the miner runs at several hundred thousand lines per second.
 * 3. A signature seen for the first time is matched against the templates of its length bucket
 *    (one hash probe per wildcard layout, most specific first; partial wildcards by a bounded scan).
 *    The first word of a message names the event and never falls into a `<*>`.
 * 4. A signature no template matches becomes a new cluster, then the evidence step: clusters that
 *    differ from it in exactly one word position form a family; with `mergeValues` (3) distinct
 *    words there (5 for enum-like or frequently seen values), the position is a variable and the
 *    family merges into its oldest cluster, which keeps its id (the others become aliases). Words
 *    are constants until the data says otherwise, so `Accepted`/`Failed password …` or state pairs
 *    stay apart, while a user-name column merges once a few distinct names were seen.
 */
export interface MinerOptions {
  /** Cap on live clusters for this miner (one scope); the least recently used is evicted. */
  maxClusters?: number;
  /** Cap on the exact-signature cache (default 4 x maxClusters). */
  maxSignatures?: number;
  /** Only this many characters of a message are considered (bounded cost for huge lines). */
  maxChars?: number;
  /** Only this many tokens of a message are considered. */
  maxTokens?: number;
  /** Distinct words at one position (all else equal) before the position counts as a variable. */
  mergeValues?: number;
  /** Share of a template's tokens that must stay constant when a word position is generalised. */
  minConstantShare?: number;
  /** Extra masks from configuration, applied per whitespace token before the built-in typing. */
  extraMasks?: ExtraMask[];
}

export interface MinerMatch {
  clusterId: string;
  template: string;
  /** A cluster was created for this message. */
  isNew: boolean;
  /** The template of the returned cluster changed with this message (a position became variable). */
  changed: boolean;
}

/** A cluster's id and template, shared by every record assigned to it while the template holds. */
export interface TemplateRef {
  readonly id: string;
  readonly text: string;
}

export interface MinerStats {
  clusters: number;
  evicted: number;
  lines: number;
}

interface Cluster {
  id: string;
  /** Coarse tokens: what grouping compares. */
  tokens: string[];
  /** tokens joined by SEP: the key in its layout index. */
  key: string;
  /** Display tokens: the fine form where every message of the cluster agreed, else the coarse one. */
  display: string[];
  template: string;
  /** `{ id, text }` handed to records; replaced (never mutated) when the template changes. */
  ref: TemplateRef;
  count: number;
  /** Creation order; the oldest cluster of a merge survives so ids stay stable. */
  seq: number;
  /** Line counter at last use: the LRU order (a field write per line instead of a list move). */
  lastSeen: number;
  /** Set when merged away or evicted; stale signature-cache entries check it. */
  dead: boolean;
  into: Cluster | null;
}

interface MaskIndex {
  positions: number[];
  byKey: Map<string, Cluster>;
}

interface Message {
  fine: string[];
  kinds: number[];
  /** Hash of the exact signature (fine tokens and kinds): the signature-cache key. */
  h1: number;
  h2: number;
  coarse: string[] | null;
}

// Evidence compares a new cluster with at most this many clusters of its bucket (the oldest, which
// survived eviction because they are used), so never-repeating junk costs bounded work per line.
const MAX_SCAN = 64;

// A family member seen this often is an established constant, not a value of a variable.
const ESTABLISHED = 5;

// Token separator in keys: a control character never survives tokenizing, so keys cannot collide.
const SEP = '\u0001';

interface Bucket {
  clusters: Set<Cluster>;
  /** Keyed by the wildcard positions, kept sorted most specific first. */
  masks: Map<string, MaskIndex>;
  order: MaskIndex[];
}

export interface ClusterSnapshot {
  id: string;
  tokens: string[];
  display: string[];
  count: number;
  seq: number;
}

export interface MinerState {
  lines: number;
  evicted: number;
  seq: number;
  clusters: ClusterSnapshot[];
  aliases: Array<[string, string]>;
}

const DEFAULTS = {
  maxClusters: 2000,
  maxChars: 4096,
  maxTokens: 96,
  mergeValues: 3,
  minConstantShare: 0.34,
} as const;

export class TemplateMiner {
  private readonly maxClusters: number;
  private readonly mergeValues: number;
  private readonly minConstantShare: number;
  private readonly limits: { maxChars: number; maxTokens: number };
  private readonly extra: ExtraMasks;
  private readonly scanner: LineScanner;
  private readonly buckets = new Map<number, Bucket>();
  private readonly live = new Map<string, Cluster>();
  private readonly signatures: SignatureCache;
  private readonly aliases: LRUCache<string, string>;
  private lines = 0;
  private evicted = 0;
  private seq = 0;

  constructor(opts: MinerOptions = {}) {
    this.maxClusters = Math.max(1, opts.maxClusters ?? DEFAULTS.maxClusters);
    this.mergeValues = Math.max(2, opts.mergeValues ?? DEFAULTS.mergeValues);
    this.minConstantShare = Math.min(1, Math.max(0, opts.minConstantShare ?? DEFAULTS.minConstantShare));
    this.limits = {
      maxChars: Math.max(16, opts.maxChars ?? DEFAULTS.maxChars),
      maxTokens: Math.max(4, opts.maxTokens ?? DEFAULTS.maxTokens),
    };
    this.extra = new ExtraMasks(opts.extraMasks ?? []);
    this.scanner = new LineScanner(this.limits, this.extra);
    this.signatures = new SignatureCache(Math.max(16, opts.maxSignatures ?? this.maxClusters * 4));
    this.aliases = new LRUCache<string, string>({ max: this.maxClusters * 2 });
  }

  add(content: string): MinerMatch {
    const c = this.assign(content);
    return { clusterId: c.ref.id, template: c.ref.text, isNew: this.lastNew, changed: this.lastChanged };
  }

  /**
   * The hot path of `add`: the template of a message as a shared `{ id, text }` (no allocation on a
   * signature-cache hit). Records may keep the object: it is replaced, not changed, when the
   * cluster's template widens.
   */
  ref(content: string): TemplateRef {
    return this.assign(content).ref;
  }

  private lastNew = false;
  private lastChanged = false;

  private assign(content: string): Cluster {
    this.lines++;
    this.lastNew = false;
    this.lastChanged = false;
    const h1 = this.scanner.hash(content);
    const h2 = this.scanner.h2;
    const cached = this.cached(h1, h2);
    if (cached) {
      cached.count++;
      cached.lastSeen = this.lines;
      return cached;
    }
    const msg = this.messageOf(content, h1, h2);
    const found = this.find(msg);
    if (found) {
      found.count++;
      found.lastSeen = this.lines;
      this.signatures.set(h1, h2, found);
      this.lastChanged = this.widenDisplay(found, msg.fine);
      return found;
    }
    const created = this.create(coarse(msg), msg.fine.slice(), 1, this.seq++, null);
    this.signatures.set(h1, h2, created);
    const survivor = this.mergeEvidence(created);
    if (survivor === created) this.lastNew = true;
    else this.lastChanged = true;
    return survivor;
  }

  match(content: string): MinerMatch | null {
    const h1 = this.scanner.hash(content);
    const h2 = this.scanner.h2;
    const c = this.cached(h1, h2) ?? this.find(this.messageOf(content, h1, h2));
    return c ? { clusterId: c.id, template: c.template, isNew: false, changed: false } : null;
  }

  templateOf(clusterId: string): string | undefined {
    return this.resolveId(clusterId)?.template;
  }

  /** The live cluster id a (possibly merged-away) id now belongs to. */
  canonicalId(clusterId: string): string | undefined {
    return this.resolveId(clusterId)?.id;
  }

  countOf(clusterId: string): number | undefined {
    return this.resolveId(clusterId)?.count;
  }

  stats(): MinerStats {
    return { clusters: this.live.size, evicted: this.evicted, lines: this.lines };
  }

  /** Drop this miner's share of the process-wide cluster gauge (call when a scope goes away). */
  release(): void {
    metrics.minerClusters.dec(this.live.size);
  }

  state(): MinerState {
    const clusters: ClusterSnapshot[] = [];
    // Least recently used first, so a restore rebuilds the same recency order.
    for (const c of [...this.live.values()].sort((a, z) => a.lastSeen - z.lastSeen)) {
      clusters.push({ id: c.id, tokens: c.tokens, display: c.display, count: c.count, seq: c.seq });
    }
    const aliases: Array<[string, string]> = [];
    for (const from of this.aliases.rkeys()) {
      const to = this.aliases.peek(from);
      if (to !== undefined) aliases.push([from, to]);
    }
    return { lines: this.lines, evicted: this.evicted, seq: this.seq, clusters, aliases };
  }

  /** Compact, versioned bytes (see snapshot.ts); `restore` gives back the same ids and templates. */
  snapshot(): Uint8Array {
    return encodeState(this.state());
  }

  static restore(bytes: Uint8Array, opts: MinerOptions = {}): TemplateMiner {
    return TemplateMiner.fromState(decodeState(bytes), opts);
  }

  static fromState(state: MinerState, opts: MinerOptions = {}): TemplateMiner {
    const m = new TemplateMiner(opts);
    m.lines = state.lines;
    m.evicted = state.evicted;
    m.seq = state.seq;
    for (const c of state.clusters) {
      const display = c.display.length === c.tokens.length ? c.display : c.tokens.slice();
      m.create(c.tokens, display, c.count, c.seq, c.id);
    }
    for (const [from, to] of state.aliases) m.aliases.set(from, to);
    return m;
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Full tokens of a message (the signature-cache miss path: a second, complete scan). */
  private messageOf(content: string, h1: number, h2: number): Message {
    const t = this.scanner.tokenize(content);
    if (t.truncated && t.kinds[t.kinds.length - 1] !== KIND.variable) {
      t.fine.push(WILDCARD);
      t.kinds.push(KIND.variable);
    }
    return { fine: t.fine, kinds: t.kinds, h1, h2, coarse: null };
  }

  private setTemplate(c: Cluster, template: string): void {
    c.template = template;
    c.ref = { id: c.id, text: template };
  }

  private cached(h1: number, h2: number): Cluster | null {
    let c = this.signatures.get(h1, h2);
    if (!c) return null;
    while (c.into) c = c.into;
    if (!c.dead) return c;
    this.signatures.delete(h1, h2);
    return null;
  }

  /** Template lookup for a signature not in the cache: one probe per wildcard layout of its bucket. */
  private find(msg: Message): Cluster | null {
    const b = this.buckets.get(msg.fine.length);
    if (!b) return null;
    const tokens = coarse(msg);
    const key = tokens.join(SEP);
    const fw = firstWord(tokens);
    for (const m of b.order) {
      // The first word never falls into a `<*>`: it names the event (`GET` vs `POST` after an IP).
      if (m.positions.includes(fw)) continue;
      const found = m.positions.length === 0 ? m.byKey.get(key) : m.byKey.get(maskJoin(tokens, m.positions));
      if (found) return found;
    }
    // Partial wildcards (`(<*>)` admitting `(gateway.example)`) are not in the hash layouts.
    let budget = MAX_SCAN;
    for (const c of b.clusters) {
      if (--budget < 0) break;
      if (admits(c.tokens, tokens, fw)) return c;
    }
    return null;
  }

  /** Positions where this message's fine token differs from the display fall back to the coarse token. */
  private widenDisplay(c: Cluster, fine: string[]): boolean {
    let changed = false;
    for (let p = 0; p < c.display.length; p++) {
      const d = c.display[p]!;
      if (d !== fine[p] && d !== c.tokens[p]) {
        c.display[p] = c.tokens[p]!;
        changed = true;
      }
    }
    if (changed) this.setTemplate(c, c.display.join(' '));
    return changed;
  }

  private resolveId(id: string): Cluster | undefined {
    let cur = id;
    for (let hops = 0; hops < 64; hops++) {
      const c = this.live.get(cur);
      if (c) return c;
      const next = this.aliases.get(cur);
      if (next === undefined) return undefined;
      cur = next;
    }
    return undefined;
  }

  private create(tokens: string[], display: string[], count: number, seq: number, id: string | null): Cluster {
    const key = tokens.join(SEP);
    let cid = id ?? templateHash(`${tokens.length}${SEP}${key}`);
    if (id === null) {
      // A hash already in use (collision, or the same first template evicted and then merged
      // away under an alias) gets a suffix so ids never point at two patterns at once.
      for (let k = 2; this.live.has(cid) || this.aliases.has(cid); k++) cid = templateHash(`${key}${SEP}${k}`);
    }
    if (this.live.size >= this.maxClusters) this.evictLeastRecent();
    const template = display.join(' ');
    const c: Cluster = { id: cid, tokens, key, display, template, ref: { id: cid, text: template }, count, seq, lastSeen: this.lines, dead: false, into: null };
    this.live.set(cid, c);
    this.index(c);
    metrics.minerClusters.inc();
    return c;
  }

  private bucket(n: number): Bucket {
    let b = this.buckets.get(n);
    if (!b) {
      b = { clusters: new Set(), masks: new Map(), order: [] };
      this.buckets.set(n, b);
    }
    return b;
  }

  private index(c: Cluster): void {
    const b = this.bucket(c.tokens.length);
    b.clusters.add(c);
    const positions: number[] = [];
    for (let p = 0; p < c.tokens.length; p++) if (c.tokens[p] === WILDCARD) positions.push(p);
    const layout = positions.join(',');
    let m = b.masks.get(layout);
    if (!m) {
      m = { positions, byKey: new Map() };
      b.masks.set(layout, m);
      b.order.push(m);
      b.order.sort((x, y) => x.positions.length - y.positions.length);
    }
    m.byKey.set(c.key, c);
  }

  private unindex(c: Cluster): void {
    const b = this.buckets.get(c.tokens.length);
    if (!b) return;
    b.clusters.delete(c);
    const layout = wildcardKey(c.tokens);
    const m = b.masks.get(layout);
    if (m && m.byKey.get(c.key) === c) {
      m.byKey.delete(c.key);
      if (m.byKey.size === 0) {
        b.masks.delete(layout);
        b.order.splice(b.order.indexOf(m), 1);
      }
    }
    if (b.clusters.size === 0) this.buckets.delete(c.tokens.length);
  }

  /**
   * At the cap, evict the least recently used 1/32 of the clusters in one sort, so a stream of
   * never-repeating messages costs O(log n) per line for eviction rather than a scan per line.
   */
  private evictLeastRecent(): void {
    const batch = Math.max(1, Math.ceil(this.maxClusters / 32));
    const byAge = [...this.live.values()].sort((a, z) => a.lastSeen - z.lastSeen);
    for (let k = 0; k < batch && k < byAge.length; k++) this.onEvict(byAge[k]!);
  }

  private onEvict(c: Cluster): void {
    this.live.delete(c.id);
    c.dead = true;
    this.unindex(c);
    this.evicted++;
    metrics.minerEvictions.inc();
    metrics.minerClusters.dec();
  }

  /** Evidence step for a new cluster (see the class comment). Returns the surviving cluster. */
  private mergeEvidence(x: Cluster): Cluster {
    const b = this.buckets.get(x.tokens.length);
    if (!b || b.clusters.size < 2) return x;
    const s = x.tokens;
    const n = s.length;
    // A new template with `<*>` where older clusters hold a word covers them (`user test9` after
    // `user webmaster`), or an older one covers it: one pattern, the oldest id survives.
    let covered: Cluster[] | null = null;
    let budget = MAX_SCAN;
    for (const c of b.clusters) {
      if (--budget < 0) break;
      if (c !== x && (this.covers(s, c.tokens) || this.covers(c.tokens, s))) (covered ??= []).push(c);
    }
    if (covered) return this.merge([x, ...covered], -1);
    let family: Map<number, Cluster[]> | null = null;
    const fw = firstWord(s);
    budget = MAX_SCAN;
    for (const c of b.clusters) {
      if (--budget < 0) break;
      if (c === x) continue;
      const t = c.tokens;
      const cfw = firstWord(t);
      let diff = -1;
      for (let p = 0; p < n; p++) {
        const tp = t[p]!;
        if (tp === s[p] || (p !== fw && p !== cfw && (tp === WILDCARD || fits(tp, s[p]!) || fits(s[p]!, tp)))) continue;
        if (diff >= 0) {
          diff = -2;
          break;
        }
        diff = p;
      }
      if (diff < 0 || diff === fw || diff === cfw) continue; // the first word names the event: never a variable
      family ??= new Map();
      const list = family.get(diff);
      if (list) list.push(c);
      else family.set(diff, [c]);
    }
    if (!family) return x;
    for (const [q, members] of [...family].sort((a, z) => a[0] - z[0])) {
      const values = new Set<string>([s[q]!]);
      for (const c of members) values.add(c.tokens[q]!);
      // States and symbols (`LOOKING`, `FOLLOWING`, `x+`) are enums, and values that each already
      // occurred often are constants of separate events (Brain's frequency argument): both need
      // more evidence than rare values such as user or host names.
      const established = members.every((c) => c.count >= ESTABLISHED);
      const needed = established || [...values].every(isEnumLike) ? this.mergeValues + 2 : this.mergeValues;
      if (values.size >= needed && this.keepsConstants(x.tokens, q)) return this.merge([x, ...members], q);
    }
    return x;
  }

  private merge(group: Cluster[], q: number): Cluster {
    let survivor = group[0]!;
    for (const c of group) if (c.seq < survivor.seq) survivor = c;
    const tokens = survivor.tokens.slice();
    if (q >= 0) tokens[q] = WILDCARD;
    for (const c of group) for (let p = 0; p < tokens.length; p++) if (!fits(tokens[p]!, c.tokens[p]!)) tokens[p] = WILDCARD;
    this.unindex(survivor);
    const display = survivor.display.slice();
    const all = [...group];
    const b = this.buckets.get(tokens.length);
    // Clusters the generalised template now covers belong to it too.
    if (b) for (const c of b.clusters) if (!all.includes(c) && this.covers(tokens, c.tokens)) all.push(c);
    for (const c of all) for (let p = 0; p < display.length; p++) if (display[p] !== c.display[p]) display[p] = tokens[p]!;
    for (let p = 0; p < display.length; p++) if (tokens[p] === WILDCARD && survivor.tokens[p] !== WILDCARD) display[p] = WILDCARD;
    survivor.tokens = tokens;
    survivor.key = tokens.join(SEP);
    survivor.display = display;
    this.setTemplate(survivor, display.join(' '));
    for (const c of all) {
      if (c === survivor) continue;
      if (c.lastSeen > survivor.lastSeen) survivor.lastSeen = c.lastSeen;
      this.absorb(survivor, c);
    }
    this.index(survivor);
    return survivor;
  }

  /**
   * `template` covers `tokens` when it equals them except where it has `<*>`, and turning those
   * words into variables is allowed (not the first word, enough constants left).
   */
  private covers(template: string[], tokens: string[]): boolean {
    let widened = false;
    const fwt = firstWord(template);
    const fw = firstWord(tokens);
    for (let p = 0; p < template.length; p++) {
      const t = template[p]!;
      const w = tokens[p]!;
      if (t === w) continue;
      if (p === fw || p === fwt) return false;
      if (t === WILDCARD) widened = true;
      else if (!fits(t, w)) return false;
    }
    return !widened || this.constants(template) >= this.minConstants(template.length);
  }

  private keepsConstants(tokens: string[], q: number): boolean {
    return this.constants(tokens) - (tokens[q] === WILDCARD ? 0 : 1) >= this.minConstants(tokens.length);
  }

  private constants(tokens: string[]): number {
    let k = 0;
    for (const t of tokens) if (t !== WILDCARD) k++;
    return k;
  }

  /** Short messages are mostly constants; a template must keep at least this many words. */
  private minConstants(n: number): number {
    return Math.max(1, Math.ceil(n * this.minConstantShare));
  }

  private absorb(survivor: Cluster, c: Cluster): void {
    this.unindex(c);
    c.dead = true;
    c.into = survivor;
    survivor.count += c.count;
    this.live.delete(c.id);
    this.aliases.set(c.id, survivor.id);
    metrics.minerClusters.dec();
  }
}

interface SigEntry {
  h2: number;
  cluster: Cluster;
  /** Next entry whose first lane is the same (30-bit keys do collide at tens of thousands). */
  next: SigEntry | null;
}

/**
 * Exact-signature cache in two generations: lookups hit the current map, then the previous one
 * (and move the entry forward); when the current map is full it becomes the previous one. Bounded
 * at 2 x max entries, and a plain Map lookup by a small integer per line instead of a linked-list
 * LRU update.
 */
class SignatureCache {
  private cur = new Map<number, SigEntry>();
  private old = new Map<number, SigEntry>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(h1: number, h2: number): Cluster | undefined {
    const c = find(this.cur.get(h1), h2);
    if (c !== undefined) return c;
    const o = find(this.old.get(h1), h2);
    if (o !== undefined) this.set(h1, h2, o);
    return o;
  }
  set(h1: number, h2: number, c: Cluster): void {
    if (this.cur.size >= this.max) {
      this.old = this.cur;
      this.cur = new Map();
    }
    const head = without(this.cur.get(h1), h2);
    this.cur.set(h1, { h2, cluster: c, next: head });
  }
  delete(h1: number, h2: number): void {
    for (const m of [this.cur, this.old]) {
      const rest = without(m.get(h1), h2);
      if (rest) m.set(h1, rest);
      else m.delete(h1);
    }
  }
}

function find(e: SigEntry | undefined | null, h2: number): Cluster | undefined {
  for (; e; e = e.next) if (e.h2 === h2) return e.cluster;
  return undefined;
}

/** The chain without the entry for h2 (chains are one or two entries long). */
function without(e: SigEntry | undefined | null, h2: number): SigEntry | null {
  if (!e) return null;
  if (e.h2 === h2) return e.next;
  e.next = without(e.next, h2);
  return e;
}

function coarse(msg: Message): string[] {
  if (!msg.coarse) msg.coarse = msg.fine.map((f, i) => coarseOf(f, msg.kinds[i]!));
  return msg.coarse;
}

/** ALL-CAPS identifiers and one- or two-character symbols read as enum values, not free variables. */
function isEnumLike(v: string): boolean {
  if (v.length <= 2) return true;
  return /^[A-Z][A-Z0-9_]*[A-Z0-9]$/.test(v);
}

/** An existing template takes these tokens as they are (no widening). */
function admits(template: string[], tokens: string[], fw: number): boolean {
  for (let p = 0; p < template.length; p++) {
    const t = template[p]!;
    const w = tokens[p]!;
    if (t === w) continue;
    if (p === fw || !fits(t, w)) return false;
  }
  return true;
}

/** Position of the first token that is not a variable (the event's name), or -1. */
function firstWord(tokens: string[]): number {
  for (let p = 0; p < tokens.length; p++) if (tokens[p] !== WILDCARD) return p;
  return -1;
}

function maskJoin(tokens: string[], positions: number[]): string {
  const copy = tokens.slice();
  for (const p of positions) copy[p] = WILDCARD;
  return copy.join(SEP);
}

function wildcardKey(tokens: string[]): string {
  let key = '';
  for (let p = 0; p < tokens.length; p++) if (tokens[p] === WILDCARD) key += key ? `,${p}` : `${p}`;
  return key;
}


/**
 * Whether template token `t` admits token `w`: equal, a full wildcard, or a partial wildcard such as
 * `(<*>)` whose fixed parts frame `w` (`(host.example)`, `()`): the variable part is already known,
 * a word or nothing in its place is just another value.
 */
function fits(t: string, w: string): boolean {
  if (t === w || t === WILDCARD) return true;
  if (!t.includes(WILDCARD)) return false;
  const parts = t.split(WILDCARD);
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (w.length < first.length + last.length || !w.startsWith(first) || !w.endsWith(last)) return false;
  // When `w` has variables of its own, what the wildcards absorb must hold a word character:
  // `Package_for_RollupFix~<*>` is a value of `<*>~<*>`, but `instruction......<*>` is not one of
  // `instruction...<*>` (only punctuation differs: different structure).
  const strict = w.includes(WILDCARD);
  let at = first.length;
  const stop = w.length - last.length;
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k]!;
    const found = k === parts.length - 1 ? stop : w.indexOf(part, at);
    if (found < 0 || found < at || found + part.length > w.length - (k === parts.length - 1 ? 0 : last.length)) return false;
    if (strict && onlyPunctuation(w, at, found)) return false;
    at = found + part.length;
  }
  return true;
}

/** Between a and b, `w` holds punctuation but no word character (wildcards aside). */
function onlyPunctuation(w: string, a: number, b: number): boolean {
  let punct = false;
  for (let x = a; x < b; x++) {
    if (w.startsWith(WILDCARD, x)) {
      x += 2;
      continue;
    }
    const c = w.charCodeAt(x);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127) return false;
    punct = true;
  }
  return punct;
}
