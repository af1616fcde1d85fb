/**
 * The SIMD modules (src/kernels/wasm/simd): both variants of each binary load, the
 * shared-memory one on a shared memory as tfjs's threaded build has (that each binary is
 * what its .wat assembles to: generated_files.test.ts). What the loops compute
 * is tested through the kernels that use them (wasm_conv_grads.test.ts: batch norm and the
 * convolutions against cpu; wasm_winograd.test.ts: Winograd against exact sums;
 * deform_sample.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { SIMD_KERNELS_BASE64, SIMD_KERNELS_SHARED_MEMORY_BASE64 } from '../src/kernels/wasm/simd/kernels_binary';
import { CONV_KERNELS_BASE64, CONV_KERNELS_SHARED_MEMORY_BASE64 } from '../src/kernels/wasm/simd/conv_kernels_binary';
import { WINOGRAD_VARIANTS } from '../scripts/winograd/winograd_wat';
import { WINOGRAD_ALGORITHMS, filterPlaneOf } from '../src/kernels/wasm/simd/conv_kernels';

const MODULES = [
  {
    name: 'kernels',
    binaries: [SIMD_KERNELS_BASE64, SIMD_KERNELS_SHARED_MEMORY_BASE64],
    exports: ['adamUpdate', 'channelAffine', 'columnSums', 'deformSample', 'gradientSums'],
  },
  {
    name: 'conv_kernels',
    binaries: [CONV_KERNELS_BASE64, CONV_KERNELS_SHARED_MEMORY_BASE64],
    exports: [
      'im2colTap',
      'scatterPhase',
      'winogradFilter',
      'winogradFilterGradient',
      'winogradInput',
      'winogradInputGradient',
      'winogradOutput',
      'winogradOutputGradient',
      'winogradProducts',
    ],
  },
];

function instantiate(base64: string, memory: WebAssembly.Memory): string[] {
  const module = new WebAssembly.Module(Buffer.from(base64, 'base64'));
  return Object.keys(new WebAssembly.Instance(module, { env: { memory } }).exports).sort();
}

describe('SIMD kernel modules', () => {
  it("the kernels' list of Winograd algorithms is the generator's, in its table's order", () => {
    expect(WINOGRAD_ALGORITHMS).toEqual(WINOGRAD_VARIANTS.map(({ stride, m }) => ({ stride, m })));
  });

  it("points share a filter plane exactly where their rows of the generator's G agree", () => {
    WINOGRAD_VARIANTS.forEach(({ filter }, variant) => {
      const n = filter.g.length;
      const rowKey = (i: number): string => filter.g[i].map((x) => `${x.num}/${x.den}`).join(',');
      const pointKey = (p: number): string => `${rowKey(Math.floor(p / n))};${rowKey(p % n)}`;
      const planeOf = filterPlaneOf(variant);
      expect(planeOf).toHaveLength(n * n);
      for (let p = 0; p < n * n; p += 1) {
        for (let q = 0; q < n * n; q += 1) expect(planeOf[p] === planeOf[q]).toBe(pointKey(p) === pointKey(q));
      }
    });
    expect(new Set(filterPlaneOf(2)).size).toBe(81);
  });

  for (const { name, binaries, exports } of MODULES) {
    it(`${name} loads on an ordinary memory and, as its shared variant, on a shared one`, () => {
      expect(instantiate(binaries[0], new WebAssembly.Memory({ initial: 1 }))).toEqual(exports);
      const shared = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
      expect(shared.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(instantiate(binaries[1], shared)).toEqual(exports);
    });
  }
});
