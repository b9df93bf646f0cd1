/**
 * Reads of all the files of one source take turns. A node's first start (a DaemonSet on a busy node)
 * finds hundreds of files to catch up on; when each file's reader checked the sink's pressure on its
 * own, 500 readers in flight put 500 reads (up to 256 KiB each) into the pipeline before the queue
 * fill said stop, the bounded queue overflowed and dropped lines, and 500 readers polling the
 * pressure every 100 ms kept a core busy doing nothing.
 *
 * Here a reader asks for a turn before each read and gives it back once the read's records are
 * handed on (the pipeline is synchronous from there to the sink's queue), so at most `concurrency`
 * reads are between the disk and the sink at any time, and the fill a turn is granted against is
 * current. While the sink is under pressure (fill above PAUSE_ABOVE, until it is under RESUME_BELOW)
 * no turn is granted: one timer watches the fill, the readers wait in a queue, first come first
 * served (so every file gets its turn in a catch-up and none starves).
 *
 * The turns granted before a pause begins are still on their way when it does: up to `concurrency`
 * reads of `readBytes`, larger once they are the sink's entries. When the sink says what its fill
 * stands for in bytes (`capacityBytes`) and that overshoot would not fit above PAUSE_ABOVE (a small
 * `loki.memoryQueueBytes`), the pause begins earlier, leaving room for it; otherwise the bounded queue
 * would drop the oldest batch (measured: 6,348 lines of a 1M-line catch-up with a 4 MiB queue).
 */
import { PAUSE_ABOVE, RESUME_BELOW, type Pressure } from '../../delivery/pressure.ts';

export type Release = () => void;

export interface Turn {
  release: Release;
  /** Waited for the sink (not only for another reader): the file may have changed meanwhile. */
  paused: boolean;
}

interface Waiter {
  grant: (t: Turn) => void;
  /** The pause count when it began to wait (a pause since: it waited for the sink). */
  pauses: number;
}

/** How often the fill is looked at while paused. */
const WATCH_MS = 50;
/** Sink bytes per byte read, at most (a Loki entry carries its line and its labels' share). */
const EXPANSION = 2;

export class ReadTurns {
  private readonly concurrency: number;
  private readonly pressure: Pressure | undefined;
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private head = 0;
  private pausedNow = false;
  /** Pauses begun so far, and whether one is on now. */
  private pauses = 0;
  private watch: NodeJS.Timeout | undefined;
  private closed = false;
  /** Called when a pause begins or ends (the source's gauge). */
  private readonly onPause: ((paused: boolean) => void) | undefined;

  /** Fill thresholds: PAUSE_ABOVE / RESUME_BELOW, lower when the reads in flight would not fit above them. */
  private readonly pauseAbove: number;
  private readonly resumeBelow: number;

  constructor(o: { concurrency: number; pressure?: Pressure; onPause?: (paused: boolean) => void; readBytes?: number }) {
    if (!(o.concurrency >= 1)) throw new Error(`read concurrency must be at least 1, got ${o.concurrency}`);
    this.concurrency = o.concurrency;
    this.pressure = o.pressure;
    this.onPause = o.onPause;
    const cap = o.pressure?.capacityBytes;
    const inFlight = cap && o.readBytes ? (o.concurrency * o.readBytes * EXPANSION) / cap : 0;
    this.pauseAbove = Math.max(0.05, Math.min(PAUSE_ABOVE, 1 - inFlight));
    this.resumeBelow = Math.min(RESUME_BELOW, this.pauseAbove * (RESUME_BELOW / PAUSE_ABOVE));
  }

  /** Readers waiting for a turn. */
  get waiting(): number {
    return this.waiters.length - this.head;
  }

  /** Turns held now. */
  get held(): number {
    return this.active;
  }

  /** No turn is granted while the sink is under pressure. */
  get paused(): boolean {
    return this.pausedNow;
  }

  /** Resolves with a turn; after close() every waiter and caller gets a no-op turn at once. */
  acquire(): Promise<Turn> {
    if (this.closed) return Promise.resolve({ release: noop, paused: false });
    if (this.waiting === 0 && this.active < this.concurrency && !this.underPressure()) {
      this.active++;
      return Promise.resolve({ release: this.releaser(), paused: false });
    }
    return new Promise<Turn>((grant) => {
      this.waiters.push({ grant, pauses: this.pausedNow ? this.pauses - 1 : this.pauses });
      this.pump();
    });
  }

  /** Ends waiting (stop): waiters are let through with turns that hold nothing. */
  close(): void {
    this.closed = true;
    clearTimeout(this.watch);
    this.watch = undefined;
    while (this.waiting > 0) this.waiters[this.head++]!.grant({ release: noop, paused: true });
    this.waiters.length = 0;
    this.head = 0;
  }

  private releaser(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active--;
      this.pump();
    };
  }

  /** Whether to hold turns back now (the hysteresis of PAUSE_ABOVE / RESUME_BELOW). */
  private underPressure(): boolean {
    const fill = this.pressure?.fill ?? 0;
    const was = this.pausedNow;
    this.pausedNow = was ? fill > this.resumeBelow : fill > this.pauseAbove;
    if (was !== this.pausedNow) {
      if (this.pausedNow) this.pauses++;
      this.onPause?.(this.pausedNow);
    }
    return this.pausedNow;
  }

  private pump(): void {
    if (this.closed) return;
    while (this.waiting > 0 && this.active < this.concurrency) {
      if (this.underPressure()) {
        this.watchPressure();
        return;
      }
      const w = this.waiters[this.head++]!;
      this.active++;
      w.grant({ release: this.releaser(), paused: w.pauses !== this.pauses });
    }
    // Compact the queue now and then (an array with a head index: O(1) shift).
    if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters.splice(0, this.head);
      this.head = 0;
    }
  }

  private watchPressure(): void {
    if (this.watch) return;
    this.watch = setTimeout(() => {
      this.watch = undefined;
      this.pump();
    }, WATCH_MS);
    this.watch.unref?.();
  }
}

function noop(): void {}
