/**
 * The sources' conditions that are both counted and logged (src/sources/): each one call. A source logs
 * through its BuildContext logger, which already names it (`component`), so these pass that logger.
 */
import { metrics } from '../metrics.ts';
import { defineEvent } from './event.ts';

export const sourceEvents = {
  /** A file position the state store refused: retried; a crash before the retry re-reads at most that file's unsaved part. */
  filePositionWriteFailed: defineEvent({
    component: 'files',
    level: 'warn',
    message: 'position write failed: will retry',
    count: (_l, n) => metrics.filesPositionErrors.inc(n),
  }),
  /** A position that could not be read at start: the file is read as new. */
  filePositionLoadFailed: defineEvent({ component: 'files', level: 'warn', message: 'position load failed: the file is treated as new' }),
  /** A journald cursor the state store refused: retried; a crash before the retry re-reads from the last written one. */
  journaldCursorWriteFailed: defineEvent({
    component: 'journald',
    level: 'warn',
    message: 'journald: cursor write failed; will retry',
    count: (_l, n) => metrics.journaldCursorErrors.inc(n),
  }),
};
