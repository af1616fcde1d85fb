/**
 * The optimizer of both training stages and its exact save/restore.
 *
 * tfjs's Adam keeps beta1^t and beta2^t as running products; setWeights() recomputes
 * them as pow(beta, t + 1), which can differ in the last float32 bit from the product
 * an uninterrupted run carries. A resumed run must match an uninterrupted one bit for
 * bit, so those two scalars are saved and restored as they are.
 */

import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import { NamedTensor } from './checkpoint';

/** Keras 2.0's Adam defaults, the reference's optimizer (tfjs would use epsilon 1e-7). */
export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPSILON = 1e-8;

export function createAdam(learningRate: number): tf.AdamOptimizer {
  return tf.train.adam(learningRate, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON);
}

/** The running products beta1^t, beta2^t (private fields of tfjs 4.x's AdamOptimizer). */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

export interface AdamScalars {
  accBeta1: number;
  accBeta2: number;
}

function internals(optimizer: tf.AdamOptimizer): AdamInternals {
  const adam = optimizer as unknown as Partial<AdamInternals>;
  if (!(adam.accBeta1 instanceof tf.Variable) || !(adam.accBeta2 instanceof tf.Variable)) {
    throw new Error('this tfjs AdamOptimizer has no accBeta1/accBeta2; optimizer.ts needs updating for it');
  }
  return adam as AdamInternals;
}

export function adamScalars(optimizer: tf.AdamOptimizer): AdamScalars {
  const { accBeta1, accBeta2 } = internals(optimizer);
  return { accBeta1: accBeta1.dataSync()[0], accBeta2: accBeta2.dataSync()[0] };
}

/**
 * Restores an Adam state saved from getWeights() and adamScalars(). `variables` are the
 * variables it will train, in order: the saved moments must match their shapes.
 */
export async function restoreAdam(
  optimizer: tf.AdamOptimizer,
  weights: NamedTensor[],
  scalars: AdamScalars,
  variables: readonly tf.Variable[],
  label: string,
): Promise<void> {
  // [iterations, first moments..., second moments...]; no moments before the first step.
  const moments = weights.slice(1);
  if (weights.length === 0 || (moments.length !== 0 && moments.length !== 2 * variables.length)) {
    throw new UserError(
      `${label}: optimizer state holds ${Math.max(0, moments.length)} moment tensors, expected ${2 * variables.length}`,
    );
  }
  moments.forEach(({ name, tensor }, i) => {
    const variable = variables[i % variables.length];
    if (!tf.util.arraysEqual(tensor.shape, variable.shape)) {
      throw new UserError(`${label}: optimizer tensor '${name}' has shape [${tensor.shape}], expected [${variable.shape}]`);
    }
  });
  await optimizer.setWeights(weights);
  const { accBeta1, accBeta2 } = internals(optimizer);
  tf.tidy(() => {
    accBeta1.assign(tf.scalar(scalars.accBeta1));
    accBeta2.assign(tf.scalar(scalars.accBeta2));
  });
}
