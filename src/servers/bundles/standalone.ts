/**
 * Standalone mode of the bundle server: a host without Kubernetes, whose services come from the
 * `services:` section (each with file globs, journald units and a metrics URL). A bundle holds, per
 * selected service, the last `tailLines` lines of each of its current log files (read from the end in
 * bounded chunks), its journal units' entries (`journalctl --output=json`, the last `tailLines` or a
 * time window), and a scrape of its metrics URL.
 *
 * Log lines of every source are filtered (includePatterns, excludePatterns), then merged globally by
 * timestamp under the final maxTotalLogLines budget, which keeps the newest lines. A line without a
 * timestamp of its own ranks with the previous timestamp of its source; one before any timestamp of its
 * source ranks before every timed line, in read order (so the budget drops it first). Memory stays
 * bounded: a source is streamed into a heap that never holds more than the budget.
 * Diagnostic records (a missing file, an unreadable one, no journalctl, a journal it may not read) are
 * outside the budget and counted in the `log_summary` record; no source failure fails a bundle.
 */
import { spawn } from 'node:child_process';
import { glob, open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseRfc3339 } from '../../parse/timestamp.ts';
import { messageOf, timestampOf, type JournalEntry } from '../../sources/journald/entry.ts';
import { type BundleRecord, defaultFetchMetrics, type Emit } from './collect.ts';
import type { ServiceRef, StandaloneParams } from './request.ts';

/** One configured service, as the bundle server reads it from `services.list[]`. */
export interface StandaloneService {
  readonly name: string;
  /** Absolute glob patterns of its log files. */
  readonly files: readonly string[];
  /** Its journald units. */
  readonly units: readonly string[];
  readonly metricsUrl?: string | undefined;
}

/** What standalone mode serves: the `services:` section's list and journal settings. */
export interface StandaloneConfig {
  readonly host: string;
  readonly services: readonly StandaloneService[];
  /** The journalctl binary (`services.journalctl`). */
  readonly journalctl: string;
  /** `services.journalDirectory`: `journalctl --directory`. */
  readonly journalDirectory?: string | undefined;
}

export const serviceRefs = (c: StandaloneConfig): ServiceRef[] => c.services.map((s) => ({ name: s.name, hasJournal: s.units.length > 0 }));

export interface StandaloneCollectOptions {
  config: StandaloneConfig;
  params: StandaloneParams;
  /** The selected services (resolveStandaloneTarget), in configuration order. */
  services: readonly StandaloneService[];
  bundleId: string;
  createdAt: string;
  maxLineBytes: number;
  maxMetricsBytes: number;
  signal: AbortSignal;
  fetchMetrics?: (url: string, timeoutMs: number, maxBytes: number, signal: AbortSignal) => Promise<string>;
  now?: () => number;
}

/** Files matched per service; past it the rest are one `max_files` skip record. */
export const MAX_FILES_PER_SERVICE = 64;
/** Rotated or compressed siblings a glob matches (`app.log.1`, `app.log.2.gz`, `app.log-20260201`) are not tailed. */
export const ROTATED = /(\.\d+|\.(gz|xz|bz2|zst|lz4|zip|z)|-\d{8}(\d{2,6})?)$/i;
const GLOB_CHARS = /[*?[\]{}]/;
const CHUNK = 64 * 1024;

// ── timestamps ───────────────────────────────────────────────────────────────────────────────

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?$/;
/**
 * The timestamp a file line starts with, as epoch ms, or null. RFC 3339 with an offset or `Z`
 * (`2026-02-09T00:00:01.123Z`, `2026-02-09 00:00:01,123+01:00`), optionally in `[…]`, through the
 * project's parser (src/parse/timestamp.ts); the same without an offset is read in the host's local
 * time zone (what a process on this host writes). Anything else is untimed.
 */
