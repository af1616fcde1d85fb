/**
 * Writes src/kernels/wasm/simd/winograd_tiles.wat (scripts/winograd_wat.ts), then assembles
 * kernels.wat, with winograd_tiles.wat inserted where it says, into kernels_binary.ts (the
 * bytes, in base64), which the package loads: the package needs no assembler at run time.
 *
 *   npx tsc -p . && node dist/scripts/build_simd_kernels.js && npx tsc -p .
 *
 * Run it after editing kernels.wat or the generator; tests/wasm_simd_kernels.test.ts fails
 * while the files disagree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import wabtInit from 'wabt';
import { packageRoot } from '../src/version';
import { WINOGRAD_WAT_FILE, winogradWat } from './winograd_wat';

const SIMD_DIR = path.join(packageRoot(), 'src', 'kernels', 'wasm', 'simd');
export const WAT_FILE = path.join(SIMD_DIR, 'kernels.wat');
export const BINARY_MODULE_FILE = path.join(SIMD_DIR, 'kernels_binary.ts');

/** The memory import of kernels.wat, and the one of its variant for tfjs's threaded build (shared memory, up to 4 GiB). */
const MEMORY_IMPORT = '(import "env" "memory" (memory 0))';
const SHARED_MEMORY_IMPORT = '(import "env" "memory" (memory 0 65536 shared))';
/** The line of kernels.wat that winograd_tiles.wat replaces. */
const WINOGRAD_PLACE = /^ *;; winograd_tiles\.wat .* goes here.*$/m;

export interface SimdKernelBinaries {
  /** For an ordinary memory (tfjs's single-threaded builds, the only ones in Node). */
  plain: Uint8Array;
  /** For a shared memory (tfjs's threaded build, in cross-origin-isolated browsers). */
  shared: Uint8Array;
}

async function assemble(name: string, text: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const module = wabt.parseWat(name, text, { simd: true, bulk_memory: true, threads: true });
  try {
    const bytes = module.toBinary({}).buffer;
    // Validation by the engine itself (wabt.js's validate() ignores the threads feature).
    new WebAssembly.Module(bytes);
    return bytes;
  } finally {
    module.destroy();
  }
}

/** Both variants' bytes, assembled from kernels.wat and winograd_tiles.wat. */
export async function assembleSimdKernels(watFile = WAT_FILE, tilesFile = WINOGRAD_WAT_FILE): Promise<SimdKernelBinaries> {
  const kernels = fs.readFileSync(watFile, 'utf8');
  if (!kernels.includes(MEMORY_IMPORT)) throw new Error(`${watFile} must import its memory as ${MEMORY_IMPORT}`);
  if (!WINOGRAD_PLACE.test(kernels)) throw new Error(`${watFile} must say where winograd_tiles.wat goes`);
  const tiles = fs.readFileSync(tilesFile, 'utf8');
  const text = kernels.replace(WINOGRAD_PLACE, () => tiles);
  const name = path.basename(watFile);
  return {
    plain: await assemble(name, text),
    shared: await assemble(name, text.replace(MEMORY_IMPORT, SHARED_MEMORY_IMPORT)),
  };
}

/** kernels_binary.ts's text for these bytes. */
export function binaryModuleSource(binaries: SimdKernelBinaries): string {
  const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  return [
    '// Generated from kernels.wat by `node dist/scripts/build_simd_kernels.js`: do not edit.',
    `export const SIMD_KERNELS_BASE64 =\n  '${base64(binaries.plain)}';`,
    `export const SIMD_KERNELS_SHARED_MEMORY_BASE64 =\n  '${base64(binaries.shared)}';`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  fs.writeFileSync(WINOGRAD_WAT_FILE, winogradWat());
  const binaries = await assembleSimdKernels();
  const temp = `${BINARY_MODULE_FILE}.tmp`;
  fs.writeFileSync(temp, binaryModuleSource(binaries));
  fs.renameSync(temp, BINARY_MODULE_FILE);
  process.stdout.write(`${BINARY_MODULE_FILE}: ${binaries.plain.length} bytes\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
