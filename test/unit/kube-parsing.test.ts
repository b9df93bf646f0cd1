import { describe, expect, it } from 'vitest';
import { LineSplitter, type SplitLine } from '../../src/sources/kube/line-splitter.ts';
import { floorToSecond, keyFromMs, parseTs, splitTimestamp } from '../../src/sources/kube/timestamp.ts';

describe('API log timestamps', () => {
  it('parses the kubelet fixed 9-digit UTC form', () => {
    const p = parseTs('2026-03-04T05:06:07.123456789Z')!;
    expect(p.key).toBe('2026-03-04T05:06:07.123456789Z');
    expect(p.ms).toBe(Date.UTC(2026, 2, 4, 5, 6, 7, 123));
  });

  it('normalizes numeric offsets (CRI-O) and short fractions to sortable UTC keys', () => {
    expect(parseTs('2026-03-04T07:06:07.5+02:00')!.key).toBe('2026-03-04T05:06:07.500000000Z');
    expect(parseTs('2026-03-04T05:06:07Z')!.key).toBe('2026-03-04T05:06:07.000000000Z');
    expect(parseTs('nope')).toBeNull();
  });

  it('splits prefix and message, keeping spaces in the message', () => {
    const s = splitTimestamp('2026-03-04T05:06:07.000000001Z  two spaces')!;
    expect(s.message).toBe(' two spaces');
    expect(s.ts.raw).toBe('2026-03-04T05:06:07.000000001Z');
    expect(splitTimestamp('no timestamp here')).toBeNull();
    expect(splitTimestamp('2026-03-04T05:06:07.000000001Z')!.message).toBe('');
  });

  it('floors to whole seconds for sinceTime', () => {
    expect(floorToSecond('2026-03-04T05:06:07.999999999Z')).toBe('2026-03-04T05:06:07Z');
    expect(keyFromMs(Date.UTC(2026, 0, 1, 0, 0, 0, 42))).toBe('2026-01-01T00:00:00.042000000Z');
  });
});

describe('LineSplitter', () => {
  const run = (chunks: Buffer[], max?: number): SplitLine[] => {
    const s = new LineSplitter(max);
    const out: SplitLine[] = [];
    for (const c of chunks) s.push(c, out);
    return out;
  };

  it('joins lines cut at any byte, including inside a UTF-8 character', () => {
    const text = 'héllo wörld\nsecond ✓ line\nthird\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const out = run([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(out.map((l) => l.text)).toEqual(['héllo wörld', 'second ✓ line', 'third']);
      expect(out.every((l) => !l.invalidUtf8 && !l.truncated)).toBe(true);
    }
    const oneByOne = run([...bytes].map((b) => Buffer.from([b])));
    expect(oneByOne.map((l) => l.text)).toEqual(['héllo wörld', 'second ✓ line', 'third']);
  });

  it('keeps an unfinished line until its newline arrives', () => {
    const s = new LineSplitter();
    const out: SplitLine[] = [];
    s.push(Buffer.from('par'), out);
    expect(out).toHaveLength(0);
    expect(s.pending).toBe(3);
    s.push(Buffer.from('tial\n'), out);
    expect(out.map((l) => l.text)).toEqual(['partial']);
  });

  it('cuts runaway lines at maxLineBytes without splitting a character, and resynchronizes at the newline', () => {
    const out = run([Buffer.from('aaaa€'), Buffer.from('bbbbbbbb\nnext\n')], 6);
    expect(out.map((l) => [l.text, l.truncated])).toEqual([
      ['aaaa', true],
      ['next', false],
    ]);
  });

  it('flags invalid UTF-8', () => {
    const out = run([Buffer.from([0x61, 0xff, 0x62, 0x0a])]);
    expect(out[0]!.invalidUtf8).toBe(true);
    expect(run([Buffer.from('ok \uFFFD literal\n')])[0]!.invalidUtf8).toBe(false);
  });
});
