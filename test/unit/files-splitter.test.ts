import { describe, expect, it } from 'vitest';
import { FileLineSplitter, type FileLine } from '../../src/sources/files/splitter.ts';

function split(chunks: Array<string | Buffer>, max = 1024, start = 0): FileLine[] {
  const s = new FileLineSplitter(max, start);
  const out: FileLine[] = [];
  let at = start;
  for (const c of chunks) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    s.push(b, at, out);
    at += b.length;
  }
  return out;
}

describe('file line splitter', () => {
  it('gives each line its byte range, whatever the read boundaries', () => {
    const text = 'alpha\nbeta\r\n\ngamma δ\n';
    const whole = split([text]);
    expect(whole.map((l) => [l.text, l.start, l.end])).toEqual([
      ['alpha', 0, 6],
      ['beta', 6, 12],
      ['', 12, 13],
      ['gamma δ', 13, 22],
    ]);
    // Every cut, including inside the two-byte δ, gives the same lines.
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(split([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(whole);
    }
  });

  it('starts at an offset and keeps a partial line until its newline', () => {
    const s = new FileLineSplitter(100, 500);
    const out: FileLine[] = [];
    s.push(Buffer.from('one\ntw'), 500, out);
    expect(out.map((l) => l.text)).toEqual(['one']);
    expect(s.hasPartial).toBe(true);
    expect(s.partialStart).toBe(504);
    s.push(Buffer.from('o\n'), 506, out);
    expect(out.map((l) => [l.text, l.start, l.end])).toEqual([
      ['one', 500, 504],
      ['two', 504, 508],
    ]);
    expect(s.hasPartial).toBe(false);
  });

  it('flushes a partial line with the read position as its end', () => {
    const s = new FileLineSplitter(100);
    const out: FileLine[] = [];
    s.push(Buffer.from('no newline yet'), 0, out);
    s.flushPartial(14, out);
    s.push(Buffer.from(' rest\n'), 14, out);
    expect(out.map((l) => [l.text, l.start, l.end])).toEqual([
      ['no newline yet', 0, 14],
      [' rest', 14, 20],
    ]);
  });

  it('cuts an oversized line to its head, on a character boundary, and ends it after its newline', () => {
    const long = 'é'.repeat(40); // 80 bytes
    const lines = split([`${long}\nnext\n`], 33);
    expect(lines[0]!.truncated).toBe(true);
    expect(lines[0]!.text).toBe('é'.repeat(16)); // 32 bytes: the 33rd is half a character
    expect(lines[0]!.invalidUtf8).toBe(false);
    expect([lines[0]!.start, lines[0]!.end]).toEqual([0, 81]);
    expect(lines[1]).toMatchObject({ text: 'next', start: 81, end: 86, truncated: false });
    // The same in small reads: the rest is skipped without being held.
    const bytes = Buffer.from(`${long}\nnext\n`);
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7) pieces.push(bytes.subarray(i, i + 7));
    expect(split(pieces, 33)).toEqual(lines);
  });

  it('a partial flush inside an oversized line skips the rest of it later', () => {
    const s = new FileLineSplitter(10);
    const out: FileLine[] = [];
    s.push(Buffer.from('0123456789abcdef'), 0, out);
    s.flushPartial(16, out);
    expect(out[0]).toMatchObject({ text: '0123456789', truncated: true, skipRest: true, end: 16 });
    s.push(Buffer.from('ghij\nafter\n'), 16, out);
    expect(out.slice(1).map((l) => [l.text, l.start])).toEqual([['after', 21]]);
    // Resuming at a position recorded with skip: the splitter skips to the next newline.
    const r = new FileLineSplitter(10, 16, true);
    const o2: FileLine[] = [];
    r.push(Buffer.from('ghij\nafter\n'), 16, o2);
    expect(o2.map((l) => l.text)).toEqual(['after']);
  });

  it('replaces invalid UTF-8 and says so, but not for a valid U+FFFD', () => {
    const lines = split([Buffer.concat([Buffer.from('bad '), Buffer.from([0xff, 0xfe]), Buffer.from(' bytes\nreal \uFFFD ok\n')])]);
    expect(lines[0]).toMatchObject({ text: 'bad \uFFFD\uFFFD bytes', invalidUtf8: true });
    expect(lines[1]).toMatchObject({ text: 'real \uFFFD ok', invalidUtf8: false });
  });
});
