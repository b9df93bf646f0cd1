import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { MinerState } from './miner.ts';

/**
 * Miner snapshots: `RSDM` magic, a format version byte, then the state as deflated JSON.
 * Templates compress well (shared words), so a few thousand clusters fit in tens of KB, which
 * matters for the JetStream KV store (1 MiB default value limit).
 */
const MAGIC = [0x52, 0x53, 0x44, 0x4d]; // RSDM
export const SNAPSHOT_VERSION = 1;

export function encodeState(state: MinerState): Uint8Array {
  const body = deflateRawSync(Buffer.from(JSON.stringify(state), 'utf8'));
  const out = new Uint8Array(5 + body.length);
  out.set(MAGIC, 0);
  out[4] = SNAPSHOT_VERSION;
  out.set(body, 5);
  return out;
}

export function decodeState(bytes: Uint8Array): MinerState {
  if (bytes.length < 5 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('miner snapshot: bad magic');
  const version = bytes[4];
  if (version !== SNAPSHOT_VERSION) throw new Error(`miner snapshot: unsupported version ${version}`);
  const json: unknown = JSON.parse(inflateRawSync(bytes.subarray(5)).toString('utf8'));
  if (!isState(json)) throw new Error('miner snapshot: malformed state');
  return json;
}

function isState(v: unknown): v is MinerState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  if (typeof s.lines !== 'number' || typeof s.evicted !== 'number' || typeof s.seq !== 'number') return false;
  if (!Array.isArray(s.clusters) || !Array.isArray(s.aliases)) return false;
  for (const c of s.clusters as unknown[]) {
    if (typeof c !== 'object' || c === null) return false;
    const r = c as Record<string, unknown>;
    if (typeof r.id !== 'string' || typeof r.count !== 'number' || typeof r.seq !== 'number') return false;
    if (!Array.isArray(r.tokens) || !(r.tokens as unknown[]).every((t) => typeof t === 'string')) return false;
    if (!Array.isArray(r.display) || !(r.display as unknown[]).every((t) => typeof t === 'string')) return false;
  }
  for (const a of s.aliases as unknown[]) {
    if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string' || typeof a[1] !== 'string') return false;
  }
  return true;
}
