/**
 * The SIMD module (src/kernels/wasm/simd): the committed binary is what kernels.wat
 * assembles to, and both variants load, the shared-memory one on a shared memory as
 * tfjs's threaded build has. What the loops compute is tested through the kernels that
 * use them (wasm_conv_grads.test.ts: batch norm and the convolutions against cpu;
 * wasm_winograd.test.ts: Winograd against exact sums).
 */
import { describe, expect, it } from 'vitest';
import { assembleSimdKernels, binaryModuleSource, BINARY_MODULE_FILE } from '../scripts/build_simd_kernels';
import * as fs from 'node:fs';
import { SIMD_KERNELS_BASE64, SIMD_KERNELS_SHARED_MEMORY_BASE64 } from '../src/kernels/wasm/simd/kernels_binary';
import { WINOGRAD_WAT_FILE, winogradWat } from '../scripts/winograd_wat';

const EXPORTS = [
  'adamUpdate',
  'channelAffine',
  'columnSums',
  'deformSample',
  'gradientSums',
  'im2colTap',
  'scatterPhase',
  'winogradFilter',
  'winogradFilterGradient',
  'winogradInput',
  'winogradOutput',
  'winogradOutputGradient',
];

function instantiate(base64: string, memory: WebAssembly.Memory): string[] {
  const module = new WebAssembly.Module(Buffer.from(base64, 'base64'));
  return Object.keys(new WebAssembly.Instance(module, { env: { memory } }).exports).sort();
}

describe('SIMD kernels module', () => {
  it('winograd_tiles.wat is what scripts/winograd_wat.ts generates (run it after editing the generator)', () => {
    expect(fs.readFileSync(WINOGRAD_WAT_FILE, 'utf8')).toBe(winogradWat());
  });

  it('kernels_binary.ts is kernels.wat assembled (run build_simd_kernels after editing the .wat)', async () => {
    const binaries = await assembleSimdKernels();
    expect(fs.readFileSync(BINARY_MODULE_FILE, 'utf8')).toBe(binaryModuleSource(binaries));
  });

  it('loads on an ordinary memory and, as its shared variant, on a shared one', () => {
    expect(instantiate(SIMD_KERNELS_BASE64, new WebAssembly.Memory({ initial: 1 }))).toEqual(EXPORTS);
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(instantiate(SIMD_KERNELS_SHARED_MEMORY_BASE64, shared)).toEqual(EXPORTS);
  });
});