export function lineTimestamp(line: string): number | null {
  let s = line.length > 64 ? line.slice(0, 64) : line;
  if (s.startsWith('[')) s = s.slice(1);
  const m = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|z|[+-]\d{2}:?\d{2})?)(?=$|[\s\]|,;])/.exec(s);
  if (!m) return null;
  const p = parseRfc3339(m[1]!);
  if (p) return p.ms;
  const l = LOCAL.exec(m[1]!);
  if (!l) return null;
  const ms = new Date(+l[1]!, +l[2]! - 1, +l[3]!, +l[4]!, +l[5]!, +l[6]!, Math.floor(+(l[7] ?? '0').padEnd(3, '0').slice(0, 3))).getTime();
  return Number.isFinite(ms) ? ms : null;
}

// ── reading a file's tail ──────────────────────────────────────────────────────────────────

function capBytes(b: Buffer, maxBytes: number): string {
  if (b.length <= maxBytes) return b.toString('utf8');
  return `${b.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '')}…[truncated]`;
}

/**
 * Calls `onLine` with the last `n` lines of `path`, oldest first, reading from the end in 64 KiB
 * chunks: first backwards to find where those lines start (counting newlines only), then forwards
 * from there, each line cut at `maxLineBytes` while it is read. Memory is one chunk plus one capped
 * line, whatever the file's size. Only the bytes present at open are read (appends after are not).
 * A trailing newline ends the last line; a last line without one (being written) is a line too.
 */
