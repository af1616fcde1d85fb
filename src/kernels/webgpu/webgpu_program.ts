/**
 * The little of tfjs-backend-webgpu's program interface this package's WGSL kernels use.
 * Importing '@tensorflow/tfjs-backend-webgpu' would register the backend itself, so
 * nothing of it is imported: the backend instance arrives with every kernel call, and
 * its runWebGPUProgram is typed here.
 *
 * tfjs compiles a program's source after its own prelude: one storage buffer per input,
 * named as the input (an array<f32> read as `x[i]`, or through accessors such as
 * getX(d0, d1)), `result` for the output with setOutputAtIndex, a `uniforms` struct
 * (the shapes, `size`, the program's own fields), and an entry point that calls the
 * source's `fn main(index: i32)` with each invocation's flat index.
 */
import * as tf from '@tensorflow/tfjs';

/** The backend's name in tfjs's registry. */
export const WEBGPU = 'webgpu';
/** Invocations per workgroup, along x, in every program here. */
export const WORKGROUP_SIZE = 64;

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
  /** Declares uniforms.size, the output's element count. */
  size: boolean;
  /** The program's own uniform fields, `name : type,` each. */
  uniforms?: string;
  getUserCode(): string;
}

/** A uniform's value in runWebGPUProgram's terms. */
interface UniformData {
  type: 'float32' | 'int32';
  data: number[];
}

/** The webgpu backend, as far as these kernels use it. */
export interface WebGPUBackend {
  runWebGPUProgram(
    program: WebGPUProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: UniformData[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

/** A scalar uniform: WGSL type and value (an f32 is rounded to float32 on its way in). */
export type Uniform = ['f32' | 'i32', number];

/** One program to run. */
export interface ProgramSpec {
  /** Names the source: equal keys must mean equal sources (tfjs adds ranks and dtypes). */
  key: string;
  source: string;
  /** The inputs, by the names the source reads them by. */
  inputs: Record<string, tf.TensorInfo>;
  outputShape: number[];
  /** Workgroups to dispatch: the source's `main` sees indices 0 .. workgroups * WORKGROUP_SIZE - 1. */
  workgroups: number;
  /** Read in the source as uniforms.<name>. */
  uniforms?: Record<string, Uniform>;
  /** Writes into this (zeroed) tensor instead of a new one; its buffer is then array<atomic<i32>>. */
  output?: tf.TensorInfo;
}

/** Workgroups for one invocation per index below `invocations`. */
export function workgroupsFor(invocations: number): number {
  return Math.ceil(invocations / WORKGROUP_SIZE);
}

/** Runs a program on the webgpu backend; returns its output. */
export function runProgram(backend: WebGPUBackend, spec: ProgramSpec): tf.TensorInfo {
  const uniforms = Object.entries(spec.uniforms ?? {});
  const program: WebGPUProgram = {
    variableNames: Object.keys(spec.inputs),
    outputShape: spec.outputShape,
    shaderKey: spec.key,
    dispatchLayout: { x: spec.outputShape.map((_, axis) => axis) },
    // tfjs spreads a dispatch beyond the device's limit over y and z (the flat index stays).
    dispatch: [spec.workgroups, 1, 1],
    workgroupSize: [WORKGROUP_SIZE, 1, 1],
    atomic: spec.output !== undefined,
    size: true,
    uniforms: uniforms.map(([name, [type]]) => `${name} : ${type},`).join(' '),
    getUserCode: () => spec.source,
  };
  const data = uniforms.map(([, [type, value]]): UniformData => ({ type: type === 'f32' ? 'float32' : 'int32', data: [value] }));
  return backend.runWebGPUProgram(program, Object.values(spec.inputs), 'float32', data, spec.output);
}

/** Runs one of the backend's own kernels (e.g. Reshape, Fill) on its TensorInfos, outside the engine. */
export function runBackendKernel(
  backend: WebGPUBackend,
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, WEBGPU) as tf.KernelConfig;
  return kernel.kernelFunc({ inputs, backend: backend as unknown as tf.KernelBackend, attrs }) as tf.TensorInfo;
}
