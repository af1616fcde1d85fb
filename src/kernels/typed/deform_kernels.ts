/**
 * The deformable kernels on typed arrays (deformSample and the deformable im2col with
 * its col2im), as TypedKernel definitions that the cpu and wasm backends register.
 */
import * as tf from '@tensorflow/tfjs';
import { columnsShape, DEFORM_COL2IM, DEFORM_IM2COL, DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD, DeformConvGeometry } from '../kernel_names';
import { deformCol2im, deformIm2col } from './typed_deform_conv2d';
import { deformSampleBackward, deformSampleForward, nhwcShape } from './typed_deform_sample';
import { TypedKernel } from './typed_kernel';

function shapeOf(info: tf.TensorInfo | undefined): number[] {
  return (info as tf.TensorInfo).shape;
}

function geometryOf(attrs: tf.NamedAttrMap): DeformConvGeometry {
  return attrs as unknown as DeformConvGeometry;
}

export const deformSampleKernel: TypedKernel = {
  kernelName: DEFORM_SAMPLE,
  inputNames: ['x', 'offsets'],
  outputShapes: ({ x }) => [shapeOf(x)],
  accumulatedOutputs: [],
  compute: ([x, offsets], [out], inputs) => deformSampleForward(x!, offsets!, out, nhwcShape(shapeOf(inputs.x))),
};

export const deformSampleGradKernel: TypedKernel = {
  kernelName: DEFORM_SAMPLE_GRAD,
  inputNames: ['dy', 'x', 'offsets'],
  outputShapes: ({ x, offsets }) => [shapeOf(x), shapeOf(offsets)],
  accumulatedOutputs: [0],
  compute: ([dy, x, offsets], [dx, dOffsets], inputs) =>
    deformSampleBackward(dy!, x!, offsets!, dx, dOffsets, nhwcShape(shapeOf(inputs.x))),
};

export const deformIm2colKernel: TypedKernel = {
  kernelName: DEFORM_IM2COL,
  inputNames: ['x', 'offsets', 'mask'],
  outputShapes: ({ x }, attrs) => [columnsShape(shapeOf(x)[0], geometryOf(attrs))],
  accumulatedOutputs: [],
  compute: ([x, offsets, mask], [columns], inputs, attrs) =>
    deformIm2col(x!, offsets!, mask, columns, shapeOf(inputs.x)[0], geometryOf(attrs)),
};

export const deformCol2imKernel: TypedKernel = {
  kernelName: DEFORM_COL2IM,
  inputNames: ['dColumns', 'x', 'offsets', 'mask'],
  outputShapes: ({ x, offsets, mask }) =>
    mask === undefined ? [shapeOf(x), shapeOf(offsets)] : [shapeOf(x), shapeOf(offsets), shapeOf(mask)],
  accumulatedOutputs: [0],
  compute: ([dColumns, x, offsets, mask], [dx, dOffsets, dMask], inputs, attrs) =>
    deformCol2im(dColumns!, x!, offsets!, mask, dx, dOffsets, dMask ?? null, shapeOf(inputs.x)[0], geometryOf(attrs)),
};

/** Every typed kernel, for the backends that register them all. */
export const DEFORM_KERNELS: readonly TypedKernel[] = [deformSampleKernel, deformSampleGradKernel, deformIm2colKernel, deformCol2imKernel];