export async function tailFile(path: string, n: number, maxLineBytes: number, onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${st.isDirectory() ? 'a directory' : 'not a regular file'}`), { code: st.isDirectory() ? 'EISDIR' : 'ENOTFILE' });
    const size = st.size;
    if (size === 0 || n <= 0) return;
    const buf = Buffer.allocUnsafe(CHUNK);
    let start = 0;
    let seen = 0;
    let pos = size;
    back: while (pos > 0) {
      signal?.throwIfAborted();
      const len = Math.min(CHUNK, pos);
      const from = pos - len;
      const { bytesRead } = await fh.read(buf, 0, len, from);
      for (let i = bytesRead - 1; i >= 0; i--) {
        if (buf[i] !== 0x0a || from + i === size - 1) continue;
        if (++seen === n) {
          start = from + i + 1;
          break back;
        }
      }
      pos = from;
    }
    // Forwards from `start`: split, cap each line while it is read.
    const parts: Buffer[] = [];
    let partBytes = 0;
    let over = false;
    const flush = () => {
      let line = Buffer.concat(parts, Math.min(partBytes, maxLineBytes + 1));
      if (line.length && line[line.length - 1] === 0x0d && !over) line = line.subarray(0, -1);
      onLine(capBytes(line, maxLineBytes));
      parts.length = 0;
      partBytes = 0;
      over = false;
    };
    let at = start;
    while (at < size) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
      let from = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, from);
        const end = nl < 0 || nl >= bytesRead ? bytesRead : nl;
        if (!over) {
          const room = maxLineBytes + 1 - partBytes;
          const piece = buf.subarray(from, Math.min(end, from + room));
          if (piece.length) {
            parts.push(Buffer.from(piece));
            partBytes += piece.length;
          }
          if (end - from > room) over = true;
        }
        if (end === bytesRead) break;
        flush();
        from = end + 1;
      }
    }
    if (partBytes > 0 || over) flush();
  } finally {
    await fh.close();
  }
}

// ── the bounded global merge ─────────────────────────────────────────────────────────────────

export interface MergeItem {
  /** Rank: the line's own timestamp, else its source's previous one, else -Infinity. */
  readonly rank: number;
  /** Global read order (sources in order, lines in order): breaks ties and orders untimed lines. */
  readonly seq: number;
  readonly source: number;
  readonly ms: number | null;
  readonly line: string;
}

const before = (a: MergeItem, b: MergeItem): boolean => (a.rank !== b.rank ? a.rank < b.rank : a.seq < b.seq);

/** Keeps the `capacity` greatest items by (rank, seq): a min-heap, so memory is capacity items. */
export class NewestLines {
  private readonly heap: MergeItem[] = [];
  readonly capacity: number;
  /** Items offered (the matched lines). */
  offered = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.heap.length;
  }

  push(x: MergeItem): void {
    this.offered++;
    const h = this.heap;
    if (h.length < this.capacity) {
      h.push(x);
      let i = h.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!before(h[i]!, h[p]!)) break;
        [h[i], h[p]] = [h[p]!, h[i]!];
        i = p;
      }
      return;
    }
    if (this.capacity === 0 || !before(h[0]!, x)) return;
    h[0] = x;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }

  /** The kept items, oldest first (empties the heap). */
  drain(): MergeItem[] {
    const out = this.heap.splice(0);
    out.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    return out;
  }
}

// ── the journal ────────────────────────────────────────────────────────────────────────────

export type JournalOutcome = { ok: true } | { ok: false; reason: 'journalctl_not_found' | 'journal_permission_denied' | 'journal_read_error'; error: string };

/** journalctl's arguments for one unit: `--lines` when there is no window, `--since`/`--until` (epoch seconds) when there is. */
export function journalArgs(unit: string, o: { directory?: string | undefined; lines: number; sinceMs?: number; untilMs?: number }): string[] {
  const args = ['--output=json', '--no-pager', `--unit=${unit}`];
  if (o.directory) args.push(`--directory=${o.directory}`);
  if (o.sinceMs !== undefined) {
    args.push(`--since=@${Math.floor(o.sinceMs / 1000)}`);
    if (o.untilMs !== undefined) args.push(`--until=@${Math.ceil(o.untilMs / 1000)}`);
  } else args.push(`--lines=${o.lines}`);
  return args;
}

const DENIED_RE = /insufficient permissions|Permission denied|Operation not permitted/i;

/**
 * Runs journalctl for one unit and calls `onEntry` per entry (its realtime ms or null, its MESSAGE).
 * A missing binary, a journal it may not read (by what journalctl says on stderr) and any other
 * failure are an outcome, never a throw (except abort).
 */
export function readJournal(journalctl: string, args: string[], maxLineBytes: number, onEntry: (ms: number | null, line: string) => void, signal: AbortSignal): Promise<JournalOutcome> {
  return new Promise<JournalOutcome>((resolve, reject) => {
    let child;
    try {
      child = spawn(journalctl, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '', LC_ALL: 'C' } });
    } catch (err) {
      resolve({ ok: false, reason: 'journal_read_error', error: (err as Error).message.slice(0, 300) });
      return;
    }
    let stderr = '';
    let spawnError: NodeJS.ErrnoException | null = null;
    const onAbort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-4096);
    });
    const rl = createInterface({ input: child.stdout, crlfDelay: Infinity });
    rl.on('line', (raw) => {
      if (!raw.startsWith('{')) return;
      let e: JournalEntry;
      try {
        e = JSON.parse(raw) as JournalEntry;
      } catch {
        return;
      }
      const msg = messageOf(e);
      if (msg === undefined) return;
      const rt = e.__REALTIME_TIMESTAMP;
      const t = timestampOf(typeof rt === 'string' ? rt : undefined);
      onEntry(t ? t.ms : null, capBytes(Buffer.from(msg, 'utf8'), maxLineBytes));
    });
    child.once('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      rl.close();
      if (signal.aborted) return reject(signal.reason as Error);
      const err = spawnError as NodeJS.ErrnoException | null;
      if (err) {
        if (err.code === 'ENOENT') return resolve({ ok: false, reason: 'journalctl_not_found', error: `journalctl not found (${journalctl})` });
        return resolve({ ok: false, reason: err.code === 'EACCES' ? 'journal_permission_denied' : 'journal_read_error', error: `journalctl could not be started: ${err.message}`.slice(0, 300) });
      }
      const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
      const denied = lines.find((l) => DENIED_RE.test(l));
      if (denied) return resolve({ ok: false, reason: 'journal_permission_denied', error: denied.slice(0, 300) });
      if (code !== 0) return resolve({ ok: false, reason: 'journal_read_error', error: (lines.at(-1) ?? `journalctl exited (${sig ? `signal ${sig}` : `code ${code}`})`).slice(0, 300) });
      resolve({ ok: true });
    });
  });
}

// ── the bundle ─────────────────────────────────────────────────────────────────────────────

interface SourceInfo {
  service: string;
  file?: string;
  journal?: string;
  status: 'ok' | 'skipped';
  reason?: string;
  readRecords: number;
  matchedRecords: number;
  returnedRecords: number;
}

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException)?.code ?? '';
const errText = (err: unknown): string => ((err as Error)?.message ?? String(err)).slice(0, 300);

/** The current files a service's globs match (rotated siblings left out), sorted, per pattern. */
async function filesOf(patterns: readonly string[]): Promise<Array<{ pattern: string; files: string[] }>> {
  const out: Array<{ pattern: string; files: string[] }> = [];
  for (const pattern of patterns) {
    const files = new Set<string>();
    if (!GLOB_CHARS.test(pattern)) {
      // A literal path is read as named (also `app.log.1` when the operator wrote that).
      for await (const p of glob(pattern)) files.add(p);
    } else {
      for await (const p of glob(pattern)) if (!ROTATED.test(p)) files.add(p);
    }
    out.push({ pattern, files: [...files].sort() });
  }
  return out;
}

export async function collectStandalone(o: StandaloneCollectOptions, emit: Emit): Promise<{ logLines: number; diagnostics: number }> {
  const { params, signal } = o;
  const now = o.now ?? Date.now;
  const iso = () => new Date(now()).toISOString();
  const logs = params.include.logs;

  await emit({
    type: 'meta',
    bundleId: o.bundleId,
    createdAt: o.createdAt,
    mode: 'standalone',
    host: o.config.host,
    params,
    services: o.services.map((s) => s.name),
  });

  let diagnostics = 0;
  const diag = async (r: BundleRecord) => {
    diagnostics++;
    await emit(r);
  };
  let returned = 0;
  let matched = 0;
  if (logs.enabled) {
    const heap = new NewestLines(params.limits.maxTotalLogLines);
    const sources: SourceInfo[] = [];
    const keep = (line: string) => (logs.includePatterns.length === 0 || logs.includePatterns.some((p) => line.includes(p))) && !logs.excludePatterns.some((p) => line.includes(p));
    let seq = 0;
    /** The line sink of one source: untimed lines inherit the source's previous timestamp; filtered before the heap. */
    const sinkOf = (index: number, info: SourceInfo, window?: { from: number; to: number }) => {
      let last = -Infinity;
      return (ms: number | null, line: string) => {
        if (window && ms !== null && (ms < window.from || ms > window.to)) return;
        info.readRecords++;
        if (ms !== null) last = ms;
        if (!keep(line)) return;
        info.matchedRecords++;
        heap.push({ rank: ms ?? last, seq: seq++, source: index, ms, line });
      };
    };
    const w = params.timeWindow;
    const window = w === null ? undefined : w.kind === 'relative' ? { from: now() - w.sinceSeconds * 1000, to: Infinity } : { from: w.startMs, to: w.endMs };

    for (const svc of o.services) {
      signal.throwIfAborted();
      // ── files: the last tailLines lines of each current file ──
      let matchedFiles: Array<{ pattern: string; files: string[] }> = [];
      try {
        matchedFiles = await filesOf(svc.files);
      } catch (err) {
        await diag({ type: 'log', service: svc.name, file: svc.files.join(','), ts: iso(), skipped: true, reason: 'read_error', error: errText(err) });
      }
      let count = 0;
      for (const { pattern, files } of matchedFiles) {
        if (files.length === 0) {
          sources.push({ service: svc.name, file: pattern, status: 'skipped', reason: 'file_not_found', readRecords: 0, matchedRecords: 0, returnedRecords: 0 });
          await diag({ type: 'log', service: svc.name, file: pattern, ts: iso(), skipped: true, reason: 'file_not_found' });
          continue;
        }
        for (const file of files) {
          signal.throwIfAborted();
          if (++count > MAX_FILES_PER_SERVICE) {
            await diag({ type: 'log', service: svc.name, file: pattern, ts: iso(), skipped: true, reason: 'max_files', error: `more than ${MAX_FILES_PER_SERVICE} files; the rest are not read` });
            break;
          }
          const info: SourceInfo = { service: svc.name, file, status: 'ok', readRecords: 0, matchedRecords: 0, returnedRecords: 0 };
          const index = sources.push(info) - 1;
          const sink = sinkOf(index, info);
          try {
            await tailFile(file, logs.tailLines, o.maxLineBytes, (line) => sink(lineTimestamp(line), line), signal);
          } catch (err) {
            if (signal.aborted) throw err;
            const reason = errCode(err) === 'ENOENT' ? 'file_not_found' : 'read_error';
            info.status = 'skipped';
            info.reason = reason;
            await diag({ type: 'log', service: svc.name, file, ts: iso(), skipped: true, reason, ...(reason === 'read_error' ? { error: errText(err) } : {}) });
          }
        }
      }
      // ── journal: each unit, the last tailLines entries or the window ──
      for (const unit of svc.units) {
        signal.throwIfAborted();
        const info: SourceInfo = { service: svc.name, journal: unit, status: 'ok', readRecords: 0, matchedRecords: 0, returnedRecords: 0 };
        const index = sources.push(info) - 1;
        const args = journalArgs(unit, {
          directory: o.config.journalDirectory,
          lines: logs.tailLines,
          ...(window ? { sinceMs: window.from, ...(Number.isFinite(window.to) ? { untilMs: window.to } : {}) } : {}),
        });
        const outcome = await readJournal(o.config.journalctl, args, o.maxLineBytes, sinkOf(index, info, window), signal);
        if (!outcome.ok) {
          info.status = 'skipped';
          info.reason = outcome.reason;
          await diag({ type: 'log', service: svc.name, journal: unit, ts: iso(), skipped: true, reason: outcome.reason, error: outcome.error });
        }
      }
    }

    // ── the merged, budgeted lines, oldest first ──
    matched = heap.offered;
    for (const x of heap.drain()) {
      signal.throwIfAborted();
      const s = sources[x.source]!;
      s.returnedRecords++;
      returned++;
      const ts = x.ms !== null ? new Date(x.ms).toISOString() : Number.isFinite(x.rank) ? new Date(x.rank).toISOString() : null;
      await emit({ type: 'log', service: s.service, ...(s.file !== undefined ? { file: s.file } : { journal: s.journal }), ts, line: x.line, ...(x.ms === null ? { untimed: true } : {}) });
    }
    await emit({
      type: 'log_summary',
      ts: iso(),
      lineLimited: matched > returned,
      matchedLogRecords: matched,
      returnedLogRecords: returned,
      diagnosticRecords: diagnostics,
      maxTotalLogLines: params.limits.maxTotalLogLines,
      sources,
    });
  }

  // ── metrics: each selected service's metricsUrl ──
  if (params.include.metrics.enabled) {
    const fetcher = o.fetchMetrics ?? defaultFetchMetrics;
    for (const svc of o.services) {
      signal.throwIfAborted();
      if (!svc.metricsUrl) {
        await emit({ type: 'metrics_text', service: svc.name, url: null, ts: iso(), skipped: true, reason: 'no_metrics_url' });
        continue;
      }
      try {
        const content = await fetcher(svc.metricsUrl, params.limits.metricsTimeoutMs, o.maxMetricsBytes, signal);
        await emit({ type: 'metrics_text', service: svc.name, url: svc.metricsUrl, ts: iso(), ok: true, content });
      } catch (err) {
        if (signal.aborted) throw err;
        await emit({ type: 'metrics_text', service: svc.name, url: svc.metricsUrl, ts: iso(), ok: false, error: errText(err) });
      }
    }
  }
  return { logLines: returned, diagnostics };
}
