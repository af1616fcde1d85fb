/**
 * Fused deformSample kernels for the 'wasm' backend: the typed-array implementation
 * reads and writes the tensors in place on the wasm heap (no copies, no per-element
 * tensor ops). Registering by name needs no import of the wasm backend itself.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm as WasmBackend } from '@tensorflow/tfjs-backend-wasm';
import { float32View } from '../kernels/wasm/wasm_kernel_util';
import { deformSampleBackward, deformSampleForward, nhwcShape } from './deform_sample_impl';
import { DEFORM_SAMPLE, DEFORM_SAMPLE_GRAD, DeformSampleGradInputs, DeformSampleInputs } from './kernel_names';


const forward: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as unknown as WasmBackend;
  const { x, offsets } = inputs as DeformSampleInputs;
  const out = wasm.makeOutput(x.shape, 'float32');
  deformSampleForward(float32View(wasm, x), float32View(wasm, offsets), float32View(wasm, out), nhwcShape(x.shape));
  return out;
};

const backward: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as unknown as WasmBackend;
  const { dy, x, offsets } = inputs as DeformSampleGradInputs;
  const dx = wasm.makeOutput(x.shape, 'float32');
  const dOffsets = wasm.makeOutput(offsets.shape, 'float32');
  const dxValues = float32View(wasm, dx);
  dxValues.fill(0);
  deformSampleBackward(
    float32View(wasm, dy),
    float32View(wasm, x),
    float32View(wasm, offsets),
    dxValues,
    float32View(wasm, dOffsets),
    nhwcShape(x.shape),
  );
  return [dx, dOffsets];
};

tf.registerKernel({ kernelName: DEFORM_SAMPLE, backendName: 'wasm', kernelFunc: forward });
tf.registerKernel({ kernelName: DEFORM_SAMPLE_GRAD, backendName: 'wasm', kernelFunc: backward });
