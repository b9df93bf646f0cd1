import { describe, expect, it } from 'vitest';
import { checkMultiline, MultilineJoiner, type JoinedRecord, type MultilineOptions } from '../../src/sources/files/multiline.ts';
import type { FileLine } from '../../src/sources/files/splitter.ts';

function lines(text: string): FileLine[] {
  const out: FileLine[] = [];
  let at = 0;
  for (const t of text.split('\n')) {
    const len = Buffer.byteLength(t) + 1;
    out.push({ text: t, start: at, end: at + len, truncated: false, invalidUtf8: false, skipRest: false });
    at += len;
  }
  return out;
}

function join(text: string, o: Partial<MultilineOptions>): JoinedRecord[] {
  const j = new MultilineJoiner({ mode: 'custom', maxLines: 500, maxBytes: 1 << 20, ...o });
  const out: JoinedRecord[] = [];
  for (const l of lines(text)) j.push(l, out);
  j.flush('end', out);
  return out;
}

const texts = (r: JoinedRecord[]) => r.map((x) => x.text);

const GO_PANIC = `panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.lookup(...)
	/app/main.go:12
main.main()
	/app/main.go:8 +0x1d
exit status 2`;

const JAVA = `2026-01-10 12:00:00 ERROR [main] c.e.Api - request failed
java.lang.IllegalStateException: boom
	at com.example.Api.handle(Api.java:42)
	at com.example.Server.run(Server.java:10)
Caused by: java.io.IOException: disk full
	at com.example.Store.write(Store.java:7)
	... 2 more`;

const PYTHON = `Traceback (most recent call last):
  File "/app/worker.py", line 3, in <module>
    main()
  File "/app/worker.py", line 2, in main
    raise KeyError("id")
KeyError: 'id'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/worker.py", line 9, in <module>
    fail()
RuntimeError: wrapped`;

describe('multiline joining', () => {
  it('mode none passes lines through one by one', () => {
    expect(texts(join('a\n  b\nc', { mode: 'none' }))).toEqual(['a', '  b', 'c']);
  });

  it('custom start: every other line continues the record', () => {
    const r = join('2026-01-01 one\n  detail\n  more\n2026-01-01 two\nx', { start: '^\\d{4}-' });
    expect(texts(r)).toEqual(['2026-01-01 one\n  detail\n  more', '2026-01-01 two\nx']);
    expect(r[0]).toMatchObject({ start: 0, lines: 3, reason: 'next' });
    expect(r[1]!.reason).toBe('end');
  });

  it('custom continue: only matching lines join the one before', () => {
    expect(texts(join('head\n\tcont\nplain\n\tcont2', { continue: '^\\s' }))).toEqual(['head\n\tcont', 'plain\n\tcont2']);
  });

  it('custom start and continue: start wins, then continue; others stand alone', () => {
    expect(texts(join('START a\n+ b\nloose\n+ c\nSTART d', { start: '^START', continue: '^\\+' }))).toEqual(['START a\n+ b', 'loose\n+ c', 'START d']);
  });

  it('go preset: a panic takes its goroutine dump, other lines stand alone at once', () => {
    const j = new MultilineJoiner({ mode: 'go', maxLines: 500, maxBytes: 1 << 20 });
    const out: JoinedRecord[] = [];
    j.push(lines('level=info msg=started')[0]!, out);
    expect(texts(out)).toEqual(['level=info msg=started']); // not held: nothing can continue it
    expect(j.open).toBe(false);
    const r = join(`starting\n${GO_PANIC}\nrestarted`, { mode: 'go' });
    expect(texts(r)).toEqual(['starting', GO_PANIC, 'restarted']);
  });

  it('java preset: the trace joins the log line that reported it', () => {
    const r = join(`${JAVA}\n2026-01-10 12:00:01 INFO next`, { mode: 'java' });
    expect(texts(r)).toEqual([JAVA, '2026-01-10 12:00:01 INFO next']);
    expect(r[0]!.lines).toBe(7);
  });

  it('python preset: a traceback with its chained traceback is one record', () => {
    const r = join(`INFO before\n${PYTHON}\nINFO after`, { mode: 'python' });
    expect(texts(r)).toEqual(['INFO before', PYTHON, 'INFO after']);
  });

  it('stacktraces handles all three in one file', () => {
    const r = join(`${JAVA}\n${GO_PANIC}\n${PYTHON}\nlast`, { mode: 'stacktraces' });
    expect(texts(r)).toEqual([JAVA, GO_PANIC, PYTHON, 'last']);
  });

  it('is bounded by lines and bytes: the next line starts a new record', () => {
    const many = ['head', ...Array.from({ length: 7 }, (_, i) => `\tat f${i}`)].join('\n');
    const byLines = join(many, { mode: 'java', maxLines: 3 });
    expect(byLines.map((r) => r.lines)).toEqual([3, 3, 2]);
    expect(byLines[0]!.reason).toBe('max_lines');
    const byBytes = join(many, { mode: 'java', maxBytes: 20 });
    expect(byBytes.every((r) => Buffer.byteLength(r.text) <= 20)).toBe(true);
    expect(byBytes[0]!.reason).toBe('max_bytes');
    expect(byBytes.map((r) => r.text).join('\n')).toBe(many);
  });

  it('keeps the byte range of the whole group and the flags of its lines', () => {
    const ls = lines('head\n  a\n  b');
    ls[1]!.truncated = true;
    const j = new MultilineJoiner({ mode: 'custom', start: '^h', maxLines: 9, maxBytes: 999 });
    const out: JoinedRecord[] = [];
    for (const l of ls) j.push(l, out);
    expect(out).toEqual([]);
    expect(j.openStart).toBe(0);
    j.flush('timeout', out);
    expect(out[0]).toMatchObject({ start: 0, end: ls[2]!.end, truncated: true, reason: 'timeout' });
  });

  it('validates custom patterns', () => {
    expect(checkMultiline({ mode: 'custom', maxLines: 1, maxBytes: 1 })).toMatch(/needs start or continue/);
    expect(checkMultiline({ mode: 'custom', start: '(', maxLines: 1, maxBytes: 1 })).toMatch(/^start: /);
    expect(checkMultiline({ mode: 'java', maxLines: 1, maxBytes: 1 })).toBeNull();
  });
});
