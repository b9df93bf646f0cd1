import { spawn, type ChildProcess } from 'node:child_process';
import type { Observable } from 'rxjs';
import { Backoff } from '../../delivery/backoff.ts';
import { SourceAcks } from '../../delivery/acks.ts';
import { PAUSE_ABOVE, RESUME_BELOW, type Pressure } from '../../delivery/pressure.ts';
import type { Logger } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import type { LogRecord, RecordPosition, Target } from '../../model/log-record.ts';
import { stateKey, type StateStore } from '../../state/store.ts';
import { Batcher } from '../kube/batcher.ts';
import type { Source } from '../types.ts';
import { JournalCursor } from './cursor.ts';
import { capLine, fieldText, levelOf, messageOf, serviceOf, timestampOf, type JournalEntry } from './entry.ts';

export interface JournaldSourceOptions {
  /** The journalctl binary (a name looked up in PATH, or a path). */
  journalctl: string;
  /** `--directory`: a journal directory (e.g. the host's /var/log/journal mounted into the pod). */
  directory?: string;
  /** `--merge`: entries of all journals available, interleaved (remote ones included). */
  merge: boolean;
  /** `--unit` each (entries of any of them). */
  units: readonly string[];
  /** `--identifier` each (SYSLOG_IDENTIFIER, any of them). */
  identifiers: readonly string[];
  /** `--priority` (a name, 0–7, or a range). */
  priority?: string;
  /** Without a stored cursor: from the oldest entry (`start`) or only new ones (`end`). */
  readFrom: 'start' | 'end';
  maxLineBytes: number;
  flushDelayMs: number;
  /** Key scope of the cursor in the state store (the host by default). */
  scope: string;
  /** Labels of every record; `service` (unless fixed here) and `node` are set per entry. */
  target: Omit<Target, 'file'>;
  /** A fixed service for every record; without it the service comes from the entry (serviceOf). */
  fixedService?: boolean;
  store: StateStore;
  log: Logger;
  /** The log sink's queue fill: reading pauses above 0.9 until it is under 0.7. */
  pressure?: Pressure;
  /** Entries read and not acknowledged at most; past it reading waits (default 50,000). */
  maxUnacked?: number;
  restartBackoff?: { baseMs?: number; maxMs?: number };
  batchMaxRecords?: number;
  batchMaxWaitMs?: number;
}

export interface JournalPosition extends RecordPosition {
  /** The entry's sequence number in this source instance (JournalCursor.emitted). */
  seq: number;
  /** Which source instance read it (several may share a process: tests, a reload). */
  gen: number;
}

const KILL_AFTER_MS = 2000;
/** A journalctl that ran this long without failing counts as started (backoff reset, ready). */
const HEALTHY_AFTER_MS = 1000;
const MAX_TARGETS = 4096;
const STDERR_KEEP = 4096;

/** Per process random, then counted: a record from an earlier run (read back from the sink's spool) does not match. */
let generation = Math.floor(Math.random() * 2 ** 40);

export const NOT_FOUND = (bin: string) =>
  `journalctl not found (${bin}): install systemd (journalctl) in the image or mount the host's journal tools, or set journald.journalctl to its path`;
export const DENIED = (where: string, said: string) =>
  `journal not readable (${where}): journalctl said "${said}"; run the detector as root or in group systemd-journal (or adm), or mount the journal readable for its user`;

/** journalctl's arguments for a start after `cursor` (or per readFrom / `since` when none). */
export function journalctlArgs(o: Pick<JournaldSourceOptions, 'directory' | 'merge' | 'units' | 'identifiers' | 'priority' | 'readFrom'>, cursor: string | null, sinceSec?: number): string[] {
  // Not --quiet: its hints (e.g. "not seeing messages from other users") go to the log.
  const args = ['--output=json', '--all', '--follow', '--no-pager'];
  if (o.directory) args.push(`--directory=${o.directory}`);
  if (o.merge) args.push('--merge');
  for (const u of o.units) args.push(`--unit=${u}`);
  for (const i of o.identifiers) args.push(`--identifier=${i}`);
  if (o.priority) args.push(`--priority=${o.priority}`);
  if (cursor) args.push(`--after-cursor=${cursor}`, '--no-tail');
  else if (sinceSec !== undefined) args.push(`--since=@${sinceSec}`, '--no-tail');
  else if (o.readFrom === 'start') args.push('--no-tail');
  else args.push('--lines=0');
  return args;
}

