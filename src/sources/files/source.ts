import { fstatSync, readSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { glob, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, matchesGlob } from 'node:path';
import type { Observable } from 'rxjs';
import type { Logger } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import type { LogRecord, RecordPosition, Target } from '../../model/log-record.ts';
import type { StateStore } from '../../state/store.ts';
import { SourceAcks } from '../../delivery/acks.ts';
import type { Pressure } from '../../delivery/pressure.ts';
import { Batcher } from '../kube/batcher.ts';
import type { Source } from '../types.ts';
import { ReadTurns } from './read-turns.ts';
import { MultilineJoiner, type JoinedRecord, type MultilineOptions } from './multiline.ts';
import { Content, fingerprintOf, hashPrefix, matchFingerprint, MAX_ANCHORS, MIN_MATCH_BYTES, PositionStore, type FileRecordJson, type IndexJson, type OrphanJson } from './positions.ts';
import { FileLineSplitter, type FileLine } from './splitter.ts';
import { Entry } from './entry.ts';

export interface FileSourceOptions {
  /** Absolute glob patterns (`*`, `**`, `?`, `[…]`, `{a,b}`). */
  include: string[];
  /** Paths matching any of these are skipped. */
  exclude: string[];
  /** Where a file without a stored position is read from, for files already there at the first start. */
  readFrom: 'start' | 'end';
  maxOpenFiles: number;
  fingerprintBytes: number;
  maxLineBytes: number;
  pollIntervalMs: number;
  scanIntervalMs: number;
  closeIdleMs: number;
  rotateWaitMs: number;
  positionsFlushMs: number;
  /** Key scope of the positions in the state store (the host by default). */
  scope: string;
  multiline: MultilineOptions & { timeoutMs: number };
  /** Labels of every record; `file` is set per file. */
  target: Omit<Target, 'file'>;
  store: StateStore;
  log: Logger;
  /** The log sink's queue fill: reading pauses above 0.9 until it is under 0.7. */
  pressure?: Pressure;
  /**
   * Date lines by stored offset anchors (default true; docs/files.md, "Timestamps"). false when the
   * consumer dates every line from its content (CRI lines carry the kubelet's timestamp): no anchor
   * is stored, so a trickling file costs no store write per second, and records carry the read time.
   */
  anchors?: boolean;
  /**
   * Count records in `rsd_lines_in_total{source="file"}` (default true). false when a source on top
   * counts what it makes of them (the files profile counts reassembled pod lines as `source="pod"`).
   */
  countLines?: boolean;
  /** Watch directories with fs.watch (inotify) besides polling (default true). */
  watch?: boolean;
  batchMaxRecords?: number;
  batchMaxWaitMs?: number;
}

/** The position a file record carries: the content key, its timestamp, and the offset after it. */
export interface FilePosition extends RecordPosition {
  end: number;
  /** The record ended inside an oversized line: resume by skipping to the next newline. */
  skip?: true;
}

/** Bytes asked for per read (into a reused buffer: a short read of a trickling file costs no more). */
const READ_LARGE = 256 * 1024;
/** Bytes read from one file before yielding to the others. */
const FAIR_SHARE = 1024 * 1024;
/**
 * A file read to its end is read again at most this often, however many change events arrive: the
 * change events of all files wait for one shared tick of this period (`wakeOnTick`), so a file
 * appended a line at a time is read a few lines per read instead of one read (and a stat) per line.
 * 500 files at 10 lines/s cost 158 µs of CPU per line read one by one.
 */
const READ_COALESCE_MS = 250;
/**
 * A file growing faster than this is hot: it is read at every change event, without the coalescing
 * delay. A copytruncate rotation (logrotate copies, fsyncs the copy, then truncates) loses what was
 * appended between the end of the copy and the truncation unless it was read from the live file in
 * time; at 5,000 lines/s that window holds 20–50 lines, and a 250 ms delay misses nearly all of them.
 * 500 files at 10 lines/s (~1.5 KiB/s each) stay far below it.
 */
const HOT_BYTES_PER_SEC = 32 * 1024;
/** The rate is measured over windows of at least this long. */
const RATE_WINDOW_MS = 250;
/** A new file shorter than the fingerprint waits this long for more bytes (it may be a copy being made). */
const SETTLE_MS = 1000;
const ORPHAN_TTL_MS = 10 * 60_000;
const MAX_ORPHANS = 64;
const MAX_WATCHED_DIRS = 1024;
const HEARTBEAT_MS = 60_000;
const FINISHING_TTL_MS = 10 * 60_000;
const IO_CONCURRENCY = 32;
/**
 * Reads (of all files) between the disk and the sink at once. Four keep the libuv pool (4 threads)
 * busy while the pipeline works on the last read; the sink's queue is then overshot by at most four
 * reads (1 MiB) when it fills.
 */
const READ_CONCURRENCY = 4;
const TAIL_BYTES = 32;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

async function mapLimit<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The static directory part of a glob pattern (what can be watched before anything matched). */
export function staticDir(pattern: string): string {
  const parts = pattern.split('/');
  const out: string[] = [];
  for (const p of parts.slice(0, -1)) {
    if (/[*?[\]{}]/.test(p)) break;
    out.push(p);
  }
  return out.join('/') || '/';
}

interface Owned {
  content: Content;
  owner: Entry | 'orphan' | 'finishing';
  /** finishing: the file id whose record it still is. */
  id?: string;
}

interface Orphan {
  content: Content;
  at: number;
  read: number;
}

/**
 * The file source: follows files matched by glob patterns, through rename+create, copytruncate and
 * deletion, with positions in the state store advanced only on the sink's acknowledgement. Subscribe
 * to records$ before start().
 */
export class FileSource implements Source {
  readonly name = 'files';
  readonly records$: Observable<LogRecord[]>;
  /** On every record: delivered records advance the positions (their `position.end`). */
  readonly acks = new SourceAcks(this.name, (records) => this.acknowledged(records));
  private readonly o: FileSourceOptions;
  private readonly log: Logger;
  private readonly batcher: Batcher;
  private readonly positions: PositionStore;
  private readonly byId = new Map<string, Entry>();
  private readonly byPath = new Map<string, Entry>();
  private readonly contents = new Map<string, Owned>();
  private readonly fpIndex = new Map<string, Set<Entry>>();
  private readonly finishing = new Map<string, Owned>();
  private orphans: Orphan[] = [];
  /** New files recognised as copies of a live file, waiting for its truncation. */
  private readonly copies = new Set<Entry>();
  private readonly queue = new Set<Entry>();
  /** Files at their end that changed, woken together at the next tick (READ_COALESCE_MS). */
  private readonly tickWaiting = new Set<Entry>();
  private tickTimer: NodeJS.Timeout | undefined;
  private openCount = 0;
  /** Readers waiting for acknowledgements of their file. */
  private lagging = 0;
  private readonly turns: ReadTurns;
  /**
   * One read buffer per turn, reused: a catch-up of 150 MiB allocated 600 buffers of 256 KiB that
   * lived until the next full GC (147 MiB of ArrayBuffers at the peak with a 128 MiB heap).
   */
  private readonly readBuffers: Buffer[] = [];
  private readonly watchers = new Map<string, FSWatcher>();
  private watchFailed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private scanTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | null = null;
  private scanAgain = false;
  private firstStart = false;
  private lastSeen = 0;
  /** Startup: files without a record are identified after every recorded one (a stale record may be the original of a copy). */
  private startupRecorded = 0;
  private startupUnrecorded: Entry[] = [];
  private started = false;
  private stopped = false;
  private readonly pendingDiscover = new Set<string>();
  private discoverScheduled = false;

  constructor(o: FileSourceOptions) {
    this.o = o;
    this.log = o.log;
    this.batcher = new Batcher(o.batchMaxRecords ?? 1000, o.batchMaxWaitMs ?? 50);
    this.records$ = this.batcher.subject.asObservable();
    this.turns = new ReadTurns({ concurrency: READ_CONCURRENCY, readBytes: READ_LARGE, ...(o.pressure ? { pressure: o.pressure } : {}), onPause: () => this.updateGauges() });
    this.positions = new PositionStore({
      store: o.store,
      scope: o.scope,
      log: o.log,
      flushDelayMs: o.positionsFlushMs,
      recordOf: (id) => this.recordOf(id),
      indexOf: () => this.indexOf(),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const index = await this.positions.loadIndex();
    this.firstStart = index === null;
    this.lastSeen = index?.seen ?? 0;
    const now = Date.now();
    for (const j of index?.orphans ?? []) {
      const c = Content.from(j);
      if (!c || now - (j.at || 0) > ORPHAN_TTL_MS) continue;
      this.orphans.push({ content: c, at: j.at, read: c.acked });
      this.contents.set(c.key, { content: c, owner: 'orphan' });
    }
    const paths = await this.globAll();
    const found: Entry[] = [];
    await mapLimit(paths, IO_CONCURRENCY, async (path) => {
      const st = await stat(path).catch(() => null);
      if (!st?.isFile()) return;
      const id = `${st.dev}-${st.ino}`;
      if (this.byId.has(id)) return;
      const e = this.addEntry(id, path);
      e.startup = true;
      e.seenSize = st.size;
      e.seenMtime = st.mtimeMs;
      found.push(e);
    });
    await mapLimit(found, IO_CONCURRENCY, async (e) => {
      const rec = await this.positions.loadRecord(e.id);
      const c = rec ? Content.from(rec) : null;
      if (!c) return;
      e.content = c;
      e.recorded = true;
      this.startContent(e, c, c.acked, c.ackedSkip);
    });
    // Records of files that went away while the detector was down.
    for (const id of index?.ids ?? []) if (!this.byId.has(id)) void this.positions.save(id);
    await this.positions.saveIndex();
    if (this.o.watch !== false) {
      for (const p of this.o.include) this.watchDir(staticDir(p));
      for (const e of found) this.watchDir(dirname(e.path));
    }
    const recorded = found.filter((e) => e.recorded);
    this.startupUnrecorded = found.filter((e) => !e.recorded);
    this.startupRecorded = recorded.length;
    for (const e of recorded) this.want(e);
    if (this.startupRecorded === 0) this.releaseStartup();
    this.every(this.o.pollIntervalMs, () => this.poll());
    this.every(this.o.scanIntervalMs, () => this.scheduleScan(0));
    this.every(HEARTBEAT_MS, () => this.positions.scheduleIndex());
    this.updateGauges();
    this.log.info({ files: found.length, recorded: recorded.length, firstStart: this.firstStart, include: this.o.include }, 'file source started');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.scanTimer);
    clearTimeout(this.tickTimer);
    this.tickWaiting.clear();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.queue.clear();
    this.turns.close();
    const entries = [...this.byId.values()];
    for (const e of entries) e.wake();
    await Promise.allSettled(entries.map((e) => e.running));
    await this.scanning;
    for (const e of entries) {
      clearTimeout(e.flushTimer);
      // Open groups and partial lines go out now: the file may not be there next time.
      this.flushEntry(e, 'end', true);
      await this.closeFile(e);
    }
    this.batcher.complete();
    await this.positions.saveIndex();
    await this.positions.flushAll();
    this.updateGauges();
  }

  /** Positions acknowledged after stop (the sinks' last deliveries) are written before the store closes. */
  flushState(): Promise<void> {
    return this.positions.flushAll();
  }

  /**
   * Positions delivered by whoever turned this source's records into their own (the Kubernetes files
   * profile acknowledges the file positions its pod records were made of, and those it dropped).
   */
  acknowledgePositions(positions: readonly FilePosition[]): void {
    for (const p of positions) this.ackPosition(p);
    this.afterAcks();
  }

  private acknowledged(records: readonly LogRecord[]): void {
    for (const r of records) this.ackPosition(r.position as FilePosition | undefined);
    this.afterAcks();
  }

  private ackPosition(p: FilePosition | undefined): void {
    // A position read back from the sink's spool after a restart may be of a content no longer tracked.
    if (!p || typeof p.end !== 'number') return;
    const owned = this.contents.get(p.key);
    if (!owned || !owned.content.ack(p.end, p.skip === true)) return;
    const c = owned.content;
    if (owned.owner === 'orphan') this.positions.scheduleIndex();
    else if (owned.owner === 'finishing') {
      if (c.acked >= c.emitted) {
        this.finishing.delete(owned.id!);
        this.contents.delete(c.key);
        this.positions.scheduleIndex();
      }
      this.positions.schedule(owned.id!);
    } else this.positions.schedule(owned.owner.id);
  }

  private afterAcks(): void {
    // After stop the timer would be the last thing running: write now.
    if (this.stopped) void this.positions.flushAll();
  }

  unready(): string | null {
    return null;
  }

  /** For tests and the bench. */
  stats(): { tracked: number; open: number; queued: number; orphans: number; copies: number; paused: number } {
    return { tracked: this.byId.size, open: this.openCount, queued: this.queue.size, orphans: this.orphans.length, copies: this.copies.size, paused: this.pausedCount() };
  }

  // ---------------------------------------------------------------- state for the store

  private recordOf(id: string): FileRecordJson | null {
    const e = this.byId.get(id);
    if (e?.content) return { v: 1, path: e.path, ...e.content.toJSON() };
    const f = this.finishing.get(id);
    if (f) return { v: 1, path: '', ...f.content.toJSON() };
    return null;
  }

  private indexOf(): IndexJson {
    const ids: string[] = [];
    for (const e of this.byId.values()) if (e.content) ids.push(e.id);
    for (const id of this.finishing.keys()) if (!this.byId.has(id)) ids.push(id);
    const orphans: OrphanJson[] = this.orphans.map((o) => ({ ...o.content.toJSON(), at: o.at, read: o.read }));
    return { v: 1, seen: Date.now(), ids, orphans };
  }

  // ---------------------------------------------------------------- entries

  private targetFor(path: string): Target {
    return { ...this.o.target, file: path };
  }

  private addEntry(id: string, path: string): Entry {
    const e = new Entry(id, path, this.targetFor(path), this.o);
    this.byId.set(id, e);
    this.byPath.set(path, e);
    return e;
  }

  private setPath(e: Entry, path: string): void {
    if (e.path === path && !e.detached) return;
    if (this.byPath.get(e.path) === e) this.byPath.delete(e.path);
    const other = this.byPath.get(path);
    if (other && other !== e) other.detached = true;
    if (e.path !== path) {
      metrics.filesRotations.inc({ kind: 'renamed' });
      e.path = path;
      e.target = this.targetFor(path);
      if (e.content) this.positions.schedule(e.id);
    }
    e.detached = false;
    this.byPath.set(path, e);
    if (this.o.watch !== false) this.watchDir(dirname(path));
    // A closed file that moved may have grown meanwhile.
    this.want(e);
  }

  private startContent(e: Entry, c: Content, offset: number, skip: boolean): void {
    this.unindexFp(e);
    e.content = c;
    e.readOffset = offset;
    e.tail = Buffer.alloc(0);
    e.splitter = new FileLineSplitter(this.o.maxLineBytes, offset, skip);
    e.joiner = new MultilineJoiner(this.o.multiline);
    this.contents.set(c.key, { content: c, owner: e });
  }

  /** Indexes `e` by the hash of its first bytes (read as `prefix`), so a copy of it is recognised. */
  private indexFp(e: Entry, prefix: Buffer): void {
    if (!e.content || prefix.length < MIN_MATCH_BYTES) return;
    const head = hashPrefix(prefix, MIN_MATCH_BYTES);
    if (e.fpIndexed === head) return;
    this.unindexFp(e);
    let set = this.fpIndex.get(head);
    if (!set) this.fpIndex.set(head, (set = new Set()));
    set.add(e);
    e.fpIndexed = head;
  }

  private unindexFp(e: Entry): void {
    if (!e.fpIndexed) return;
    const set = this.fpIndex.get(e.fpIndexed);
    set?.delete(e);
    if (set?.size === 0) this.fpIndex.delete(e.fpIndexed);
    e.fpIndexed = null;
  }

  private releaseStartup(): void {
    const list = this.startupUnrecorded;
    this.startupUnrecorded = [];
    for (const e of list) this.want(e);
  }

  private startupIdentified(e: Entry): void {
    if (!e.recorded) return;
    e.recorded = false;
    if (--this.startupRecorded === 0) this.releaseStartup();
  }

  // ---------------------------------------------------------------- slots

  /** The entry has (or may have) something to read: wake its reader, open it, or queue it for a slot. */
  private want(e: Entry): void {
    if (this.stopped || e.finished) return;
    if (e.active) {
      if (!e.fh && !e.opening) e.wantAgain = true; // its reader is ending
      if (e.hot || !e.atEnd) e.wake();
      else this.wakeOnTick(e);
      return;
    }
    if (e.copyOf) return;
    if (this.openCount < this.o.maxOpenFiles) {
      this.queue.delete(e);
      this.openCount++;
      e.active = true;
      e.wantAgain = false;
      e.opening = true;
      e.running = this.run(e).catch((err: unknown) => this.log.error({ err, path: e.path }, 'file reader failed'));
    } else if (!this.queue.has(e)) {
      this.queue.add(e);
      metrics.filesQueuedTotal.inc();
    }
    this.updateGauges();
  }

  /** A change of a file at its end: its reader wakes at the next coalescing tick (one timer for all files). */
  private wakeOnTick(e: Entry): void {
    this.tickWaiting.add(e);
    this.tickTimer ??= setTimeout(() => {
      this.tickTimer = undefined;
      const due = [...this.tickWaiting];
      this.tickWaiting.clear();
      for (const d of due) d.wake();
    }, READ_COALESCE_MS);
    this.tickTimer.unref?.();
  }

  private next(): void {
    while (!this.stopped && this.openCount < this.o.maxOpenFiles && this.queue.size > 0) {
      const e = this.queue.values().next().value!;
      this.queue.delete(e);
      this.want(e);
    }
    this.updateGauges();
  }

  private async closeFile(e: Entry): Promise<void> {
    const fh = e.fh;
    if (!fh) return;
    e.fh = null;
    await fh.close().catch(() => undefined);
  }

  /** Files whose reader waits for the sink (under pressure) or for acknowledgements. */
  private pausedCount(): number {
    return this.lagging + (this.turns.paused ? this.turns.waiting : 0);
  }

  private updateGauges(): void {
    metrics.filesOpen.set(this.openCount);
    metrics.filesQueued.set(this.queue.size);
    metrics.filesTracked.set(this.byId.size);
    metrics.filesPaused.set(this.pausedCount());
  }

  // ---------------------------------------------------------------- reading

  /** Holds a slot: open, identify, read until quiet, release. */
  private async run(e: Entry): Promise<void> {
    try {
      let fh: FileHandle;
      try {
        fh = await open(e.path, 'r');
      } catch {
        e.opening = false;
        this.startupIdentified(e);
        if (!e.detached) this.scheduleScan(200);
        return;
      }
      e.fh = fh;
      e.opening = false;
      if (this.stopped) return;
      const st = await fh.stat();
      if (`${st.dev}-${st.ino}` !== e.id) {
        // The path leads to another file now: this one moved or went while it was closed.
        this.startupIdentified(e);
        await this.closeFile(e);
        this.lost(e);
        this.scheduleScan(0);
        return;
      }
      const ready = await this.identify(e, fh, st);
      this.startupIdentified(e);
      if (!ready) return;
      await this.pump(e, fh);
    } finally {
      await this.closeFile(e);
      e.opening = false;
      e.running = null;
      e.active = false;
      this.openCount--;
      if (e.finished) this.finishNow(e);
      else if (e.wantAgain && !e.copyOf) {
        e.wantAgain = false;
        this.want(e);
      }
      this.next();
    }
  }

  /** The file's first bytes (the fingerprint); `sync` for a file being followed at its end (see pump). */
  private async readPrefix(fh: FileHandle, sync = false): Promise<Buffer> {
    const b = Buffer.allocUnsafe(this.o.fingerprintBytes);
    const bytesRead = sync ? readSync(fh.fd, b, 0, b.length, 0) : (await fh.read(b, 0, b.length, 0)).bytesRead;
    return b.subarray(0, bytesRead);
  }

  /** Decides where reading starts. false: not now (a copy waiting for its original, a settling file). */
  private async identify(e: Entry, fh: FileHandle, st: Stats): Promise<boolean> {
    const max = this.o.fingerprintBytes;
    const prefix = await this.readPrefix(fh);
    e.fpCheckedAt = Date.now();
    if (e.content) {
      const m = matchFingerprint(prefix, e.content.fp, max);
      if (m.match && !e.content.truncatedAt(st.size, e.readOffset)) {
        e.content.fp = m.fp;
        this.indexFp(e, prefix);
        return true;
      }
      await this.replaceContent(e, prefix, m.match ? 'truncated' : 'replaced');
      return true;
    }
    const fp = fingerprintOf(prefix, max);
    // A copy of content that was truncated away (copytruncate): resume it where it was read up to.
    for (const o of this.orphans) {
      if (o.content.fp.len < MIN_MATCH_BYTES || !matchFingerprint(prefix, o.content.fp, max).match) continue;
      // The truncation came after the copy was complete (logrotate copies, syncs, then truncates); it may
      // end before the position when the last lines were read from the original in time.
      this.orphans = this.orphans.filter((x) => x !== o);
      await this.adopt(e, o.content, o.read, st.size);
      this.positions.scheduleIndex();
      return true;
    }
    if (!this.isStartupFile(e) && prefix.length < max && this.settling(e)) return false;
    // A copy of a file still being read (copytruncate before the truncation): wait for the truncation.
    if (prefix.length >= MIN_MATCH_BYTES && !e.notCopy) {
      for (const t of this.fpIndex.get(hashPrefix(prefix, MIN_MATCH_BYTES)) ?? []) {
        if (t === e || t.detached || !t.content || !matchFingerprint(prefix, t.content.fp, max).match) continue;
        e.copyOf = t;
        e.copySince = Date.now();
        this.copies.add(e);
        return false;
      }
    }
    let offset = 0;
    let skip = false;
    if (this.isStartupFile(e) && this.o.readFrom === 'end' && !this.bornSinceLastRun(st)) ({ offset, skip } = await this.endOffset(fh, st.size));
    this.startContent(e, new Content(Content.newKey(e.id), fp, offset, skip), offset, skip);
    this.indexFp(e, prefix);
    // A file read from 0 is stored with its first anchor; one read from its end must be stored now,
    // or a restart would take it for a file already there and skip what was written meanwhile.
    if (offset > 0 || this.o.readFrom === 'end') await this.positions.save(e.id);
    this.positions.scheduleIndex();
    return true;
  }

  /** Found by the initial scan (readFrom applies), not discovered while running. */
  private isStartupFile(e: Entry): boolean {
    return e.startup;
  }

  private bornSinceLastRun(st: Stats): boolean {
    if (this.firstStart) return false;
    const born = st.birthtimeMs > 0 ? st.birthtimeMs : st.ctimeMs;
    return born >= this.lastSeen - HEARTBEAT_MS;
  }

  /** A new file short of a fingerprint waits a moment: it may be a copy in the making. */
  private settling(e: Entry): boolean {
    const now = Date.now();
    if (now - e.discoveredAt >= SETTLE_MS) return false;
    e.settleUntil = e.discoveredAt + SETTLE_MS;
    return true;
  }

  /** Where `readFrom: end` starts: after the last newline (or skipping to the next one). */
  private async endOffset(fh: FileHandle, size: number): Promise<{ offset: number; skip: boolean }> {
    if (size === 0) return { offset: 0, skip: false };
    const len = Math.min(size, 64 * 1024);
    const b = Buffer.allocUnsafe(len);
    const { bytesRead } = await fh.read(b, 0, len, size - len);
    const nl = b.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl < 0) return { offset: size, skip: true };
    return { offset: size - len + nl + 1, skip: false };
  }

  /** `e` now holds other bytes than its content (truncated, or a reused inode): a new content from 0. */
  private async replaceContent(e: Entry, prefix: Buffer, kind: 'truncated' | 'replaced'): Promise<void> {
    const old = e.content!;
    metrics.filesRotations.inc({ kind });
    const copy = [...this.copies].find((x) => x.copyOf === e);
    if (copy) {
      // The copy made just before the truncation holds the rest: it continues this content. What is
      // pending here is re-read from it, unless it was read from the original past the copy's end.
      const size = (await stat(copy.path).catch(() => null))?.size ?? 0;
      if (size >= e.readOffset) e.joiner.discard();
      else this.flushEntry(e, 'end', false);
      this.contents.delete(old.key);
      await this.adopt(copy, old, old.emitted, size);
    } else {
      this.flushEntry(e, 'end', false);
      this.orphans.push({ content: old, at: Date.now(), read: old.emitted });
      if (this.orphans.length > MAX_ORPHANS) this.dropOrphan(this.orphans[0]!);
      this.contents.set(old.key, { content: old, owner: 'orphan' });
      // The orphan must be stored before this file's record (which held it) is overwritten.
      await this.positions.saveIndex();
    }
    this.uncopy(e);
    this.startContent(e, new Content(Content.newKey(e.id), fingerprintOf(prefix, this.o.fingerprintBytes), 0), 0, false);
    this.indexFp(e, prefix);
    await this.positions.save(e.id);
    this.positions.scheduleIndex();
    this.log.debug({ path: e.path, kind, adoptedBy: copy?.path }, 'file content replaced');
  }

  private async adopt(e: Entry, c: Content, offset: number, size: number): Promise<void> {
    metrics.filesRotations.inc({ kind: 'copy' });
    // Read past the copy's end in the original (just before the truncation): the copy is complete as it is.
    c.shortAt = size < offset ? size : undefined;
    e.copyOf = null;
    this.copies.delete(e);
    this.startContent(e, c, offset, offset === c.acked ? c.ackedSkip : false);
    await this.positions.save(e.id);
    this.log.debug({ path: e.path, offset }, 'file continues a truncated file (copy)');
    this.want(e);
  }

  private dropOrphan(o: Orphan): void {
    this.orphans = this.orphans.filter((x) => x !== o);
    if (this.contents.get(o.content.key)?.owner === 'orphan') this.contents.delete(o.content.key);
    this.positions.scheduleIndex();
  }

  private async pump(e: Entry, fh: FileHandle): Promise<void> {
    const size = READ_LARGE;
    let share = 0;
    while (!this.stopped && !e.finished) {
      const lag = await this.waitForAcks(e);
      if (lag === 'release') return;
      // A turn for one read and the handing on of its records: at most READ_CONCURRENCY reads between disk and sink.
      const turn = await this.turns.acquire();
      let bytesRead: number;
      /** The read returned less than it asked for: it ended at the file's end as of then. */
      let short = false;
      let buf: Buffer | undefined;
      try {
        if (this.stopped) return;
        // After a pause the file may have been truncated and rewritten past the read position.
        if ((turn.paused || lag === 'waited') && !(await this.verify(e, fh, true))) continue;
        const tl = e.tail.length;
        buf = this.readBuffers.pop() ?? Buffer.allocUnsafeSlow(TAIL_BYTES + READ_LARGE);
        // A file at its end (trickling) is read synchronously: its new bytes are in the page cache, and
        // a synchronous read costs ~2.5 µs of CPU against ~35 µs through the thread pool (measured with
        // /tmp reads on this machine; bench/files-follow.ts shows it per line). Catch-up reads stay
        // asynchronous, so a cold disk never holds the event loop for long.
        const got = e.atEnd ? readSync(fh.fd, buf, 0, tl + size, e.readOffset - tl) : (await fh.read(buf, 0, tl + size, e.readOffset - tl)).bytesRead;
        if (this.stopped) return;
        // Truncated and written again past the read position between two reads: other bytes before it.
        if (tl > 0 && got >= tl && buf.compare(e.tail, 0, tl, 0, tl) !== 0) {
          if (await this.verify(e, fh, true)) await this.replaceContent(e, await this.readPrefix(fh), 'replaced');
          continue;
        }
        bytesRead = Math.max(0, got - tl);
        short = got < tl + size;
        if (bytesRead > 0) {
          e.atEnd = false;
          e.rateBytes += bytesRead;
          await this.process(e, buf.subarray(tl, got));
        }
      } finally {
        // Nothing keeps a view of the buffer (lines are decoded to strings, partials and the tail copied).
        if (buf && this.readBuffers.length < READ_CONCURRENCY) this.readBuffers.push(buf);
        turn.release();
      }
      if (bytesRead > 0) {
        share += bytesRead;
        if (share >= FAIR_SHARE) {
          share = 0;
          await new Promise((r) => setImmediate(r));
        }
        // A short read of a trickling file ended at its end: sleep now instead of reading nothing and
        // stat'ing (two of the three file operations of a wake-up). The next wake-up reads first, so a
        // truncation is seen as before; the periodic check (fingerprint, rotation) takes the full path.
        if (!short) continue;
        if (this.canSkipEndCheck(e)) {
          e.atEnd = true;
          this.armFlush(e);
          this.measureRate(e, Date.now());
          await e.sleep();
          continue;
        }
        // A short read ended at the end of the file: the check below, without a read that finds nothing.
      }
      share = 0;
      // Nothing more to read: at the end, so the check's reads are of cached bytes (synchronous).
      const st = await this.verify(e, fh, false, true);
      if (!st) continue;
      if (st.size > e.readOffset) continue;
      const now = Date.now();
      e.seenSize = st.size;
      e.seenMtime = st.mtimeMs;
      e.atEnd = true;
      this.armFlush(e);
      this.measureRate(e, now);
      const quiet = now - e.lastData;
      if (e.detached && now - Math.max(e.lastData, e.detachedAt) >= this.o.rotateWaitMs) {
        metrics.filesRotations.inc({ kind: st.nlink === 0 ? 'deleted' : 'gone' });
        e.finished = true;
        return;
      }
      // Give the slot to a waiting file, or close a file quiet for long; a change reopens it.
      if (this.queue.size > 0 || quiet >= this.o.closeIdleMs) return;
      await e.sleep();
    }
  }

  /** After a short read: nothing the end-of-file check would do is due (see pump). */
  private canSkipEndCheck(e: Entry): boolean {
    const c = e.content;
    return (
      !!c &&
      !e.detached &&
      this.queue.size === 0 &&
      c.fp.len >= this.o.fingerprintBytes &&
      Date.now() - e.fpCheckedAt < this.o.pollIntervalMs
    );
  }

  /** At the end of the file: over each window of RATE_WINDOW_MS, is the file growing fast enough to be hot? */
  private measureRate(e: Entry, now: number): void {
    if (!e.rateSince) {
      e.rateSince = now;
      e.rateBytes = 0;
      return;
    }
    const elapsed = now - e.rateSince;
    if (elapsed < RATE_WINDOW_MS) return;
    e.hot = (e.rateBytes * 1000) / elapsed >= HOT_BYTES_PER_SEC;
    e.rateSince = now;
    e.rateBytes = 0;
  }

  /**
   * Is the open file still the content being read? Truncated (smaller than the read position) or other
   * bytes at its start: a new content from 0. The fingerprint is compared when it can still grow, every
   * pollInterval, or when `force`d. Returns the file's stat, or null when the content was replaced.
   */
  private async verify(e: Entry, fh: FileHandle, force: boolean, atEnd = false): Promise<Stats | null> {
    const c = e.content!;
    const st = atEnd ? fstatSync(fh.fd) : await fh.stat();
    if (c.truncatedAt(st.size, e.readOffset)) {
      await this.replaceContent(e, await this.readPrefix(fh), 'truncated');
      return null;
    }
    const now = Date.now();
    if (force || (c.fp.len < this.o.fingerprintBytes ? st.size > c.fp.len : now - e.fpCheckedAt >= this.o.pollIntervalMs)) {
      e.fpCheckedAt = now;
      const prefix = await this.readPrefix(fh, atEnd);
      const m = matchFingerprint(prefix, c.fp, this.o.fingerprintBytes);
      if (!m.match) {
        await this.replaceContent(e, prefix, 'replaced');
        return null;
      }
      c.fp = m.fp;
      this.indexFp(e, prefix);
    }
    return st;
  }

  /**
   * Waits while this file's acknowledgements lag (MAX_ANCHORS dates not yet acknowledged). 'release':
   * give the slot to a waiting file. The sink's pressure is not looked at here: ReadTurns holds every
   * reader back while it lasts.
   */
  private async waitForAcks(e: Entry): Promise<'go' | 'waited' | 'release'> {
    const lagging = () => (e.content?.unackedAnchors ?? 0) >= MAX_ANCHORS;
    if (!lagging()) return 'go';
    this.lagging++;
    this.updateGauges();
    try {
      while (!this.stopped && lagging()) {
        if (this.queue.size > 0) return 'release';
        await sleep(100);
      }
    } finally {
      this.lagging--;
      this.updateGauges();
    }
    return this.stopped ? 'release' : 'waited';
  }

  /** Splits, dates (persisting a new anchor first) and emits one read of `e`. */
  private async process(e: Entry, chunk: Buffer): Promise<void> {
    const c = e.content!;
    e.busy = true;
    try {
      const at = e.readOffset;
      const lines: FileLine[] = [];
      e.splitter.push(chunk, at, lines);
      e.readOffset = at + chunk.length;
      // Its own memory: a slice of the read buffer (or of Node's buffer pool) would pin it, per file.
      const t = (chunk.length >= TAIL_BYTES ? chunk : Buffer.concat([e.tail, chunk])).subarray(-TAIL_BYTES);
      e.tail = Buffer.allocUnsafeSlow(t.length);
      t.copy(e.tail);
      e.lastData = Date.now();
      if (this.o.anchors !== false) {
        const starts = lines.map((l) => l.start);
        const partial = e.splitter.partialStart;
        if (partial !== undefined) starts.push(partial);
        const anchor = c.plan(starts, e.readOffset, e.lastData);
        if (anchor) {
          c.addAnchor(anchor);
          // Persisted before any line it dates leaves: a re-read after a crash must date them alike.
          await this.positions.save(e.id);
          if (e.content !== c) return;
        }
      }
      const out: JoinedRecord[] = [];
      for (const l of lines) e.joiner.push(l, out);
      this.emit(e, c, out);
    } finally {
      e.busy = false;
    }
    this.armFlush(e);
  }

  /** After multiline.timeout of quiet, an open group and a partial last line are emitted. */
  private armFlush(e: Entry): void {
    if (e.flushTimer || (!e.joiner.open && !e.splitter.hasPartial)) return;
    const timeout = this.o.multiline.timeoutMs;
    e.flushTimer = setTimeout(() => {
      e.flushTimer = undefined;
      if (this.stopped || e.finished) return;
      const quiet = Date.now() - e.lastData;
      if (e.busy || quiet < timeout || !e.atEnd) {
        e.flushTimer = setTimeout(() => {
          e.flushTimer = undefined;
          this.armFlush(e);
        }, e.atEnd ? Math.max(10, timeout - quiet) : timeout);
        e.flushTimer.unref?.();
        return;
      }
      this.flushEntry(e, 'timeout', true);
    }, timeout);
    e.flushTimer.unref?.();
  }

  /** Emits the open group (and, with `partial`, an unfinished last line). */
  private flushEntry(e: Entry, reason: 'timeout' | 'end', partial: boolean): void {
    const c = e.content;
    if (!c || e.busy) return;
    const out: JoinedRecord[] = [];
    if (partial && e.splitter.hasPartial) {
      const lines: FileLine[] = [];
      e.splitter.flushPartial(e.readOffset, lines);
      for (const l of lines) e.joiner.push(l, out);
    }
    e.joiner.flush(reason, out);
    this.emit(e, c, out);
  }

  private emit(e: Entry, c: Content, recs: JoinedRecord[]): void {
    if (recs.length === 0) return;
    const out: LogRecord[] = [];
    let bytes = 0;
    for (const j of recs) {
      if (j.reason && j.lines > 1) metrics.filesMultiline.inc({ reason: j.reason });
      if (j.text.length === 0 && j.lines === 1) continue; // blank lines are not sent
      c.emitted = j.end;
      const t = c.ts(j.start);
      const position: FilePosition = { key: c.key, ts: t.ts, end: j.end };
      if (j.skipRest) position.skip = true;
      const r: LogRecord = { ts: t.ts, tsMs: t.ms, line: j.text, stream: 'unknown', kind: 'file', target: e.target, level: 'unknown', position, ack: this.acks };
      if (j.truncated) {
        r.malformed = 'truncated';
        metrics.malformed.inc({ reason: 'truncated' });
      } else if (j.invalidUtf8) r.malformed = 'invalid_utf8'; // counted by the parse stage
      bytes += j.text.length;
      out.push(r);
    }
    if (out.length === 0) return;
    if (this.o.countLines !== false) metrics.linesIn.inc({ source: 'file' }, out.length);
    metrics.bytesIn.inc({ source: 'file' }, bytes);
    this.batcher.push(out);
  }

  // ---------------------------------------------------------------- finishing

  /** A detached file went quiet (or vanished while closed): emit what is pending, drop it. */
  private finishNow(e: Entry): void {
    if (this.byId.get(e.id) !== e) return;
    clearTimeout(e.flushTimer);
    this.flushEntry(e, 'end', true);
    this.forget(e);
    const c = e.content;
    if (c && c.acked < c.emitted) {
      const owned: Owned = { content: c, owner: 'finishing', id: e.id };
      this.finishing.set(e.id, owned);
      this.contents.set(c.key, owned);
    } else if (c) this.contents.delete(c.key);
    void this.positions.save(e.id);
    this.positions.scheduleIndex();
  }

  private forget(e: Entry): void {
    this.startupIdentified(e);
    e.finished = true;
    this.queue.delete(e);
    this.unindexFp(e);
    if (this.byId.get(e.id) === e) this.byId.delete(e.id);
    if (this.byPath.get(e.path) === e) this.byPath.delete(e.path);
    this.copies.delete(e);
    this.uncopy(e);
    this.updateGauges();
  }

  /** Copies waiting for `e` to be truncated stop waiting (they are read as files of their own). */
  private uncopy(e: Entry): void {
    for (const x of this.copies) {
      if (x.copyOf !== e) continue;
      x.copyOf = null;
      x.notCopy = true;
      this.copies.delete(x);
      this.want(x);
    }
  }

  // ---------------------------------------------------------------- discovery

  private excluded(path: string): boolean {
    return this.o.exclude.some((p) => matchesGlob(path, p));
  }

  private included(path: string): boolean {
    return this.o.include.some((p) => matchesGlob(path, p)) && !this.excluded(path);
  }

  private async globAll(): Promise<string[]> {
    const out = new Set<string>();
    for (const pattern of this.o.include) {
      try {
        for await (const p of glob(pattern)) if (!this.excluded(p)) out.add(p);
      } catch (err) {
        this.log.warn({ pattern, err: (err as Error).message }, 'file source: glob failed');
      }
    }
    return [...out];
  }

  /** A path may hold a file to follow (found by a scan or a directory event). Returns the file's id. */
  private async discover(path: string): Promise<string | null> {
    const st = await stat(path).catch(() => null);
    if (this.stopped) return null;
    const known = this.byPath.get(path);
    if (!st?.isFile()) {
      if (known && !known.detached) this.lost(known);
      return null;
    }
    const id = `${st.dev}-${st.ino}`;
    if (known && known.id !== id && !known.detached) this.lost(known);
    const e = this.byId.get(id);
    if (e) {
      if (e.path !== path || e.detached) {
        // Same file under another name (rename within the include set, or moved back).
        const hardLink = !e.detached && this.byPath.get(e.path) === e && (await stat(e.path).then((s) => `${s.dev}-${s.ino}` === id).catch(() => false));
        if (!hardLink) this.setPath(e, path); // a hard link keeps the first name
      }
      if (!e.fh && (st.size !== e.seenSize || st.mtimeMs !== e.seenMtime)) {
        e.seenSize = st.size;
        e.seenMtime = st.mtimeMs;
        this.want(e);
      }
      return id;
    }
    const n = this.addEntry(id, path);
    n.seenSize = st.size;
    n.seenMtime = st.mtimeMs;
    if (this.o.watch !== false) this.watchDir(dirname(path));
    this.want(n);
    return id;
  }

  /**
   * The path no longer leads to `e`. It may turn up under another name (a rename seen as two events),
   * so it is finished only after rotateWait: an open one once it has been quiet that long, a closed one
   * by poll().
   */
  private lost(e: Entry): void {
    if (this.byPath.get(e.path) === e) this.byPath.delete(e.path);
    if (!e.detached) {
      e.detached = true;
      e.detachedAt = Date.now();
    }
    // At the next tick, not at once: the rename's other half (the new name) is usually discovered by
    // then, so what the reader finds is labelled with the file's new path.
    if (e.active) this.wakeOnTick(e);
    else if (e.copyOf || !e.content) this.forget(e);
  }

  private scheduleScan(delayMs: number): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.scanAgain = true;
      return;
    }
    if (this.scanTimer) return;
    this.scanTimer = setTimeout(() => {
      this.scanTimer = undefined;
      this.scanning = this.scan().finally(() => {
        this.scanning = null;
        if (this.scanAgain) {
          this.scanAgain = false;
          this.scheduleScan(200);
        }
      });
    }, delayMs);
    this.scanTimer.unref?.();
  }

  private async scan(): Promise<void> {
    if (this.stopped) return;
    const began = Date.now();
    const paths = await this.globAll();
    const ids = new Set<string>();
    await mapLimit(paths, IO_CONCURRENCY, async (p) => {
      const id = await this.discover(p);
      if (id) ids.add(id);
    });
    if (this.stopped) return;
    // Files no included path leads to any more (and not found since the scan began): drained, then finished.
    for (const e of [...this.byId.values()]) if (!ids.has(e.id) && !e.finished && !e.detached && e.discoveredAt < began) this.lost(e);
    // Orphans nobody claimed.
    const now = Date.now();
    for (const o of [...this.orphans]) if (now - o.at > ORPHAN_TTL_MS) this.dropOrphan(o);
    for (const [id, f] of [...this.finishing]) {
      if (now - (f.content.anchors.at(-1)?.ms ?? 0) > FINISHING_TTL_MS) {
        this.finishing.delete(id);
        this.contents.delete(f.content.key);
        void this.positions.save(id);
      }
    }
  }

  private poll(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const e of this.byId.values()) {
      if (e.fh) {
        e.wake();
        if (!e.detached) this.checkPath(e);
      } else if (e.copyOf) {
        if (now - e.copySince > this.o.rotateWaitMs || e.copyOf.finished) {
          // The original was never truncated: not a rotation copy after all, read it as a file.
          e.copyOf = null;
          e.copySince = 0;
          e.settleUntil = 0;
          e.notCopy = true;
          this.copies.delete(e);
          this.want(e);
        }
      } else if (e.detached && !e.active && now - e.detachedAt >= this.o.rotateWaitMs) {
        // Closed and no included path leads to it: what it held was read when it was open.
        metrics.filesRotations.inc({ kind: 'gone' });
        this.finishNow(e);
      } else if (e.settleUntil && now >= e.settleUntil) {
        e.settleUntil = 0;
        this.want(e);
      }
    }
  }

  /**
   * An open file's path still leads to it? Synchronous: the path of an open file is in the dentry
   * cache, and a stat of it costs a few µs, where the thread pool's round trip cost ~35 µs of CPU per
   * file per poll (500 files: 2 of every 5 futex wake-ups of the process).
   */
  private checkPath(e: Entry): void {
    let st: Stats | undefined;
    try {
      st = statSync(e.path, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (st && `${st.dev}-${st.ino}` === e.id) return;
    this.lost(e);
    if (st?.isFile() && this.included(e.path)) void this.discover(e.path);
    else this.scheduleScan(100);
  }

  private watchDir(dir: string): void {
    if (this.watchFailed || this.watchers.has(dir) || this.stopped) return;
    if (this.watchers.size >= MAX_WATCHED_DIRS) {
      this.watchFailed = true;
      this.log.warn({ max: MAX_WATCHED_DIRS }, 'file source: too many directories to watch; polling the rest');
      return;
    }
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (event, name) => this.onEvent(dir, event, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        this.watchFailed = true;
        this.log.warn({ dir, code }, 'file source: cannot watch more directories (inotify limits); polling the rest');
      }
      return;
    }
    w.on('error', () => {
      w.close();
      this.watchers.delete(dir);
    });
    this.watchers.set(dir, w);
  }

  private onEvent(dir: string, event: string, name: string | Buffer | null): void {
    if (this.stopped) return;
    if (!name) {
      this.scheduleScan(100);
      return;
    }
    const full = join(dir, name.toString());
    const e = this.byPath.get(full);
    if (e) {
      if (event === 'rename') this.queueDiscover(full);
      else this.want(e);
      return;
    }
    if (this.included(full)) this.queueDiscover(full);
    else if (event === 'rename' && !this.excluded(full)) this.scheduleScan(1000);
  }

  private queueDiscover(path: string): void {
    this.pendingDiscover.add(path);
    if (this.discoverScheduled) return;
    this.discoverScheduled = true;
    setImmediate(() => {
      this.discoverScheduled = false;
      const paths = [...this.pendingDiscover];
      this.pendingDiscover.clear();
      for (const p of paths) void this.discover(p);
    });
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref?.();
    this.timers.push(t);
  }
}

export { hashPrefix };
