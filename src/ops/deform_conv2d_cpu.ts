/**
 * Fused deformable im2col / col2im kernels for the 'cpu' backend: they run the
 * typed-array implementation on the backend's own arrays (no per-element tensor ops).
 */
import * as tf from '@tensorflow/tfjs';
import { CpuBackend, float32Values } from '../kernels/cpu/cpu_kernel_util';
import { deformCol2im, deformIm2col } from './deform_conv2d_impl';
import {
  DEFORM_COL2IM,
  DEFORM_IM2COL,
  DeformCol2ImInputs,
  DeformConvGeometry,
  DeformIm2ColInputs,
  columnsShape,
} from './kernel_names';

function optionalValues(backend: CpuBackend, info: tf.TensorInfo | undefined): Float32Array | null {
  return info === undefined ? null : float32Values(backend, info);
}

const im2col: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const cpu = backend as unknown as CpuBackend;
  const { x, offsets, mask } = inputs as DeformIm2ColInputs;
  const geometry = attrs as unknown as DeformConvGeometry;
  const [batch] = x.shape;
  const shape = columnsShape(batch, geometry);
  const columns = new Float32Array(shape[0] * shape[1]);
  deformIm2col(float32Values(cpu, x), float32Values(cpu, offsets), optionalValues(cpu, mask), columns, batch, geometry);
  return cpu.makeTensorInfo(shape, 'float32', columns);
};

const col2im: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const cpu = backend as unknown as CpuBackend;
  const { dColumns, x, offsets, mask } = inputs as DeformCol2ImInputs;
  const geometry = attrs as unknown as DeformConvGeometry;
  const dx = new Float32Array(tf.util.sizeFromShape(x.shape));
  const dOffsets = new Float32Array(tf.util.sizeFromShape(offsets.shape));
  const dMask = mask === undefined ? null : new Float32Array(tf.util.sizeFromShape(mask.shape));
  deformCol2im(
    float32Values(cpu, dColumns),
    float32Values(cpu, x),
    float32Values(cpu, offsets),
    optionalValues(cpu, mask),
    dx,
    dOffsets,
    dMask,
    x.shape[0],
    geometry,
  );
  const outputs = [cpu.makeTensorInfo(x.shape, 'float32', dx), cpu.makeTensorInfo(offsets.shape, 'float32', dOffsets)];
  if (mask !== undefined && dMask !== null) outputs.push(cpu.makeTensorInfo(mask.shape, 'float32', dMask));
  return outputs;
};

tf.registerKernel({ kernelName: DEFORM_IM2COL, backendName: 'cpu', kernelFunc: im2col });
tf.registerKernel({ kernelName: DEFORM_COL2IM, backendName: 'cpu', kernelFunc: col2im });