/** What journalctl's stderr says about why it ended: a metric reason and the unready text. */
export function classifyExit(stderr: string, code: number | null, signal: string | null, o: { directory?: string }): { reason: string; message: string } {
  const where = o.directory ?? 'the system journal';
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const said = lines.at(-1) ?? '';
  const hit = (re: RegExp) => lines.find((l) => re.test(l));
  const denied = hit(/insufficient permissions|Permission denied|Operation not permitted/i);
  if (denied) return { reason: 'denied', message: DENIED(where, denied) };
  const missing = hit(/No such file or directory/i);
  if (missing && o.directory) return { reason: 'no_journal', message: `journal directory not found (${o.directory}): journalctl said "${missing}"; mount the host's journal there (e.g. /var/log/journal) or fix journald.directory` };
  const empty = hit(/No journal files were found|No such boot ID|not available/i);
  if (empty) return { reason: 'no_journal', message: `no journal entries to follow yet in ${where}: journalctl said "${empty}" (retrying)` };
  const how = signal ? `signal ${signal}` : `code ${code}`;
  return { reason: 'exit', message: `journalctl exited (${how})${said ? `: "${said}"` : ''} (retrying)` };
}

/**
 * The journald source: runs `journalctl --output=json --follow` (after the stored cursor), turns each
 * entry into a record, pauses reading journalctl's output under back-pressure, restarts journalctl with
 * backoff when it ends, and persists the cursor of the last acknowledged entry. Subscribe to records$
 * before start().
 */
export class JournaldSource implements Source {
  readonly name = 'journald';
  readonly records$: Observable<LogRecord[]>;
  /** On every record: delivered entries advance the cursor (in read order, JournalCursor). */
  readonly acks = new SourceAcks(this.name, (records) => this.acknowledged(records));
  private readonly o: JournaldSourceOptions;
  private readonly log: Logger;
  private readonly batcher: Batcher;
  private readonly cursor: JournalCursor;
  private readonly backoff: Backoff;
  private readonly gen = ++generation;
  private readonly targets = new Map<string, Target>();
  private readonly maxUnacked: number;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopped = false;
  private started = false;
  private reason: string | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private healthyTimer: NodeJS.Timeout | undefined;
  private pauseTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private discarding = false;
  /** Wall clock (s) of the first start without a cursor: a restart before any entry resumes from it. */
  private firstStartSec: number | undefined;
  private readonly maxEntryBytes: number;
  private spawns = 0;
  private hinted = false;

