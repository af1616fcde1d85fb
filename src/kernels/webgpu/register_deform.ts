/**
 * Registers the deformable kernels for tfjs's 'webgpu' backend, by name. Importing
 * '@tensorflow/tfjs-backend-webgpu' would register the backend itself, so nothing of it
 * is imported: the backend instance arrives with every call, and the little of its
 * program interface used here is typed below.
 */
import * as tf from '@tensorflow/tfjs';
import { deformKernelConfigs, ProgramCall, sourceKey } from '../gpu/deform_gpu';
import { wgslSource } from './deform_wgsl';

const WEBGPU = 'webgpu';
const WORKGROUP_SIZE = 64;

/** A compute program as WebGPUBackend.runWebGPUProgram takes it (tfjs-backend-webgpu 4.x). */
interface WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** The output is declared array<atomic<i32>>, for programs that add into it. */
  atomic: boolean;
  getUserCode(): string;
}

interface WebGPUBackend {
  runWebGPUProgram(
    program: WebGPUProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: unknown[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Runs `call` with one invocation per `invocations` (a flat index), into `output` when given. */
function run(backend: WebGPUBackend, call: ProgramCall, invocations: number, output?: tf.TensorInfo): tf.TensorInfo {
  const atomic = output !== undefined;
  const program: WebGPUProgram = {
    variableNames: Object.keys(call.inputs),
    outputShape: call.outputShape,
    shaderKey: `${sourceKey(call)}_${invocations}`,
    dispatchLayout: { x: call.outputShape.map((_, axis) => axis) },
    // tfjs spreads a dispatch beyond the device's limit over y and z.
    dispatch: [Math.ceil(invocations / WORKGROUP_SIZE), 1, 1],
    workgroupSize: [WORKGROUP_SIZE, 1, 1],
    atomic,
    getUserCode: () => wgslSource(call, invocations),
  };
  return backend.runWebGPUProgram(program, Object.values(call.inputs), 'float32', undefined, output);
}

const configs = deformKernelConfigs<WebGPUBackend>({
  backendName: WEBGPU,
  gather: (backend, call) => run(backend, call, size(call.outputShape)),
  scatter: (backend, call) => {
    const fill = tf.getKernel('Fill', WEBGPU) as tf.KernelConfig;
    const attrs = { shape: call.outputShape, value: 0, dtype: 'float32' };
    const zeros = fill.kernelFunc({ inputs: {}, backend: backend as unknown as tf.KernelBackend, attrs }) as tf.TensorInfo;
    return run(backend, call, size(call.inputs.dColumns.shape), zeros);
  },
});
for (const config of configs) tf.registerKernel(config);
