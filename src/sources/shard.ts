/**
 * Stable sharding of workloads across replicas of a StatefulSet.
 *
 * Hash: 32-bit FNV-1a over the UTF-8 bytes of the workload key (offset basis 2166136261, prime 16777619).
 * FNV-1a is tiny, has no dependency, and — unlike JavaScript's string hashing or a Map order — gives the same
 * answer in every process and version, which is the whole point: every replica must agree on who owns what
 * without talking to the others.
 */

const encoder = new TextEncoder();

export function fnv1a32(input: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(input)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Replica index (0 … replicas-1) that owns the workload. */
export function stableShard(workloadKey: string, replicas: number): number {
  if (!Number.isInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be a positive integer, got ${replicas}`);
  return fnv1a32(workloadKey) % replicas;
}

/** Key that puts all pods of one workload on the same replica (namespace + kind + name). */
export function workloadKey(namespace: string, workloadKind: string, workload: string): string {
  return `${namespace}/${workloadKind}/${workload}`;
}

/** StatefulSet pods are named `<set>-<ordinal>`: the ordinal is the replica index. Null when the name has none. */
export function replicaIndexFromHostname(hostname: string | undefined): number | null {
  if (!hostname) return null;
  const m = /-(\d+)$/.exec(hostname);
  if (!m?.[1]) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}
