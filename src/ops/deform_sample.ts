/**
 * deformSample: per-channel deformable resampling, the op behind ConvOffset2D.
 *
 * Importing this module registers the fused cpu, wasm, webgl and webgpu kernels and
 * their gradient, so every user of the package gets them.
 */
import * as tf from '@tensorflow/tfjs';
import '../kernels/cpu/register_deform';
import '../kernels/wasm/register_deform';
import '../kernels/webgl/register_deform';
import '../kernels/webgpu/register_deform';
import { hasFusedKernel } from '../kernels/kernel_support';
import { InvalidInputError } from '../errors';
import { deformSamplePortable } from './deform_sample_portable';
import { DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD } from '../kernels/kernel_names';

function describe(value: unknown): string {
  return value instanceof tf.Tensor ? `shape [${(value as tf.Tensor).shape.join(', ')}]` : typeof value;
}

function checkArguments(x: unknown, offsets: unknown): void {
  for (const [name, value] of [['x', x], ['offsets', offsets]] as const) {
    if (!(value instanceof tf.Tensor) || value.rank !== 4) {
      throw new InvalidInputError(`deformSample: ${name} must be a rank-4 tensor, got ${describe(value)}`);
    }
    if (value.dtype !== 'float32') {
      throw new InvalidInputError(`deformSample: ${name} must be float32, got ${value.dtype} (${describe(value)})`);
    }
  }
  const [batch, height, width, channels] = (x as tf.Tensor).shape;
  const expected = [batch, height, width, 2 * channels];
  if (!tf.util.arraysEqual((offsets as tf.Tensor).shape, expected)) {
    throw new InvalidInputError(
      `deformSample: offsets must have shape [B, H, W, 2C] = [${expected.join(', ')}] for x of ` +
        `${describe(x)}, got ${describe(offsets)}`,
    );
  }
}

/**
 * Samples each channel of `x` at its own offset position:
 *
 *   out[b, i, j, c] = bilinear sample of x[b, :, :, c] at
 *                     (clip(i + dy, 0, H - 1), clip(j + dx, 0, W - 1))
 *   with dy = offsets[b, i, j, 2c], dx = offsets[b, i, j, 2c + 1].
 *
 * Samples beyond the border take the border's values. Differentiable with respect to
 * both inputs; the gradient with respect to an offset is the derivative of the bilinear
 * interpolant (corners floor and floor + 1, clamped), zero where the coordinate was
 * clipped. Zero offsets return x exactly.
 *
 * Runs the fused kernel when the active backend has one registered under
 * 'DeformSample' that it can run (cpu, wasm, webgl, webgpu), else a composition of
 * standard tf ops.
 *
 * @param x float32 [B, H, W, C]: the input image or feature map, NHWC.
 * @param offsets float32 [B, H, W, 2C]: at pixel (i, j), channels 2c and 2c + 1 are the
 *   (dy, dx) of channel c, in pixels (ConvOffset2D computes them with a 3x3 convolution of x).
 * @returns float32 [B, H, W, C]: x resampled, the same shape as x.
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { deformSample } from 'deformconv';
 *
 * const x = tf.randomNormal([1, 5, 5, 2]) as tf.Tensor4D; // [B, H, W, C]
 * // [B, H, W, 2C]: channel 0 moves half a pixel down (dy 0.5), channel 1 a pixel left (dx -1).
 * const offsets = tf.tile(tf.tensor4d([0.5, 0, 0, -1], [1, 1, 1, 4]), [1, 5, 5, 1]) as tf.Tensor4D;
 * const y = deformSample(x, offsets); // [1, 5, 5, 2]
 * // y[0, i, j, 1] = x[0, i, max(j - 1, 0), 1]: column 0 reads itself (clipped to the border);
 * // y[0, i, j, 0] = (x[0, i, j, 0] + x[0, min(i + 1, 4), j, 0]) / 2.
 */
export function deformSample(x: tf.Tensor4D, offsets: tf.Tensor4D): tf.Tensor4D {
  checkArguments(x, offsets);
  if (!hasFusedKernel(DEFORM_SAMPLE)) {
    return deformSamplePortable(x, offsets);
  }
  return tf.engine().runKernel(DEFORM_SAMPLE, { x, offsets }) as tf.Tensor4D;
}

tf.registerGradient({
  kernelName: DEFORM_SAMPLE,
  inputsToSave: ['x', 'offsets'],
  gradFunc: (dy, saved) => {
    const [x, offsets] = saved;
    // One backward pass yields both gradients; tfjs asks for them one at a time, so run
    // it now and hand out the results (the engine disposes whichever goes unused).
    const [dx, dOffsets] = tf.engine().runKernel(DEFORM_SAMPLE_GRAD, {
      dy: dy as tf.Tensor,
      x,
      offsets,
    }) as tf.Tensor[];
    return { x: () => dx, offsets: () => dOffsets };
  },
});
