/**
 * BatchNormalization: tfjs-layers' layer, training through the fused batchNormTraining op.
 *
 * A drop-in replacement: same constructor arguments, config, weights (gamma, beta,
 * moving_mean, moving_variance) and results as tf.layers.batchNormalization; in training
 * mode over the last axis it normalises with the fused op (three passes forward, two
 * backward, instead of some thirty on wasm). Its class name is tfjs's
 * 'BatchNormalization', so saved models load with or without this package; to have
 * loaded models use it, call useFastLayersWhenLoading.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormTraining } from '../ops/batch_norm_training';

/** The arguments of tf.layers.batchNormalization (axis, momentum, epsilon, initialisers, ...). */
export type BatchNormalizationArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type TfjsBatchNormalization = ReturnType<typeof tf.layers.batchNormalization>;

/** tfjs-layers exports a factory only; its class is the constructor of what the factory makes. */
const TfjsBatchNormalizationClass = tf.layers.batchNormalization({}).constructor as new (
  args?: BatchNormalizationArgs,
) => TfjsBatchNormalization;

/** The tfjs layer's state, private in its typings. */
interface BatchNormalizationState {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: tf.LayerVariable;
  beta?: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/** variable <- variable - (variable - value) * (1 - momentum), tfjs-layers' update to the op. */
function movingAverage(variable: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const current = variable.read();
    variable.write(tf.sub(current, tf.mul(tf.sub(current, value), 1 - momentum)));
  });
}

/**
 * tfjs-layers' BatchNormalization, with the same arguments, config, weights (gamma, beta,
 * moving_mean, moving_variance) and results, that trains faster: in training mode over the
 * last axis it normalises with the fused batchNormTraining op (three passes forward, two
 * backward on wasm, against some thirty) and updates the moving statistics as tfjs does.
 * Inference, or another axis, runs tfjs's own code.
 *
 * - Input: any shape [..., C]; output: the same shape.
 * - Keras's defaults, as tfjs's: momentum 0.99, epsilon 1e-3.
 * - Class name 'BatchNormalization', tfjs's: see useFastLayersWhenLoading for loading.
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { BatchNormalization } from 'deformconv';
 *
 * const bn = new BatchNormalization({ name: 'conv11_bn', momentum: 0.99, epsilon: 1e-3 });
 * const x = tf.randomNormal([32, 28, 28, 16]);
 * const y = bn.apply(x, { training: true }) as tf.Tensor; // [32, 28, 28, 16], batch statistics
 * // Training mode also moved moving_mean and moving_variance towards the batch's.
 * bn.getWeights().map((w) => w.shape); // gamma, beta, moving_mean, moving_variance: [16] each
 */
export class BatchNormalization extends TfjsBatchNormalizationClass {
  /** tfjs's name for the layer: a saved model names the class, not the package. */
  static className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const state = this as unknown as BatchNormalizationState;
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = state.axis >= 0 ? state.axis : state.axis + input.rank;
    const training = kwargs['training'] === true;
    if (!training || axis !== input.rank - 1 || state.gamma === undefined || state.beta === undefined) {
      return super.call(inputs, kwargs);
    }
    const { gamma, beta } = state;
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(input, gamma.read() as tf.Tensor1D, beta.read() as tf.Tensor1D, state.epsilon);
      movingAverage(state.movingMean, mean, state.momentum);
      movingAverage(state.movingVariance, variance, state.momentum);
      return y;
    });
  }
}

/** The factory, like tf.layers.batchNormalization. */
export function batchNormalization(args: BatchNormalizationArgs = {}): BatchNormalization {
  return new BatchNormalization(args);
}
