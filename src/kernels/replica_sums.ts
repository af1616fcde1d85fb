/**
 * Sums of per-channel statistics across the replicas of a data-parallel training step:
 * what makes batch norm synchronous (every replica normalises with the whole batch's
 * statistics, forward and backward, as PyTorch's SyncBatchNorm does). A step runner
 * activates one around each replica's forward and backward pass; the batch norm kernels
 * of the cpu and wasm backends call it between their sums and their affine pass.
 */

/** One replica's side of the cross-replica sums. */
export interface ReplicaSums {
  /** This replica's share of the batch (its examples / the batch's): the scale its loss, and so its gradients, carry. */
  readonly share: number;
  /**
   * Element-wise sums of `values` over every replica, the same bits on each. Every replica
   * calls it the same number of times, in the same order, with the same lengths.
   */
  sum(values: Float64Array): Float64Array;
}

/**
 * The active sums live on globalThis, not in this module: a thread may load two copies
 * of the kernels (compiled and TypeScript, under a test runner), and both must see them.
 */
const ACTIVE = Symbol.for('deformconv.activeReplicaSums');
const slot = globalThis as Record<symbol, ReplicaSums | undefined>;

/** Runs `fn` (one replica's forward and backward pass) with `sums` active; restores what was active before. */
export function withReplicaSums<T>(sums: ReplicaSums, fn: () => T): T {
  const previous = slot[ACTIVE];
  slot[ACTIVE] = sums;
  try {
    return fn();
  } finally {
    slot[ACTIVE] = previous;
  }
}

/** The sums of the step being computed, or undefined when training alone. */
export function activeReplicaSums(): ReplicaSums | undefined {
  return slot[ACTIVE];
}
