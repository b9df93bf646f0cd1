/**
 * Stable cluster ids: a hash of the cluster's first template, so the same pattern gets the same
 * id in every replica and after a snapshot is lost. FNV-1a over UTF-16 code units, two 32-bit
 * lanes with different offsets, printed as 12 base-36 characters.
 */
export function templateHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  const hi = (a >>> 0).toString(36).padStart(7, '0');
  const lo = (b >>> 0).toString(36).padStart(7, '0');
  return (hi + lo).slice(0, 12);
}
