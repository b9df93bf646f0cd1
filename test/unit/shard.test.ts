import { describe, expect, it } from 'vitest';
import { fnv1a32, replicaIndexFromHostname, stableShard, workloadKey } from '../../src/sources/shard.ts';

describe('stable sharding', () => {
  it('is FNV-1a 32 (published test vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes UTF-8 bytes, not UTF-16 units', () => {
    // "é" is 2 bytes in UTF-8: hashing units would give the hash of a single byte 0xe9.
    let h = 0x811c9dc5;
    for (const b of [0xc3, 0xa9]) h = Math.imul(h ^ b, 0x01000193);
    expect(fnv1a32('é')).toBe(h >>> 0);
  });

  it('puts every pod of a workload on the same replica and spreads workloads', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[stableShard(workloadKey('ns', 'Deployment', `svc-${i}`), 3)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(stableShard(workloadKey('shop', 'Deployment', 'cart'), 3)).toBe(stableShard(workloadKey('shop', 'Deployment', 'cart'), 3));
    expect(stableShard('x', 1)).toBe(0);
    expect(() => stableShard('x', 0)).toThrow(RangeError);
  });

  it('reads the StatefulSet ordinal from the hostname', () => {
    expect(replicaIndexFromHostname('robot-sre-detector-2')).toBe(2);
    expect(replicaIndexFromHostname('rsd-0')).toBe(0);
    expect(replicaIndexFromHostname('rsd-7f9c6d-abcde')).toBeNull();
    expect(replicaIndexFromHostname(undefined)).toBeNull();
  });
});
