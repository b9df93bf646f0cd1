import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { encodeJsonBody } from '../../src/sinks/loki/encode-json.ts';
import { encodeProtobufBody, encodePushRequest } from '../../src/sinks/loki/encode-protobuf.ts';
import type { Entry } from '../../src/sinks/loki/entry.ts';
import { groupByStream } from '../../src/sinks/loki/group.ts';
import { formatLabels } from '../../src/sinks/loki/labels.ts';
import { parseRfc3339Nano } from '../../src/sinks/loki/timestamp.ts';

// An independent decoder: protobufjs reflecting over the push.proto schema text (not our code).
const root = new protobuf.Root();
protobuf.parse(readFileSync(new URL('./fixtures/loki-push.proto', import.meta.url), 'utf8'), root, { keepCase: true });
root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
root.resolveAll();
const PushRequest = root.lookupType('logproto.PushRequest');

interface Decoded {
  streams: Array<{
    labels: string;
    entries: Array<{ timestamp: { seconds: number | { toString(): string }; nanos: number }; line: string; structuredMetadata?: Array<{ name: string; value: string }> }>;
  }>;
}

function entry(stream: string, ts: string, line: string, metadata: Array<[string, string]> = []): Entry {
  const time = parseRfc3339Nano(ts);
  if (!time) throw new Error(ts);
  return { stream, time, line, metadata, bytes: Buffer.byteLength(line) };
}

const A = formatLabels([['namespace', 'shop'], ['app', 'cart'], ['cluster', 'c1']]);
const B = formatLabels([['namespace', 'shop'], ['app', 'we"ird\\name'], ['cluster', 'c1']]);

describe('protobuf push encoding', () => {
  const entries: Entry[] = [
    entry(A, '2026-11-22T01:02:03.123456789Z', 'first line', [['pod', 'cart-7d9f-abc'], ['level', 'info']]),
    entry(B, '2026-11-22T01:02:04Z', 'ünïcödé ✓ 日本語 🚀'),
    entry(A, '2026-11-22T01:02:02.000000001Z', 'earlier line arrives second'),
    entry(A, '2026-11-22T03:02:03.5+02:00', ''),
  ];

  it('decodes with protobufjs from push.proto: labels, exact timestamps, lines, metadata, per-stream order', () => {
    const raw = encodePushRequest(groupByStream(entries));
    const msg = PushRequest.toObject(PushRequest.decode(raw), { longs: String, defaults: true }) as Decoded;
    expect(msg.streams.map((s) => s.labels)).toEqual([A, B]);
    expect(A).toBe('{app="cart",cluster="c1",namespace="shop"}');
    expect(B).toBe('{app="we\\"ird\\\\name",cluster="c1",namespace="shop"}');
    const a = msg.streams[0]!.entries;
    // Stream A sorted by timestamp; the +02:00 entry is 01:02:03.5Z.
    expect(a.map((e) => [String(e.timestamp.seconds), e.timestamp.nanos ?? 0, e.line])).toEqual([
      [String(Date.UTC(2026, 10, 22, 1, 2, 2) / 1000), 1, 'earlier line arrives second'],
      [String(Date.UTC(2026, 10, 22, 1, 2, 3) / 1000), 123456789, 'first line'],
      [String(Date.UTC(2026, 10, 22, 1, 2, 3) / 1000), 500000000, ''],
    ]);
    expect(a[1]!.structuredMetadata).toEqual([
      { name: 'pod', value: 'cart-7d9f-abc' },
      { name: 'level', value: 'info' },
    ]);
    expect(msg.streams[1]!.entries[0]!.line).toBe('ünïcödé ✓ 日本語 🚀');
    expect(msg.streams[1]!.entries[0]!.timestamp.nanos ?? 0).toBe(0);
  });

  it('is byte-identical to protobufjs encoding of the same message', () => {
    const streams = groupByStream(entries);
    const ours = encodePushRequest(streams);
    const theirs = PushRequest.encode(
      PushRequest.fromObject({
        streams: streams.map((s) => ({
          labels: s.labels,
          entries: s.entries.map((e) => ({
            timestamp: { seconds: e.time.sec, nanos: e.time.nanos },
            line: e.line,
            structuredMetadata: e.metadata.map(([name, value]) => ({ name, value })),
          })),
        })),
      }),
    ).finish();
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
  });

  it('handles large lines and varints past 2^28 and negative seconds', () => {
    const big = 'x'.repeat(300_000);
    const es = [entry(A, '1969-12-31T23:59:59.5Z', 'before epoch'), entry(A, '2262-01-01T00:00:00Z', big)];
    const msg = PushRequest.toObject(PushRequest.decode(encodePushRequest(groupByStream(es))), { longs: String, defaults: true }) as Decoded;
    expect(String(msg.streams[0]!.entries[0]!.timestamp.seconds)).toBe('-1');
    expect(msg.streams[0]!.entries[0]!.timestamp.nanos).toBe(500000000);
    expect(msg.streams[0]!.entries[1]!.line.length).toBe(300_000);
  });

  it('wraps the message in a snappy block (not the framed format)', () => {
    const streams = groupByStream(entries);
    const body = encodeProtobufBody(streams);
    // Framed snappy starts with the stream identifier chunk ff 06 00 00 "sNaPpY".
    expect(body.subarray(0, 4).equals(Buffer.from([0xff, 0x06, 0x00, 0x00]))).toBe(false);
    const raw = encodePushRequest(streams);
    // A block starts with the uncompressed length as a varint.
    const first = body[0]!;
    expect(first & 0x7f).toBe(raw.length & 0x7f);
    expect(Buffer.from(snappy.uncompress(body)).equals(raw)).toBe(true);
  });
});

describe('JSON push encoding', () => {
  it('uses string nanosecond timestamps and metadata as the third element', () => {
    const es = [entry(A, '2026-11-22T01:02:03.123456789Z', 'l1', [['pod', 'p1']]), entry(B, '2026-11-22T01:02:03Z', 'l2')];
    const body = JSON.parse(encodeJsonBody(groupByStream(es)).toString('utf8')) as {
      streams: Array<{ stream: Record<string, string>; values: unknown[][] }>;
    };
    expect(body.streams[0]).toEqual({
      stream: { app: 'cart', cluster: 'c1', namespace: 'shop' },
      values: [[`${Date.UTC(2026, 10, 22, 1, 2, 3) / 1000}123456789`, 'l1', { pod: 'p1' }]],
    });
    expect(body.streams[1]!.stream.app).toBe('we"ird\\name');
    expect(body.streams[1]!.values[0]).toEqual([`${Date.UTC(2026, 10, 22, 1, 2, 3) / 1000}000000000`, 'l2']);
  });
});