  constructor(o: JournaldSourceOptions) {
    this.o = o;
    this.log = o.log;
    this.batcher = new Batcher(o.batchMaxRecords ?? 500, o.batchMaxWaitMs ?? 50);
    this.records$ = this.batcher.subject.asObservable();
    this.cursor = new JournalCursor({ store: o.store, key: stateKey('journald', o.scope, 'cursor'), flushDelayMs: o.flushDelayMs, log: o.log });
    this.backoff = new Backoff({ baseMs: o.restartBackoff?.baseMs ?? 500, maxMs: o.restartBackoff?.maxMs ?? 30_000 });
    this.maxUnacked = o.maxUnacked ?? 50_000;
    // A JSON line holds MESSAGE as text or as "255," per byte, and the other fields: generous.
    this.maxEntryBytes = Math.max(16 << 20, o.maxLineBytes * 6);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.cursor.load();
    if (this.stopped) return;
    this.spawnJournalctl();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.healthyTimer);
    clearTimeout(this.pauseTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      await this.exited;
      clearTimeout(t);
    }
    child?.stdout?.destroy();
    child?.stderr?.destroy();
    this.child = null;
    metrics.journaldUp.set(0);
    metrics.journaldPaused.set(0);
    this.batcher.complete();
    await this.cursor.flush();
  }

  private acknowledged(records: readonly LogRecord[]): void {
    for (const r of records) {
      const p = r.position as JournalPosition | undefined;
      // Sequence numbers are this instance's: not those of an earlier instance or run (read back from a spool).
      if (!p || p.gen !== this.gen) continue;
      this.cursor.acknowledge(p.seq);
    }
    metrics.journaldUnacked.set(this.cursor.pending);
    if (this.stopped) void this.cursor.flush();
  }

  async flushState(): Promise<void> {
    await this.cursor.flush();
  }

  unready(): string | null {
    return this.reason;
  }

  /** For tests: the acknowledged and last read cursors, pending entries, journalctl starts. */
  stats(): { acked: string | null; lastRead: string | null; pending: number; paused: boolean; spawns: number; running: boolean } {
    return { acked: this.cursor.acked, lastRead: this.cursor.lastRead, pending: this.cursor.pending, paused: this.paused, spawns: this.spawns, running: this.child !== null };
  }

  // ---------------------------------------------------------------- the process

  private spawnJournalctl(): void {
    if (this.stopped) return;
    const resume = this.cursor.lastRead;
    if (!resume && this.firstStartSec === undefined) this.firstStartSec = Math.floor(Date.now() / 1000);
    const since = !resume && this.spawns > 0 && this.o.readFrom === 'end' ? this.firstStartSec : undefined;
    const args = journalctlArgs(this.o, resume, since);
    this.spawns++;
    this.partial = [];
    this.partialBytes = 0;
    this.discarding = false;
    let child: ChildProcess;
    try {
      child = spawn(this.o.journalctl, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } });
    } catch (err) {
      this.failed('error', `journalctl could not be started (${this.o.journalctl}): ${(err as Error).message}`);
      return;
    }
    this.child = child;
    let stderr = '';
    let spawnError: NodeJS.ErrnoException | null = null;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve();
        // A process it left behind may hold the pipes open: do not wait for them long.
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, 500).unref();
      });
      child.once('close', (code, signal) => {
        resolve();
        this.onExit(child, code, signal, stderr, spawnError);
      });
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    child.once('spawn', () => {
      this.log.info({ journalctl: this.o.journalctl, args, resume: resume !== null }, 'journald: journalctl started');
      this.healthyTimer = setTimeout(() => this.healthy(child), HEALTHY_AFTER_MS);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_KEEP);
      if (!this.hinted && /not seeing messages from other users|Hint:/i.test(s)) {
        this.hinted = true;
        const hint = s.split('\n').find((l) => /Hint:|not seeing/i.test(l))?.trim();
        this.log.warn({ said: hint }, 'journald: journalctl cannot read the whole journal; add the detector user to group systemd-journal (or adm) or run it as root');
      }
    });
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  private healthy(child: ChildProcess): void {
    if (this.child !== child || this.stopped) return;
    this.backoff.reset();
    this.reason = null;
    metrics.journaldUp.set(1);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, stderr: string, spawnError: NodeJS.ErrnoException | null): void {
    if (this.child === child) this.child = null;
    clearTimeout(this.healthyTimer);
    clearTimeout(this.pauseTimer);
    this.paused = false;
    metrics.journaldPaused.set(0);
    metrics.journaldUp.set(0);
    if (this.stopped) return;
    this.flushPartial();
    this.batcher.flush();
    if (spawnError) {
      if (spawnError.code === 'ENOENT') this.failed('not_found', NOT_FOUND(this.o.journalctl));
      else if (spawnError.code === 'EACCES') this.failed('denied', `journalctl not executable (${this.o.journalctl}): ${spawnError.message}; fix its permissions or set journald.journalctl`);
      else this.failed('error', `journalctl could not be started (${this.o.journalctl}): ${spawnError.message}`);
      return;
    }
    const c = classifyExit(stderr, code, signal, this.o);
    this.failed(c.reason, c.message);
  }

  private failed(reason: string, message: string): void {
    metrics.journaldRestarts.inc({ reason });
    const delay = this.backoff.next();
    if (this.reason !== message) this.log.error({ reason, retryInMs: delay }, `journald: ${message}`);
    this.reason = message;
    this.restartTimer = setTimeout(() => this.spawnJournalctl(), delay);
    this.restartTimer.unref?.();
  }

  // ---------------------------------------------------------------- reading

  private onData(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0) break;
      const piece = chunk.subarray(from, nl);
      from = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      if (this.partialBytes > 0) {
        this.partial.push(piece);
        const line = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
        this.onLine(line);
      } else this.onLine(piece);
    }
    if (from < chunk.length && !this.discarding) {
      const rest = chunk.subarray(from);
      this.partialBytes += rest.length;
      if (this.partialBytes > this.maxEntryBytes) {
        // One entry larger than anything we would send: skip to its end.
        this.partial = [];
        this.partialBytes = 0;
        this.discarding = true;
        metrics.journaldSkipped.inc({ reason: 'oversized' });
        this.log.warn({ maxBytes: this.maxEntryBytes }, 'journald: an entry too large to read was skipped');
      } else this.partial.push(Buffer.from(rest)); // a copy: the chunk is not kept alive
    }
    this.gate();
  }

  /** The last line without newline when journalctl ended: a whole entry if it parses. */
  private flushPartial(): void {
    if (this.partialBytes > 0 && !this.discarding) this.onLine(Buffer.concat(this.partial));
    this.partial = [];
    this.partialBytes = 0;
    this.discarding = false;
  }

  private onLine(buf: Buffer): void {
    if (buf.length === 0) return;
    let e: JournalEntry;
    try {
      e = JSON.parse(buf.toString('utf8')) as JournalEntry;
    } catch {
      metrics.journaldSkipped.inc({ reason: 'invalid_json' });
      return;
    }
    if (!e || typeof e !== 'object') return;
    const cursor = fieldText(e.__CURSOR);
    const realtime = fieldText(e.__REALTIME_TIMESTAMP);
    const message = messageOf(e);
    if (message === undefined || !cursor) {
      if (cursor) this.cursor.skipped(cursor, realtime);
      metrics.journaldSkipped.inc({ reason: 'no_message' });
      return;
    }
    const t = timestampOf(realtime) ?? timestampOf(String(Date.now() * 1000))!;
    const capped = capLine(message, this.o.maxLineBytes);
    const seq = this.cursor.emitted(cursor, realtime);
    const position: JournalPosition = { key: this.cursor.key, ts: t.ts, seq, gen: this.gen };
    const r: LogRecord = {
      ts: t.ts,
      tsMs: t.ms,
      line: capped.line,
      stream: 'unknown',
      kind: 'journal',
      target: this.targetOf(e),
      level: levelOf(fieldText(e.PRIORITY)),
      position,
      ack: this.acks,
    };
    if (capped.truncated) {
      r.malformed = 'truncated';
      metrics.malformed.inc({ reason: 'truncated' });
    }
    metrics.linesIn.inc({ source: 'journal' });
    metrics.bytesIn.inc({ source: 'journal' }, capped.line.length);
    this.batcher.push([r]);
  }

  /** One shared Target per (service, host), as the contract asks (records of a stream share it). */
  private targetOf(e: JournalEntry): Target {
    const base = this.o.target;
    const service = this.o.fixedService ? base.service : serviceOf(fieldText(e._SYSTEMD_UNIT), fieldText(e.SYSLOG_IDENTIFIER), fieldText(e._COMM));
    const node = fieldText(e._HOSTNAME) || base.node;
    const k = `${service ?? ''}\u0000${node ?? ''}`;
    let t = this.targets.get(k);
    if (!t) {
      if (this.targets.size >= MAX_TARGETS) this.targets.clear();
      const { service: _s, node: _n, ...rest } = base;
      t = { ...rest, ...(service ? { service } : {}), ...(node ? { node } : {}) };
      this.targets.set(k, t);
    }
    return t;
  }

  // ---------------------------------------------------------------- back-pressure

  private overloaded(threshold: number, unackedShare: number): boolean {
    const p = this.o.pressure;
    return (p !== undefined && p.fill > threshold) || this.cursor.pending >= this.maxUnacked * unackedShare;
  }

  /** After each chunk: stop reading journalctl's stdout while the sink is full or acknowledgements lag. */
  private gate(): void {
    metrics.journaldUnacked.set(this.cursor.pending);
    if (this.paused || !this.overloaded(PAUSE_ABOVE, 1)) return;
    const child = this.child;
    if (!child?.stdout) return;
    this.paused = true;
    metrics.journaldPaused.set(1);
    this.batcher.flush();
    child.stdout.pause();
    const check = () => {
      if (this.stopped || this.child !== child) return;
      if (this.overloaded(RESUME_BELOW, 0.8)) {
        this.pauseTimer = setTimeout(check, 100);
        return;
      }
      this.paused = false;
      metrics.journaldPaused.set(0);
      child.stdout!.resume();
    };
    this.pauseTimer = setTimeout(check, 100);
  }
}
