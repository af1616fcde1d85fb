/**
 * The per-channel arithmetic of batch norm's training kernels, shared by the cpu and wasm
 * kernels: from the column sums each computes in its own way to the statistics and the
 * coefficients of its affine pass. When replica sums are active (a data-parallel step with
 * synchronous batch norm), the replicas' sums are added first, so every replica
 * normalises with the statistics of the whole batch and back-propagates through them.
 */
import { activeReplicaSums, ReplicaSums } from '../replica_sums';

/** Per-channel arrays of the forward pass; `mean` and `variance` are the op's outputs. */
export interface NormalizationArrays {
  scale: Float32Array;
  offset: Float32Array;
  /** In: this replica's column means. Out: the batch's. */
  mean: Float32Array;
  /** In: this replica's sums of squared deviations from its own means. Out: the batch's (biased) variance. */
  variance: Float32Array;
  /** Out: y = x * gain + shift. */
  gain: Float32Array;
  shift: Float32Array;
}

/** Turns the column statistics of `rows` rows into the batch's mean and variance, and the affine pass's coefficients. */
export function normalizationCoefficients(a: NormalizationArrays, rows: number, epsilon: number): void {
  const replicas = activeReplicaSums();
  if (replicas === undefined) {
    for (let c = 0; c < a.variance.length; c++) a.variance[c] /= rows;
  } else {
    combineMoments(replicas, a.mean, a.variance, rows);
  }
  for (let c = 0; c < a.variance.length; c++) {
    a.gain[c] = a.scale[c] / Math.sqrt(a.variance[c] + epsilon);
    a.shift[c] = a.offset[c] - a.mean[c] * a.gain[c];
  }
}

/**
 * The batch's mean and variance from every replica's row count, sums and sums of squared
 * deviations (Chan et al.'s parallel combination, in float64).
 */
function combineMoments(replicas: ReplicaSums, mean: Float32Array, deviations: Float32Array, rows: number): void {
  const channels = mean.length;
  const local = new Float64Array(1 + 2 * channels);
  local[0] = rows;
  for (let c = 0; c < channels; c++) {
    const sum = mean[c] * rows;
    local[1 + c] = sum;
    local[1 + channels + c] = deviations[c] + (sum * sum) / rows;
  }
  const total = replicas.sum(local);
  const count = total[0];
  for (let c = 0; c < channels; c++) {
    const batchMean = total[1 + c] / count;
    mean[c] = batchMean;
    deviations[c] = Math.max(total[1 + channels + c] / count - batchMean * batchMean, 0);
  }
}

/** Per-channel arrays of the backward pass. */
export interface GradientArrays {
  scale: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  dMean: Float32Array;
  dVariance: Float32Array;
  /** sum(dy) over this replica's rows: the offset's gradient. */
  sumDy: Float32Array;
  /** sum(dy * (x - mean)) over this replica's rows. */
  sumDyCentered: Float32Array;
  /** Out: dx = dy * k1 + x * k2 + shift. */
  k1: Float32Array;
  k2: Float32Array;
  shift: Float32Array;
  /** Out: the scale's gradient. */
  dScale: Float32Array;
}

/**
 * The coefficients of dx, and dScale, from the column sums of `rows` rows. With
 * xc = x - mean, rstd = 1 / sqrt(variance + epsilon) and N rows, per channel:
 *
 *   dx     = dy * k1 + xc * k2 + k3
 *   k1     = scale * rstd
 *   k2     = (-scale * rstd^3 * sum(dy * xc) + 2 * dVariance) / N
 *   k3     = (-scale * rstd * sum(dy) + dMean) / N
 *   dScale = rstd * sum(dy * xc),   dOffset = sum(dy).
 *
 * Synchronous: the sums in k2 and k3 run over the whole batch's N rows. Each replica's dy
 * is the gradient of its own shard's mean loss, s times (its share of the batch) that of
 * the batch's mean loss; so its sums enter multiplied by s, and its dx, which must carry
 * its own scale again, is the batch's divided by s: the divisor N * s is this replica's
 * own `rows`. dScale and dOffset stay this replica's own, as every other gradient does
 * (the runner adds the replicas' gradients weighted by their shares).
 */
export function gradientCoefficients(a: GradientArrays, rows: number, epsilon: number): void {
  const channels = a.scale.length;
  const [sumDy, sumDyCentered, dMean, dVariance] = batchGradientSums(a);
  for (let c = 0; c < channels; c++) {
    const rstd = 1 / Math.sqrt(a.variance[c] + epsilon);
    a.k1[c] = a.scale[c] * rstd;
    a.k2[c] = (-a.scale[c] * rstd * rstd * rstd * sumDyCentered[c] + 2 * dVariance[c]) / rows;
    const k3 = (-a.scale[c] * rstd * sumDy[c] + dMean[c]) / rows;
    a.shift[c] = k3 - a.mean[c] * a.k2[c];
    a.dScale[c] = rstd * a.sumDyCentered[c];
  }
}

/** sum(dy), sum(dy * xc), dMean and dVariance over the whole batch (this replica's own when training alone). */
function batchGradientSums(a: GradientArrays): ArrayLike<number>[] {
  const replicas = activeReplicaSums();
  const own = [a.sumDy, a.sumDyCentered, a.dMean, a.dVariance];
  if (replicas === undefined) return own;
  const channels = a.scale.length;
  const local = new Float64Array(4 * channels);
  own.forEach((values, k) => {
    for (let c = 0; c < channels; c++) local[k * channels + c] = values[c] * replicas.share;
  });
  const total = replicas.sum(local);
  return own.map((_, k) => total.subarray(k * channels, (k + 1) * channels));
}
