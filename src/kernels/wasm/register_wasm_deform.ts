/**
 * Registers the deformable kernels for tfjs's 'wasm' backend, by name. They replace no
 * tfjs kernel and need no import of the backend (its instance arrives with every call),
 * so importing the library registers no backend; `deformconv/wasm`
 * (replace_tfjs_kernels.ts) is the part that does. deformSample runs on the SIMD module
 * (kernels.wat) when the channels come in fours, as the models' do; everything else is the
 * typed kernels' JavaScript on the wasm heap.
 */
import * as tf from '@tensorflow/tfjs';
import { DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD } from '../kernel_names';
import { DEFORM_KERNELS } from '../typed/deform_kernels';
import { deformSampleSimd } from './simd/simd_kernels';
import { WASM, WasmKernelArgs, float32View, wasmKernelFunc } from './wasm_kernel_util';

const inFours = (x: tf.TensorInfo): boolean => x.shape.length === 4 && x.shape[3] % 4 === 0;

function deformSample(typed: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, backend } = args as unknown as WasmKernelArgs;
    const { x, offsets } = inputs as Record<'x' | 'offsets', tf.TensorInfo>;
    if (!inFours(x)) return typed(args);
    const out = backend.makeOutput(x.shape, 'float32');
    deformSampleSimd(backend, x, offsets, out);
    return out;
  };
}

function deformSampleGrad(typed: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, backend } = args as unknown as WasmKernelArgs;
    const { dy, x, offsets } = inputs as Record<'dy' | 'x' | 'offsets', tf.TensorInfo>;
    if (!inFours(x)) return typed(args);
    const dx = backend.makeOutput(x.shape, 'float32');
    const dOffsets = backend.makeOutput(offsets.shape, 'float32');
    float32View(backend, dx).fill(0);
    deformSampleSimd(backend, x, offsets, null, { dy, dx, dOffsets });
    return [dx, dOffsets];
  };
}

const SIMD: Record<string, (typed: tf.KernelFunc) => tf.KernelFunc> = {
  [DEFORM_SAMPLE]: deformSample,
  [DEFORM_SAMPLE_GRAD]: deformSampleGrad,
};

for (const kernel of DEFORM_KERNELS) {
  const typed = wasmKernelFunc(kernel);
  const kernelFunc = SIMD[kernel.kernelName]?.(typed) ?? typed;
  tf.registerKernel({ kernelName: kernel.kernelName, backendName: WASM, kernelFunc });
}
