import type { FileLine } from './splitter.ts';

/**
 * Multiline joining: consecutive lines that belong together (a stack trace after its log line, a Go
 * panic with its goroutine dump) become one record, lines joined with `\n`. A group ends when a line
 * does not belong, when it reaches maxLines or maxBytes (the next line starts a new group), or when no
 * line came for the timeout (the source calls flush()).
 *
 * Custom patterns (JavaScript regular expressions):
 *   - `start` only: a line matching it starts a record; every other line continues the current one;
 *   - `continue` only: a line matching it continues the current record; every other line starts one;
 *   - both: `start` wins, then `continue`; a line matching neither starts a record.
 *
 * Presets:
 *   - `go`: a `panic: ` / `fatal error: ` line opens a group that takes the goroutine dump (blank lines,
 *     `goroutine N [...]:`, function lines `pkg.fn(...)`, tab-indented file:line, `created by`,
 *     `[signal ...`, `exit status N`); any other line stands alone and is emitted at once;
 *   - `java`: `\tat ...`, `... N more`, `Caused by:` / `Suppressed:`, and an exception header
 *     (`a.b.SomeException: msg`) continue the line before them — the log line that reported it;
 *   - `python`: `Traceback (most recent call last):` opens a group of indented frames, the exception
 *     line, and chained tracebacks (`During handling of the above exception…`, `The above exception…`);
 *   - `stacktraces`: all three at once.
 */
export type MultilineMode = 'none' | 'custom' | 'go' | 'java' | 'python' | 'stacktraces';

export interface MultilineOptions {
  mode: MultilineMode;
  start?: string;
  continue?: string;
  maxLines: number;
  maxBytes: number;
}

export type FlushReason = 'next' | 'timeout' | 'max_lines' | 'max_bytes' | 'end';

export interface JoinedRecord {
  text: string;
  /** Offset of the first line (its timestamp anchor). */
  start: number;
  end: number;
  lines: number;
  truncated: boolean;
  invalidUtf8: boolean;
  skipRest: boolean;
  /** Why a group of two or more lines ended (undefined for a single line). */
  reason?: FlushReason;
}

type Kind = 'plain' | 'go' | 'python' | 'java';
type PyPhase = 'frames' | 'after' | 'chain';

