/**
 * BatchNormalization: tfjs-layers' layer, training through the fused batchNormTraining op.
 *
 * A drop-in replacement: same constructor arguments, config, weights (gamma, beta,
 * moving_mean, moving_variance) and results as tf.layers.batchNormalization; in training
 * mode over the last axis it normalises with the fused op (three passes forward, two
 * backward, instead of some thirty on wasm). It registers under the class name
 * 'BatchNormalization', so models deserialised after this module loads use it too.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormTraining } from '../ops/batch_norm_training';

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

export class BatchNormalization extends TfjsBatchNormalizationClass {
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
