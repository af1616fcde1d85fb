/**
 * Registers the deformable kernels for tfjs's 'webgpu' backend, by name, over the
 * program interface of webgpu_program.ts (no import of tfjs-backend-webgpu).
 */
import * as tf from '@tensorflow/tfjs';
import { deformKernelConfigs, ProgramCall, sourceKey } from '../gpu/deform_gpu';
import { wgslSource } from './deform_wgsl';
import { runBackendKernel, runProgram, WebGPUBackend, WEBGPU, workgroupsFor } from './webgpu_program';

/** Runs `call` with one invocation per `invocations` (a flat index), into `output` when given. */
function run(backend: WebGPUBackend, call: ProgramCall, invocations: number, output?: tf.TensorInfo): tf.TensorInfo {
  return runProgram(backend, {
    key: `${sourceKey(call)}_${invocations}`,
    source: wgslSource(call, invocations),
    inputs: call.inputs,
    outputShape: call.outputShape,
    workgroups: workgroupsFor(invocations),
    output,
  });
}

const configs = deformKernelConfigs<WebGPUBackend>({
  backendName: WEBGPU,
  gather: (backend, call) => run(backend, call, tf.util.sizeFromShape(call.outputShape)),
  scatter: (backend, call) => {
    const zeros = runBackendKernel(backend, 'Fill', {}, { shape: call.outputShape, value: 0, dtype: 'float32' });
    return run(backend, call, tf.util.sizeFromShape(call.inputs.dColumns.shape), zeros);
  },
});
for (const config of configs) tf.registerKernel(config);
