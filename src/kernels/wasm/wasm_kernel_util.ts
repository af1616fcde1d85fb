/**
 * Helpers for wasm kernels written in TypeScript: they compose the backend's own
 * kernels (XNNPACK convolutions, transposes) directly on TensorInfos, below the
 * engine, so intermediates never become tracked tensors and are freed at once.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { kernelResult, TypedKernel } from '../typed/typed_kernel';

export const WASM = 'wasm';

/** The arguments the engine passes to a wasm kernel function. */
export interface WasmKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs?: tf.NamedAttrMap;
}

/** Runs the wasm kernel registered under `kernelName`; the caller owns (and frees) the result. */
export function runWasmKernel(
  backend: BackendWasm,
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, WASM);
  if (kernel === undefined) {
    throw new Error(`wasm kernel '${kernelName}' is not registered`);
  }
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** sum + part for a running sum over chunks (null before the first), freeing both operands. */
export function accumulate(backend: BackendWasm, sum: tf.TensorInfo | null, part: tf.TensorInfo): tf.TensorInfo {
  if (sum === null) return part;
  const total = runWasmKernel(backend, 'Add', { a: sum, b: part });
  disposeInfos(backend, sum, part);
  return total;
}

/** Frees intermediates made by runWasmKernel or backend.makeOutput. */
export function disposeInfos(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) {
    backend.disposeData(info.dataId);
  }
}

/**
 * A float32 view of a tensor's memory on the wasm heap. Any allocation may grow the
 * heap and detach earlier views, so take views only after the last makeOutput.
 */
export function float32View(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Explicit NHWC padding in the form Conv2D's `pad` attribute accepts. */
export function explicitPad(top: number, bottom: number, left: number, right: number): number[][] {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** Channels-last only: XNNPACK, which these kernels build on, has no NCHW convolution. */
export function assertChannelsLast(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`wasm ${kernelName} supports dataFormat NHWC only, got '${dataFormat}'`);
  }
}

/** Reads the optional `dilations` attribute (TensorFlow's kernels carry one; tfjs 4.22's do not). */
export function dilationPair(dilations: unknown): [number, number] {
  if (dilations == null) return [1, 1];
  if (typeof dilations === 'number') return [dilations, dilations];
  const pair = dilations as number[];
  return [pair[0], pair[1]];
}

/**
 * tfjs's own wasm kernel under each name this package registers (null: it has none),
 * recorded the first time the name is seen. Global, like tfjs's kernel registry: a second
 * copy of this module (the compiled one beside the TypeScript one, say) must find tfjs's
 * kernels here, not the first copy's replacements.
 */
const tfjsKernels = ((globalThis as Record<symbol, unknown>)[Symbol.for('deformconv.tfjsWasmKernels')] ??= new Map<
  string,
  tf.KernelConfig | null
>()) as Map<string, tf.KernelConfig | null>;

/** Registers `config`, replacing tfjs's own wasm kernel of that name (which stays reachable). */
export function replaceWasmKernel(config: tf.KernelConfig): void {
  const { kernelName } = config;
  if (!tfjsKernels.has(kernelName)) tfjsKernels.set(kernelName, tf.getKernel(kernelName, WASM) ?? null);
  const tfjs = tfjsKernels.get(kernelName) ?? undefined;
  // registerKernel would only warn and overwrite; unregistering makes the replacement explicit.
  if (tf.getKernel(kernelName, WASM) !== undefined) tf.unregisterKernel(kernelName, WASM);
  // tfjs's setup (its cwrap of the C++ function) must still run when the backend starts.
  tf.registerKernel({ ...config, setupFunc: config.setupFunc ?? tfjs?.setupFunc });
}

/** Runs tfjs's own wasm kernel that `replaceWasmKernel` displaced. */
export function runTfjsWasmKernel(kernelName: string, args: WasmKernelArgs): tf.TensorInfo {
  const kernel = tfjsKernels.get(kernelName);
  if (kernel == null) {
    throw new Error(`tfjs has no wasm kernel '${kernelName}' to fall back on`);
  }
  return kernel.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

/** The same memory under a second reference (tensors are immutable): what Reshape does. */
export function shareData(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * A typed kernel as a wasm kernel function: outputs allocated on the heap first (an
 * allocation may grow the heap and detach views), then every array viewed in place.
 */
export function wasmKernelFunc(kernel: TypedKernel): tf.KernelFunc {
  return ({ inputs, backend, attrs = {} }) => {
    const wasm = backend as unknown as BackendWasm;
    const infos = kernel.outputShapes(inputs, attrs).map((shape) => wasm.makeOutput(shape, 'float32'));
    const outputs = infos.map((info) => float32View(wasm, info));
    for (const index of kernel.accumulatedOutputs) outputs[index].fill(0);
    const arrays = kernel.inputNames.map((name) => (inputs[name] === undefined ? null : float32View(wasm, inputs[name])));
    kernel.compute(arrays, outputs, inputs, attrs);
    return kernelResult(infos);
  };
}
