/**
 * Conv2D: tfjs-layers' layer, differentiated through the plain conv2d op.
 *
 * tfjs-layers convolves with tf.fused.conv2d, whose gradient is one closure that
 * computes the gradients of the input, the kernel and the bias together, whether or
 * not anything needs them. Through tf.conv2d and tf.add each gradient is computed only
 * when the tape needs it: not the input gradient of the first layer (the images), not
 * the kernel gradient of a frozen layer, the bulk of a fine-tune's backward pass. Same
 * constructor arguments, config, weights and results as tf.layers.conv2d; inference
 * (nothing recording gradients) keeps the fused op. Its class name is tfjs's 'Conv2D', so
 * a saved model loads with or without this package (see useFastLayersWhenLoading).
 */
import * as tf from '@tensorflow/tfjs';

/** The arguments of tf.layers.conv2d (filters, kernelSize, strides, padding, ...). */
export type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];
type TfjsConv2D = ReturnType<typeof tf.layers.conv2d>;

/** tfjs-layers exports a factory only; its class is the constructor of what the factory makes. */
const TfjsConv2DClass = tf.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (args: Conv2DArgs) => TfjsConv2D;

/** The tfjs layer's state, private in its typings. */
interface Conv2DState {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  strides: [number, number];
  padding: 'valid' | 'same' | 'causal';
  dataFormat: 'channelsFirst' | 'channelsLast';
  dilationRate: number | [number, number];
  activation: { apply(x: tf.Tensor): tf.Tensor };
}

/**
 * tfjs-layers' Conv2D, with the same arguments, config, weights (kernel [kh, kw, Cin,
 * filters], bias [filters]) and results, that computes only the gradients the tape needs:
 * while gradients are recorded it convolves with tf.conv2d and tf.add instead of
 * tf.fused.conv2d, so a frozen layer's kernel gradient and the first layer's input
 * gradient are never computed. Inference, channelsFirst and 'causal' run tfjs's own code.
 *
 * - Input: [B, H, W, Cin] (channelsLast); output: [B, Ho, Wo, filters], as tf.layers.conv2d.
 * - Class name 'Conv2D', tfjs's: see useFastLayersWhenLoading for loading.
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { Conv2D } from 'deformconv';
 *
 * // Where a model would have tf.layers.conv2d({...}):
 * const conv = new Conv2D({ filters: 64, kernelSize: 3, strides: 2, padding: 'same', name: 'conv12' });
 * const y = conv.apply(tf.randomNormal([8, 28, 28, 32])) as tf.Tensor; // [8, 14, 14, 64]
 * conv.trainable = false; // fine-tuning: no kernel gradient is computed for it
 */
export class Conv2D extends TfjsConv2DClass {
  /** tfjs's name for the layer: a saved model names the class, not the package. */
  static className = 'Conv2D';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const state = this as unknown as Conv2DState;
    const { padding } = state;
    if (!tf.engine().isTapeOn() || state.dataFormat !== 'channelsLast' || padding === 'causal') {
      return super.call(inputs, kwargs);
    }
    const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.tidy(() => {
      const convolved = tf.conv2d(input, state.kernel.read() as tf.Tensor4D, state.strides, padding, 'NHWC', state.dilationRate);
      const biased = state.bias == null ? convolved : tf.add(convolved, state.bias.read());
      return state.activation.apply(biased);
    });
  }
}

/** The factory, like tf.layers.conv2d. */
export function conv2d(args: Conv2DArgs): Conv2D {
  return new Conv2D(args);
}
