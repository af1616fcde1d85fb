import type { TensorInfo } from '@tensorflow/tfjs';

/**
 * Names of the kernels this package registers with tf.registerKernel, and their inputs.
 * A backend that has a kernel under one of these names gets the fused path; any other
 * backend gets the op's portable composition of standard tf ops.
 */

/** deformSample forward. Inputs: x [B,H,W,C], offsets [B,H,W,2C]. Output: [B,H,W,C]. */
export const DEFORM_SAMPLE = 'DeformSample';
export type DeformSampleInputs = Record<'x' | 'offsets', TensorInfo>;

/**
 * deformSample backward, both gradients in one pass over the sample points.
 * Inputs: dy [B,H,W,C], x, offsets. Outputs: [dx [B,H,W,C], dOffsets [B,H,W,2C]].
 */
export const DEFORM_SAMPLE_GRAD = 'DeformSampleGrad';
export type DeformSampleGradInputs = Record<'dy' | 'x' | 'offsets', TensorInfo>;
