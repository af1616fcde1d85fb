/**
 * Adam for training with this package's layers, and its exact save/restore.
 *
 * Adam with one fused kernel per variable and step where the backend has it (wasm, webgpu; see
 * src/kernels/kernel_names.ts): the same float32 operations as tfjs's AdamOptimizer, so the
 * same results, and the same state (getWeights/setWeights, serialisation).
 *
 * tfjs's Adam keeps beta1^t and beta2^t as running products; setWeights() recomputes
 * them as pow(beta, t + 1), which can differ in the last float32 bit from the product
 * an uninterrupted run carries. A resumed run must match an uninterrupted one bit for
 * bit, so those two scalars are saved and restored as they are.
 */

import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';
import { ADAM_UPDATE, AdamUpdateAttrs } from '../kernels/kernel_names';
import '../kernels/wasm/register_wasm_adam';
import '../kernels/webgpu/register_webgpu_adam';

/** One of an optimizer's weights, as getWeights() returns them. */
export type OptimizerWeight = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

/** Keras 2.0's Adam defaults, the reference's optimizer (tfjs would use epsilon 1e-7). */
export const ADAM_BETA1 = 0.9;
/** Adam's second-moment decay, Keras 2.0's default. */
export const ADAM_BETA2 = 0.999;
/** Adam's epsilon, Keras 2.0's default (tfjs's would be 1e-7). */
export const ADAM_EPSILON = 1e-8;

/**
 * Adam with Keras 2.0's defaults (beta1 0.9, beta2 0.999, epsilon 1e-8), the reference's
 * optimizer, as a FusedAdamOptimizer: where the backend registers the fused update (wasm, webgpu)
 * each variable takes one kernel per step instead of about a dozen; elsewhere it is
 * tfjs's AdamOptimizer. Either way the results and the state are tfjs's.
 *
 * @param learningRate the step size (the reference: 1e-3 to train, 5e-4 to fine-tune).
 * @returns a tf.AdamOptimizer, usable wherever tfjs takes an optimizer.
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { createAdam } from 'deformconv';
 *
 * const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2, activation: 'softmax' })] });
 * model.compile({ optimizer: createAdam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
 * await model.fit(tf.randomNormal([8, 4]), tf.oneHot(tf.tensor1d([0, 1, 0, 1, 0, 1, 0, 1], 'int32'), 2), { epochs: 1 });
 */
export function createAdam(learningRate: number): tf.AdamOptimizer {
  return new FusedAdamOptimizer(learningRate, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON);
}

/** The running products beta1^t, beta2^t and the moments (private fields of tfjs 4.x's AdamOptimizer). */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

/** A zero-filled, non-trainable moment variable for `value`, under tfjs's name for it. */
function momentSlot(value: tf.Variable, suffix: 'm' | 'v'): { originalName: string; variable: tf.Variable } {
  return { originalName: `${value.name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
}

/**
 * tf.AdamOptimizer whose applyGradients runs one 'AdamUpdate' kernel per variable and
 * step where the active backend registers it (wasm, webgpu), with the same float32 operations in
 * the same order, so the same results; elsewhere it is tfjs's applyGradients. Same
 * constructor, weights (getWeights/setWeights) and serialisation as tf.AdamOptimizer.
 * createAdam makes one with Keras's defaults.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (tf.getKernel(ADAM_UPDATE, tf.getBackend()) === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = internals(this);
    const named = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    const attrs: AdamUpdateAttrs = { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, learningRate: this.learningRate };
    tf.tidy(() => {
      const correction1 = tf.sub(1, state.accBeta1);
      const correction2 = tf.sub(1, state.accBeta2);
      named.forEach(({ name, tensor: gradient }, i) => {
        const value = tf.engine().registeredVariables[name];
        state.accumulatedFirstMoment[i] ??= momentSlot(value, 'm');
        state.accumulatedSecondMoment[i] ??= momentSlot(value, 'v');
        if (gradient == null) return;
        const m = state.accumulatedFirstMoment[i].variable;
        const v = state.accumulatedSecondMoment[i].variable;
        const [newValue, newM, newV] = tf
          .engine()
          .runKernel(ADAM_UPDATE, { value, m, v, gradient, correction1, correction2 }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(newM);
        v.assign(newV);
        value.assign(newValue);
      });
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
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

/** beta1^t and beta2^t as the optimizer carries them, read asynchronously (GPU backends have no synchronous read). */
export async function adamScalars(optimizer: tf.AdamOptimizer): Promise<AdamScalars> {
  const { accBeta1, accBeta2 } = internals(optimizer);
  const [beta1, beta2] = await Promise.all([accBeta1.data(), accBeta2.data()]);
  return { accBeta1: beta1[0], accBeta2: beta2[0] };
}

/**
 * Restores an Adam state saved from getWeights() and adamScalars(). `variables` are the
 * variables it will train, in order: the saved moments must match their shapes.
 */
export async function restoreAdam(
  optimizer: tf.AdamOptimizer,
  weights: OptimizerWeight[],
  scalars: AdamScalars,
  variables: readonly tf.Variable[],
  label: string,
): Promise<void> {
  // [iterations, first moments..., second moments...]; no moments before the first step.
  const moments = weights.slice(1);
  if (weights.length === 0 || (moments.length !== 0 && moments.length !== 2 * variables.length)) {
    throw new InvalidInputError(
      `${label}: optimizer state holds ${Math.max(0, moments.length)} moment tensors, expected ${2 * variables.length}`,
    );
  }
  moments.forEach(({ name, tensor }, i) => {
    const variable = variables[i % variables.length];
    if (!tf.util.arraysEqual(tensor.shape, variable.shape)) {
      throw new InvalidInputError(`${label}: optimizer tensor '${name}' has shape [${tensor.shape}], expected [${variable.shape}]`);
    }
  });
  await optimizer.setWeights(weights);
  const { accBeta1, accBeta2 } = internals(optimizer);
  tf.tidy(() => {
    accBeta1.assign(tf.scalar(scalars.accBeta1));
    accBeta2.assign(tf.scalar(scalars.accBeta2));
  });
}
