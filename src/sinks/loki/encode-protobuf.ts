import snappy from 'snappyjs';
import type { StreamBatch } from './group.ts';

/**
 * Hand-written encoder for Loki's `logproto.PushRequest` (pkg/push/push.proto):
 *   PushRequest   { repeated StreamAdapter streams = 1; }
 *   StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
 *   EntryAdapter  { google.protobuf.Timestamp timestamp = 1; string line = 2;
 *                   repeated LabelPairAdapter structuredMetadata = 3; }
 *   LabelPairAdapter { string name = 1; string value = 2; }
 *   Timestamp     { int64 seconds = 1; int32 nanos = 2; }
 * Two passes (sizes, then bytes into one buffer) so a 1 MiB batch costs one allocation.
 */

const TAG_1_LEN = 0x0a; // field 1, wire type 2
const TAG_2_LEN = 0x12;
const TAG_3_LEN = 0x1a;
const TAG_1_VARINT = 0x08;
const TAG_2_VARINT = 0x10;

function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 5;
  v = Math.floor(v / 0x800000000);
  while (v > 0) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function int64Size(v: number): number {
  // Negative int64 is always 10 bytes (two's complement, sign-extended).
  return v < 0 ? 10 : varintSize(v);
}

class Writer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
  varint(v: number): void {
    if (v < 0x80000000) {
      // Bit operations are exact below 2^31 and much cheaper than float division.
      while (v > 0x7f) {
        this.buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.pos++] = v;
      return;
    }
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  int64(v: number): void {
    if (v >= 0) {
      this.varint(v);
      return;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }
  bytes(b: Buffer): void {
    if (b.length < 32) {
      for (let i = 0; i < b.length; i++) this.buf[this.pos++] = b[i]!;
    } else {
      b.copy(this.buf, this.pos);
      this.pos += b.length;
    }
  }
  str(s: string, byteLen: number): void {
    this.varint(byteLen);
    this.pos += this.buf.write(s, this.pos, byteLen, 'utf8');
  }
}

function strField(len: number): number {
  return 1 + varintSize(len) + len;
}

/**
 * Encoded LabelPairAdapter bodies for metadata that repeats from line to line (pod, node, level,
 * stream…): most entries then cost a map lookup and a short copy. Ids are unique per line and
 * would only churn the cache, so they are encoded directly.
 */
const pairCache = new Map<string, Map<string, Buffer>>();
let pairCacheSize = 0;
const PAIR_CACHE_MAX = 20_000;
const UNCACHED = new Set(['trace_id', 'span_id', 'request_id']);

function encodePair(name: string, value: string): Buffer {
  const nl = Buffer.byteLength(name);
  const vl = Buffer.byteLength(value);
  const len = (nl > 0 ? strField(nl) : 0) + (vl > 0 ? strField(vl) : 0);
  const w = new Writer(len);
  if (nl > 0) {
    w.byte(TAG_1_LEN);
    w.str(name, nl);
  }
  if (vl > 0) {
    w.byte(TAG_2_LEN);
    w.str(value, vl);
  }
  return w.buf;
}

function pairBytes(name: string, value: string): Buffer | undefined {
  if (UNCACHED.has(name)) return undefined;
  let byValue = pairCache.get(name);
  if (!byValue) {
    byValue = new Map();
    pairCache.set(name, byValue);
  }
  let b = byValue.get(value);
  if (!b) {
    if (pairCacheSize >= PAIR_CACHE_MAX) {
      for (const m of pairCache.values()) m.clear();
      pairCacheSize = 0;
    }
    b = encodePair(name, value);
    byValue.set(value, b);
    pairCacheSize++;
  }
  return b;
}

/** Serialised PushRequest (not compressed). */
export function encodePushRequest(streams: readonly StreamBatch[]): Buffer {
  // Pass 1: byte lengths of every string and nested message, kept in flat arrays in visit order.
  const strLens: number[] = [];
  const msgLens: number[] = [];
  const pairs: Array<Buffer | undefined> = [];
  let total = 0;
  for (const s of streams) {
    const labelsLen = Buffer.byteLength(s.labels);
    strLens.push(labelsLen);
    let streamLen = strField(labelsLen);
    const streamIdx = msgLens.push(0) - 1;
    for (const e of s.entries) {
      const tsLen = (e.time.sec !== 0 ? 1 + int64Size(e.time.sec) : 0) + (e.time.nanos !== 0 ? 1 + varintSize(e.time.nanos) : 0);
      const lineLen = Buffer.byteLength(e.line);
      strLens.push(lineLen);
      let entryLen = 1 + varintSize(tsLen) + tsLen + (lineLen > 0 ? strField(lineLen) : 0);
      const entryIdx = msgLens.push(0) - 1;
      for (const [name, value] of e.metadata) {
        const cached = pairBytes(name, value);
        pairs.push(cached);
        let pairLen: number;
        if (cached) pairLen = cached.length;
        else {
          const nl = Buffer.byteLength(name);
          const vl = Buffer.byteLength(value);
          strLens.push(nl, vl);
          pairLen = (nl > 0 ? strField(nl) : 0) + (vl > 0 ? strField(vl) : 0);
        }
        msgLens.push(pairLen);
        entryLen += 1 + varintSize(pairLen) + pairLen;
      }
      msgLens[entryIdx] = entryLen;
      streamLen += 1 + varintSize(entryLen) + entryLen;
    }
    msgLens[streamIdx] = streamLen;
    total += 1 + varintSize(streamLen) + streamLen;
  }

  // Pass 2: write.
  const w = new Writer(total);
  let si = 0;
  let mi = 0;
  let pi = 0;
  for (const s of streams) {
    w.byte(TAG_1_LEN);
    w.varint(msgLens[mi++]!);
    w.byte(TAG_1_LEN);
    w.str(s.labels, strLens[si++]!);
    for (const e of s.entries) {
      w.byte(TAG_2_LEN);
      w.varint(msgLens[mi++]!);
      const tsLen = (e.time.sec !== 0 ? 1 + int64Size(e.time.sec) : 0) + (e.time.nanos !== 0 ? 1 + varintSize(e.time.nanos) : 0);
      w.byte(TAG_1_LEN);
      w.varint(tsLen);
      if (e.time.sec !== 0) {
        w.byte(TAG_1_VARINT);
        w.int64(e.time.sec);
      }
      if (e.time.nanos !== 0) {
        w.byte(TAG_2_VARINT);
        w.varint(e.time.nanos);
      }
      const lineLen = strLens[si++]!;
      if (lineLen > 0) {
        w.byte(TAG_2_LEN);
        w.str(e.line, lineLen);
      }
      for (const [name, value] of e.metadata) {
        w.byte(TAG_3_LEN);
        w.varint(msgLens[mi++]!);
        const cached = pairs[pi++];
        if (cached) {
          w.bytes(cached);
          continue;
        }
        const nl = strLens[si++]!;
        const vl = strLens[si++]!;
        if (nl > 0) {
          w.byte(TAG_1_LEN);
          w.str(name, nl);
        }
        if (vl > 0) {
          w.byte(TAG_2_LEN);
          w.str(value, vl);
        }
      }
    }
  }
  if (w.pos !== total) throw new Error(`loki protobuf encoder: wrote ${w.pos} bytes, expected ${total}`);
  return w.buf;
}

/** Snappy *block* format (not the framed stream format): what Loki's util.RawSnappy decodes. */
export function snappyBlock(raw: Uint8Array): Buffer {
  const out = snappy.compress(raw);
  return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

export function encodeProtobufBody(streams: readonly StreamBatch[]): Buffer {
  return snappyBlock(encodePushRequest(streams));
}
