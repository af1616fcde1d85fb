/**
 * Loads this package's SIMD modules (kernels.wat, conv_kernels.wat) on the wasm backend's own
 * memory, so their loops read and write tensors where tfjs keeps them: one instance per
 * backend and module, made on first use, in the shared-memory variant when tfjs's memory is
 * shared (its threaded build).
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** A module's bytes for an ordinary and for a shared memory, in base64 (made by `npm run build:kernels`). */
export interface SimdBinaries {
  plain: string;
  shared: string;
}

const instances = new WeakMap<BackendWasm, Map<SimdBinaries, unknown>>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

/** The exports of `binaries` instantiated on `backend`'s memory. */
export function simdExports<T>(backend: BackendWasm, binaries: SimdBinaries): T {
  let modules = instances.get(backend);
  if (modules === undefined) instances.set(backend, (modules = new Map<SimdBinaries, unknown>()));
  let kernels = modules.get(binaries) as T | undefined;
  if (kernels === undefined) {
    // The single-threaded builds export their memory (asm.memory); the threaded one imports a shared one (wasmMemory).
    const module = backend.wasm as unknown as { asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory };
    const memory = module.asm?.memory ?? module.wasmMemory;
    if (memory === undefined)
      throw new Error(
        "this tfjs wasm backend exposes its memory neither as 'asm.memory' nor as 'wasmMemory'; deformconv's wasm kernels need it",
      );
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    let compiled: WebAssembly.Module;
    try {
      compiled = new WebAssembly.Module(decodeBase64(shared ? binaries.shared : binaries.plain));
    } catch (err) {
      throw new Error(
        `deformconv's wasm training kernels need WebAssembly SIMD, which this runtime cannot compile (${(err as Error).message})`,
        { cause: err },
      );
    }
    kernels = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as T;
    modules.set(binaries, kernels);
  }
  return kernels;
}

/** A tensor's byte address in the backend's memory. */
export function address(backend: BackendWasm, info: tf.TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset;
}
