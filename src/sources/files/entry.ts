import type { FileHandle } from 'node:fs/promises';
import type { Target } from '../../model/log-record.ts';
import { MultilineJoiner } from './multiline.ts';
import type { Content } from './positions.ts';
import type { FileSourceOptions } from './source.ts';
import { FileLineSplitter } from './splitter.ts';

/**
 * One file the source follows (keyed by device + inode), with its reader's state: the content being
 * read and where, the line splitter and multiline joiner of that content, rotation and copytruncate
 * bookkeeping, and the wake-up its reader sleeps on. The source (./source.ts) drives it.
 */
export class Entry {
  readonly id: string;
  path: string;
  target: Target;
  content: Content | null = null;
  /** Content loaded from the store, not yet checked against the file. */
  recorded = false;
  fh: FileHandle | null = null;
  opening = false;
  /** A reader holds a slot for this entry (from want() until its run() has fully ended). */
  active = false;
  /** Wanted while its reader was ending: start again. */
  wantAgain = false;
  running: Promise<void> | null = null;
  readOffset = 0;
  /** The last bytes read before readOffset: each read re-reads them to notice a rewritten file. */
  tail: Buffer = Buffer.alloc(0);
  splitter: FileLineSplitter;
  joiner: MultilineJoiner;
  /** The path no longer leads to this file (renamed away or deleted): read until quiet, then finish. */
  detached = false;
  detachedAt = 0;
  lastData: number;
  /**
   * The last read found the end of the file: only then may the multiline timeout emit an open group
   * or an unfinished last line. A reader waiting for its turn (a catch-up of many files, a sink under
   * pressure) has more of that line on disk, and flushing it would cut one line in two records.
   */
  atEnd = false;
  /** Bytes read since rateSince, and whether the last window's rate made the file hot (no coalescing). */
  rateBytes = 0;
  rateSince = 0;
  hot = false;
  readonly discoveredAt: number;
  fpCheckedAt = 0;
  /** Size and mtime at the last look, to notice changes of a closed file. */
  seenSize = -1;
  seenMtime = -1;
  busy = false;
  flushTimer: NodeJS.Timeout | undefined;
  /** Recognised as a copy of this live file (copytruncate): waits for it to be truncated. */
  copyOf: Entry | null = null;
  copySince = 0;
  finished = false;
  /** Re-examine after this time (a new short file settling). */
  settleUntil = 0;
  /** Found by the initial scan: `readFrom` applies to it. */
  startup = false;
  /** Waited as a copy and its original was not truncated: read it as a file of its own. */
  notCopy = false;
  /** The hash of the first MIN_MATCH_BYTES this entry is indexed under (to recognise copies of it). */
  fpIndexed: string | null = null;
  private wakeFn: (() => void) | null = null;
  private woken = false;

  constructor(id: string, path: string, target: Target, o: FileSourceOptions) {
    this.id = id;
    this.path = path;
    this.target = target;
    this.splitter = new FileLineSplitter(o.maxLineBytes);
    this.joiner = new MultilineJoiner(o.multiline);
    this.lastData = Date.now();
    this.discoveredAt = this.lastData;
  }

  wake(): void {
    this.woken = true;
    const f = this.wakeFn;
    this.wakeFn = null;
    f?.();
  }

  /**
   * Waits until woken: by a change event (through the source's coalescing tick), by the source's poll
   * (every pollInterval, for every open file) or by stop. No timer of its own: 500 trickling files
   * wake 2,000 times a second, and each wake-up set and cleared a timer.
   */
  async sleep(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      this.wakeFn = resolve;
    });
    this.woken = false;
  }
}
