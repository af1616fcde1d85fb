/**
 * deformconv: deformable convolution for TensorFlow.js.
 *
 * The library entry, safe in browsers, Web Workers and Node: the ops, the layers and
 * the optimizer a model author needs. Importing it registers this package's kernels for
 * the cpu, wasm, webgl and webgpu backends by name (as tfjs's backend packages register
 * theirs); it registers no backend and changes no backend priority. On any other backend
 * (tensorflow, or webgl without float blending) the ops run a portable composition of
 * standard tf ops.
 *
 * The experiment lives apart: `deformconv/experiment` (browser-safe models,
 * augmentation, tracer, evaluation math) and `deformconv/node` (data, training,
 * checkpoints, pictures). `deformconv/wasm` loads the wasm backend with faster training
 * kernels. Every public name of the four is listed in docs/API.md.
 */
export { InvalidInputError } from './errors';
export { deformSample } from './ops/deform_sample';
export { deformConv2d } from './ops/deform_conv2d';
export type { DeformConv2dOptions } from './ops/deform_conv2d';
export { batchNormTraining } from './ops/batch_norm_training';
export type { BatchNormTrainingResult } from './ops/batch_norm_training';
export { ConvOffset2D } from './layers/conv_offset2d';
export type { ConvOffset2DArgs } from './layers/conv_offset2d';
export { DeformConv2D, deformConv2DFromConv2D } from './layers/deform_conv2d_layer';
export type { DeformConv2DArgs, FromConv2DOptions } from './layers/deform_conv2d_layer';
export { BatchNormalization, batchNormalization } from './layers/batch_normalization';
export type { BatchNormalizationArgs } from './layers/batch_normalization';
export { Conv2D, conv2d } from './layers/conv2d_layer';
export type { Conv2DArgs } from './layers/conv2d_layer';
export { useFastLayersWhenLoading } from './layers/fast_layers';
export { createAdam } from './optimizers/adam';
/**
 * The names of the kernels this package registers (tf.registerKernel), with their inputs
 * and attributes: for a backend author who wants the fused path on another backend.
 */
export * as kernelNames from './kernels/kernel_names';
