/**
 * Per-layer initialiser seeds derived from one run seed, so that a layer's initial
 * weights depend only on (seed, layer name) and not on the order layers are built in.
 */

/** A 31-bit seed for `layerName` under `seed` (FNV-1a over both), or undefined without a seed. */
export function seedFor(seed: number | undefined, layerName: string): number | undefined {
  if (seed === undefined) return undefined;
  let hash = 0x811c9dc5;
  for (const ch of `${seed}:${layerName}`) {
    hash ^= ch.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash & 0x7fffffff;
}
