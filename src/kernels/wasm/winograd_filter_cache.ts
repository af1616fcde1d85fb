/**
 * The forward convolution's transformed filters, kept for a filter that comes back: inference
 * convolves the same weights call after call, and re-transforming them (and XNNPACK re-packing
 * every plane) cost more than the products at batch 1. A training step's weights are new
 * every step, so a filter is kept only from its second use on: training keeps nothing.
 * At most CAPACITY filters are kept, the least recently used leaving first, and a kept filter
 * whose tensor has been freed leaves at the next insertion.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WinogradPlanes, disposeWinogradPlanes } from './simd/conv_kernels';

const CAPACITY = 16;

interface Kept {
  backend: BackendWasm;
  /** The filter's shape (a reshaped view shares its data id) and the algorithm. */
  shape: string;
  variant: number;
  planes: WinogradPlanes;
}

/** Filters convolved once (their data ids), and the kept ones, least recently used first. */
const seen = new WeakSet<object>();
const kept = new Map<object, Kept>();

function release({ backend, planes }: Kept): void {
  disposeWinogradPlanes(backend, planes);
}

function evictStale(): void {
  for (const [dataId, entry] of kept) {
    if (!entry.backend.dataIdMap.has(dataId)) {
      kept.delete(dataId);
      release(entry);
    }
  }
  while (kept.size > CAPACITY) {
    const [dataId, entry] = kept.entries().next().value as [object, Kept];
    kept.delete(dataId);
    release(entry);
  }
}

/**
 * The transform of filter `w` for algorithm `variant`: a kept one, or `make()`'s. `release`
 * frees it after use unless it is kept.
 */
export function forwardFilterPlanes(
  backend: BackendWasm,
  w: tf.TensorInfo,
  variant: number,
  make: () => WinogradPlanes,
): { planes: WinogradPlanes; release: () => void } {
  const key = w.dataId as object;
  const shape = w.shape.join(',');
  const hit = kept.get(key);
  if (hit !== undefined && hit.backend === backend && hit.variant === variant && hit.shape === shape) {
    kept.delete(key);
    kept.set(key, hit);
    return { planes: hit.planes, release: () => undefined };
  }
  const planes = make();
  const entry = { backend, shape, variant, planes };
  if (!seen.has(key)) {
    seen.add(key);
    return { planes, release: () => release(entry) };
  }
  if (hit !== undefined) release(hit);
  kept.set(key, entry);
  evictStale();
  return { planes, release: () => undefined };
}

/** How many transformed filters are kept (for tests). */
export function keptFilterCount(): number {
  return kept.size;
}