const GO_OPEN = /^(?:panic: |fatal error: |runtime: (?:out of memory|program exceeds))/;
const GO_CONT = /^(?:$|\s|goroutine \d+ \[|created by |\[signal |exit status \d+|\.\.\.\d* ?additional frames elided|\S+\(.*\)$)/;
const JAVA_CONT = /^(?:\s+at |\s*\.\.\. \d+ (?:more|common frames omitted)|\s*(?:Caused by|Suppressed|Wrapped by): |(?:[a-zA-Z_$][\w$]*\.)+[\w$]*(?:Exception|Error|Throwable)(?::\s.*|:)?$)/;
const JAVA_OPEN = /^Exception in thread "/;
const PY_OPEN = /^Traceback \(most recent call last\):\s*$/;
const PY_CHAIN = /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)\s*$/;

/** Decides line by line whether a line joins the open group; one instance per file. */
interface Rules {
  /** true: `text` joins the open group (there is one). */
  joins(text: string): boolean;
  /** A new group starts with `text`. */
  begin(text: string): void;
  /** The open group may still take lines (false: emit it now rather than wait). */
  joinable(): boolean;
  /** The line joined: update the state. */
  joined(text: string): void;
}

class CustomRules implements Rules {
  private readonly start: RegExp | undefined;
  private readonly cont: RegExp | undefined;
  constructor(start: string | undefined, cont: string | undefined) {
    this.start = start ? new RegExp(start) : undefined;
    this.cont = cont ? new RegExp(cont) : undefined;
  }
  joins(text: string): boolean {
    if (this.start?.test(text)) return false;
    if (this.cont) return this.cont.test(text);
    return true; // start only: everything that does not start continues
  }
  begin(): void {}
  joinable(): boolean {
    return true;
  }
  joined(): void {}
}

class PresetRules implements Rules {
  private readonly go: boolean;
  private readonly java: boolean;
  private readonly python: boolean;
  private kind: Kind = 'plain';
  private py: PyPhase = 'frames';

  constructor(mode: 'go' | 'java' | 'python' | 'stacktraces') {
    this.go = mode === 'go' || mode === 'stacktraces';
    this.java = mode === 'java' || mode === 'stacktraces';
    this.python = mode === 'python' || mode === 'stacktraces';
  }

  private opens(text: string): boolean {
    return (this.go && GO_OPEN.test(text)) || (this.python && PY_OPEN.test(text)) || (this.java && JAVA_OPEN.test(text));
  }

  joins(text: string): boolean {
    switch (this.kind) {
      case 'go':
        // A new unindented `panic:` is a new crash (a nested one is printed tab-indented).
        return !GO_OPEN.test(text) && GO_CONT.test(text);
      case 'python':
        return this.pythonJoins(text);
      case 'java':
      case 'plain':
        if (this.opens(text)) return false;
        return this.java && JAVA_CONT.test(text);
    }
  }

  private pythonJoins(text: string): boolean {
    const indented = text.length > 0 && (text.charCodeAt(0) === 32 || text.charCodeAt(0) === 9);
    switch (this.py) {
      case 'frames':
        return text.length > 0; // frames are indented; the first non-indented line is the exception
      case 'after':
        return indented || text.length === 0 || PY_CHAIN.test(text);
      case 'chain':
        return text.length === 0 || PY_OPEN.test(text);
    }
  }

  begin(text: string): void {
    if (this.go && GO_OPEN.test(text)) this.kind = 'go';
    else if (this.python && PY_OPEN.test(text)) {
      this.kind = 'python';
      this.py = 'frames';
    } else if (this.java && JAVA_OPEN.test(text)) this.kind = 'java';
    else this.kind = 'plain';
  }

  joinable(): boolean {
    // A plain line can only be continued by a Java trace; with no Java preset it is complete.
    return this.kind !== 'plain' || this.java;
  }

  joined(text: string): void {
    if (this.kind === 'plain') this.kind = 'java';
    if (this.kind !== 'python') return;
    const indented = text.length > 0 && (text.charCodeAt(0) === 32 || text.charCodeAt(0) === 9);
    if (this.py === 'frames' && text.length > 0 && !indented) this.py = 'after';
    else if (this.py === 'after' && PY_CHAIN.test(text)) this.py = 'chain';
    else if (this.py === 'chain' && PY_OPEN.test(text)) this.py = 'frames';
  }
}

/** Validates patterns without building a joiner (config checks). Returns an error message or null. */
export function checkMultiline(o: MultilineOptions): string | null {
  if (o.mode !== 'custom') return null;
  if (!o.start && !o.continue) return 'custom mode needs start or continue (or both)';
  for (const [name, p] of [['start', o.start], ['continue', o.continue]] as const) {
    if (!p) continue;
    try {
      new RegExp(p);
    } catch (err) {
      return `${name}: ${(err as Error).message}`;
    }
  }
  return null;
}

/**
 * Joins a file's lines into records. push() returns finished records through `out`; a group that may
 * still grow stays open until the next line that does not belong, or until flush().
 */
export class MultilineJoiner {
  private readonly rules: Rules | null;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private group: FileLine[] = [];
  private bytes = 0;

  constructor(o: MultilineOptions) {
    this.rules = o.mode === 'none' ? null : o.mode === 'custom' ? new CustomRules(o.start, o.continue) : new PresetRules(o.mode);
    this.maxLines = Math.max(1, o.maxLines);
    this.maxBytes = Math.max(1, o.maxBytes);
  }

  get open(): boolean {
    return this.group.length > 0;
  }

  /** Offset of the first byte of the open group (where a re-read would start). */
  get openStart(): number | undefined {
    return this.group[0]?.start;
  }

  push(line: FileLine, out: JoinedRecord[]): void {
    const rules = this.rules;
    if (!rules) {
      out.push(single(line));
      return;
    }
    if (this.group.length > 0) {
      if (rules.joins(line.text)) {
        const size = this.bytes + 1 + Buffer.byteLength(line.text);
        if (this.group.length >= this.maxLines) this.emit('max_lines', out);
        else if (size > this.maxBytes) this.emit('max_bytes', out);
        else {
          this.group.push(line);
          this.bytes = size;
          rules.joined(line.text);
          return;
        }
      } else this.emit('next', out);
    }
    rules.begin(line.text);
    this.group.push(line);
    this.bytes = Buffer.byteLength(line.text);
    if (!rules.joinable()) this.emit('next', out);
  }

  /** Ends the open group (timeout, end of file, stop). */
  flush(reason: FlushReason, out: JoinedRecord[]): void {
    if (this.group.length > 0) this.emit(reason, out);
  }

  /** Drops the open group (the bytes are re-read from openStart elsewhere). */
  discard(): void {
    this.group = [];
    this.bytes = 0;
  }

  private emit(reason: FlushReason, out: JoinedRecord[]): void {
    const g = this.group;
    this.group = [];
    this.bytes = 0;
    if (g.length === 1) {
      out.push(single(g[0]!));
      return;
    }
    const last = g[g.length - 1]!;
    let truncated = false;
    let invalid = false;
    for (const l of g) {
      truncated ||= l.truncated;
      invalid ||= l.invalidUtf8;
    }
    out.push({ text: g.map((l) => l.text).join('\n'), start: g[0]!.start, end: last.end, lines: g.length, truncated, invalidUtf8: invalid, skipRest: last.skipRest, reason });
  }
}

function single(l: FileLine): JoinedRecord {
  return { text: l.text, start: l.start, end: l.end, lines: 1, truncated: l.truncated, invalidUtf8: l.invalidUtf8, skipRest: l.skipRest };
}
