import type { TensorInfo } from '@tensorflow/tfjs';

/**
 * Names of the kernels this package registers with tf.registerKernel, and their inputs
 * and attributes. A backend that has a kernel under one of these names (and can run it:
 * kernel_support.ts) gets the fused path; any other backend gets the op's portable
 * composition of standard tf ops.
 */

/** deformSample forward. Inputs: x [B,H,W,C], offsets [B,H,W,2C]. Output: [B,H,W,C]. */
export const DEFORM_SAMPLE = 'DeformSample';
/** DeformSample's inputs, by name. */
export type DeformSampleInputs = Record<'x' | 'offsets', TensorInfo>;

/**
 * deformSample backward, both gradients in one pass over the sample points.
 * Inputs: dy [B,H,W,C], x, offsets. Outputs: [dx [B,H,W,C], dOffsets [B,H,W,2C]].
 */
export const DEFORM_SAMPLE_GRAD = 'DeformSampleGrad';
/** DeformSampleGrad's inputs, by name. */
export type DeformSampleGradInputs = Record<'dy' | 'x' | 'offsets', TensorInfo>;

// deformConv2d: the deformable im2col and its backward (col2im).

/**
 * Where every kernel tap samples, independent of the batch: x is [B, inHeight, inWidth,
 * inChannels], offsets and mask are laid out over [B, outHeight, outWidth, ...]. Tap (u, v)
 * of output (i, j) samples at
 *   (i * strideHeight - padTop + u * dilationHeight + dy, j * strideWidth - padLeft + v * dilationWidth + dx).
 * Plain numbers, so it travels as a kernel's attributes.
 */
export interface DeformConvGeometry {
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
  /** G: input channel c takes the offsets (and mask) of group floor(c / (inChannels / G)). */
  offsetGroups: number;
}

/**
 * Deformable im2col. Inputs: x [B,H,W,Cin], offsets [B,Ho,Wo,2*G*kh*kw], optional mask
 * [B,Ho,Wo,G*kh*kw]. Attributes: DeformConvGeometry. Output: columns
 * [B*Ho*Wo, kh*kw*Cin], row (b,i,j), column (u*kw + v)*Cin + c: the layout of a
 * [kh,kw,Cin,Cout] kernel reshaped to [kh*kw*Cin, Cout].
 */
export const DEFORM_IM2COL = 'DeformIm2Col';

/** Shape of DeformIm2Col's output for a batch of `batch` images: [B*Ho*Wo, kh*kw*Cin]. */
export function columnsShape(batch: number, geometry: DeformConvGeometry): [number, number] {
  const { outHeight, outWidth, kernelHeight, kernelWidth, inChannels } = geometry;
  return [batch * outHeight * outWidth, kernelHeight * kernelWidth * inChannels];
}
/** DeformIm2Col's inputs, by name (mask only for DCNv2). */
export type DeformIm2ColInputs = Record<'x' | 'offsets', TensorInfo> & { mask?: TensorInfo };

/**
 * Backward of DeformIm2Col for the columns' gradient dColumns. Inputs: dColumns, x,
 * offsets, optional mask. Outputs: [dx, dOffsets] or, with a mask, [dx, dOffsets, dMask].
 */
export const DEFORM_COL2IM = 'DeformCol2Im';
/** DeformCol2Im's inputs, by name (mask only for DCNv2). */
export type DeformCol2ImInputs = Record<'dColumns' | 'x' | 'offsets', TensorInfo> & { mask?: TensorInfo };

// Batch normalisation with the batch's own statistics (batchNormTraining).

/**
 * Inputs: x [..., C], scale [C], offset [C]; attr varianceEpsilon.
 * Outputs: [y (x's shape), mean [C], variance [C]], statistics over all axes but the last,
 * the variance biased (divided by the count), as tfjs-layers and Keras normalise with.
 */
export const BATCH_NORM_TRAINING = 'BatchNormTraining';

/**
 * The gradient of all three outputs at once. Inputs: dy, dMean, dVariance, x, mean,
 * variance, scale; attr varianceEpsilon. Outputs: [dx, dScale, dOffset].
 */
export const BATCH_NORM_TRAINING_GRAD = 'BatchNormTrainingGrad';

// Adam (createAdam).

/**
 * adamUpdate: one Adam step of one variable as a single kernel, on backends that register
 * it (wasm, webgpu). tfjs's AdamOptimizer spends about a dozen elementwise ops per variable and
 * step; on wasm their dispatch costs more than their arithmetic.
 *
 * Inputs: value, m, v, gradient (one shape), correction1 = 1 - beta1^t and
 * correction2 = 1 - beta2^t (float32 scalars); attrs beta1, beta2, epsilon, learningRate.
 * Outputs: [newValue, newM, newV], computed with the same float32 operations, in the same
 * order, as tfjs's AdamOptimizer.
 */
export const ADAM_UPDATE = 'AdamUpdate';

/** AdamUpdate's attributes: the optimizer's hyperparameters. */
export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
}
