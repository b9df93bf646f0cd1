/**
 * Acknowledgements as data (src/delivery/acks.ts): each record carries its source's handle, the sink
 * (or, without one, the pipeline) hands records back to their own handle. No source sees another's.
 */
import { lastValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { acknowledge, AckDirectory, SourceAcks } from '../../src/delivery/acks.ts';
import { NO_PRESSURE } from '../../src/delivery/pressure.ts';
import type { AckHandle, LogRecord } from '../../src/model/log-record.ts';
import { detectionEngine, findings$ } from '../../src/pipeline.ts';
import type { LogSink } from '../../src/sinks/types.ts';
import type { Source } from '../../src/sources/types.ts';

function rec(line: string, ack?: AckHandle): LogRecord {
  return { ts: '2026-01-01T00:00:00Z', tsMs: Date.parse('2026-01-01T00:00:00Z'), line, stream: 'stdout', kind: 'file', level: 'unknown', target: { cluster: 'c', namespace: 'n' }, ...(ack ? { ack } : {}) };
}

class FakeSource implements Source {
  readonly name: string;
  readonly got: (readonly LogRecord[])[] = [];
  readonly acks: SourceAcks | undefined;
  private readonly subject = new Subject<LogRecord[]>();
  readonly records$ = this.subject.asObservable();
  constructor(name: string, withAcks = true) {
    this.name = name;
    this.acks = withAcks ? new SourceAcks(name, (rs) => this.got.push(rs)) : undefined;
  }
  emit(lines: string[]): LogRecord[] {
    const b = lines.map((l) => rec(l, this.acks));
    this.subject.next(b);
    return b;
  }
  end(): void {
    this.subject.complete();
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  unready(): string | null {
    return null;
  }
}

const lines = (s: FakeSource) => s.got.flat().map((r) => r.line);

describe('acknowledgements as data', () => {
  it('acknowledge() gives each handle only its own records, in order; a one-source batch is passed as it is', () => {
    const a = new FakeSource('a');
    const b = new FakeSource('b');
    const mixed = [rec('a1', a.acks), rec('a2', a.acks), rec('b1', b.acks), rec('none'), rec('a3', a.acks), rec('b2', b.acks)];
    acknowledge(mixed);
    expect(lines(a)).toEqual(['a1', 'a2', 'a3']);
    expect(lines(b)).toEqual(['b1', 'b2']);
    for (const r of a.got.flat()) expect(r.ack).toBe(a.acks);
    const only = [rec('a4', a.acks), rec('a5', a.acks)];
    acknowledge(only);
    expect(a.got.at(-1)).toBe(only);
  });

  it('a handle that throws does not keep the others from their acknowledgements', () => {
    const bad = new SourceAcks('bad', () => {
      throw new Error('boom');
    });
    const b = new FakeSource('b');
    acknowledge([rec('x', bad), rec('b1', b.acks)]);
    expect(lines(b)).toEqual(['b1']);
  });

  it('without a sink, the pipeline acknowledges every batch to its own source as it is written', async () => {
    const a = new FakeSource('a');
    const b = new FakeSource('b');
    const c = new FakeSource('c', false);
    const done = lastValueFrom(findings$({ sources: [a, b, c], engine: detectionEngine({ rules: [] }) }).pipe(toArray()));
    a.emit(['a1', 'a2']);
    b.emit(['b1']);
    c.emit(['c1']);
    a.emit(['a3']);
    for (const s of [a, b, c]) s.end();
    await done;
    expect(lines(a)).toEqual(['a1', 'a2', 'a3']);
    expect(lines(b)).toEqual(['b1']);
  });

  it('with a sink, the pipeline registers the sources’ handles and only writes: acknowledgements come from the sink', async () => {
    const a = new FakeSource('a');
    const b = new FakeSource('b');
    const c = new FakeSource('c', false);
    const written: LogRecord[] = [];
    let registered: readonly AckHandle[] = [];
    const sink: LogSink = {
      name: 'fake',
      pressure: NO_PRESSURE,
      write: (rs) => void written.push(...rs),
      register: (hs) => void (registered = hs),
      flush: async () => {},
      close: async () => {},
    };
    const done = lastValueFrom(findings$({ sources: [a, b, c], engine: detectionEngine({ rules: [] }), logSink: sink }).pipe(toArray()));
    expect(registered).toEqual([a.acks, b.acks]);
    a.emit(['a1']);
    b.emit(['b1', 'b2']);
    a.emit(['a2']);
    for (const s of [a, b, c]) s.end();
    await done;
    expect([lines(a), lines(b)]).toEqual([[], []]);
    acknowledge(written);
    expect(lines(a)).toEqual(['a1', 'a2']);
    expect(lines(b)).toEqual(['b1', 'b2']);
  });

  it('a handle serializes as its id, and a directory finds it again by id, also when registered later', () => {
    const a = new FakeSource('a');
    const back = JSON.parse(JSON.stringify(rec('a1', a.acks))) as LogRecord;
    expect((back as unknown as { ack: unknown }).ack).toBe('a');
    const dir = new AckDirectory();
    back.ack = dir.resolve((back as unknown as { ack: unknown }).ack);
    expect(dir.resolve(undefined)).toBeUndefined();
    acknowledge([back]); // nobody registered "a" yet: nothing, and no error
    dir.register([a.acks!]);
    acknowledge([back]);
    expect(lines(a)).toEqual(['a1']);
  });
});
