/** Timing helpers shared by the benchmarks: medians of warm runs. */
import * as tf from '@tensorflow/tfjs';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Median wall time of `step`, which returns the tensors to wait for and dispose.
 * It waits by reading one element of each output: enough to block until an async
 * backend has finished, without timing the download of whole tensors. Timed runs stop
 * early once they have taken `budgetMs` together (at least one runs).
 */
export async function timeTensorStep(
  step: () => tf.Tensor | tf.Tensor[],
  warmupRuns: number,
  timedRuns: number,
  budgetMs = Infinity,
): Promise<number> {
  const times: number[] = [];
  let spent = 0;
  for (let run = 0; run < warmupRuns + timedRuns && spent < budgetMs; run++) {
    const start = performance.now();
    const result = step();
    const outputs = Array.isArray(result) ? result : [result];
    const firsts = outputs.map((t) => tf.slice(tf.reshape(t, [-1]), 0, 1));
    await Promise.all(firsts.map((t) => t.data()));
    tf.dispose(firsts);
    const elapsed = performance.now() - start;
    tf.dispose(outputs);
    if (run >= warmupRuns) {
      times.push(elapsed);
      spent += elapsed;
    }
  }
  return median(times);
}
