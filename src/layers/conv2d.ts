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

export class Conv2D extends TfjsConv2DClass {
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
