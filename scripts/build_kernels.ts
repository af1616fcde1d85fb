/**
 * Assembles this package's SIMD modules into the base64 TypeScript files the package loads
 * (so it needs no assembler at run time), each in two variants, for an ordinary and for a
 * shared memory: src/kernels/wasm/simd/kernels.wat into kernels_binary.ts, and
 * conv_kernels.wat, with the generated winograd_tiles.wat inserted where it says (written
 * first, by scripts/winograd_wat.ts), into conv_kernels_binary.ts.
 *
 *   npx tsc -p . && node dist/scripts/build_simd_kernels.js && npx tsc -p .
 *
 * Run it after editing a .wat or the generator; tests/wasm_simd_kernels.test.ts fails while
 * the files disagree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import wabtInit from 'wabt';
import { packageRoot } from '../src/version';
import { WINOGRAD_WAT_FILE, winogradWat } from './winograd/winograd_wat';

const SIMD_DIR = path.join(packageRoot(), 'src', 'kernels', 'wasm', 'simd');

/** A module: its text, the generated TypeScript file of its bytes, and that file's constant names. */
export interface SimdModuleFiles {
  wat: string;
  binary: string;
  constant: string;
}

/** The package's SIMD modules. */
export const SIMD_MODULES: readonly SimdModuleFiles[] = [
  { wat: path.join(SIMD_DIR, 'kernels.wat'), binary: path.join(SIMD_DIR, 'kernels_binary.ts'), constant: 'SIMD_KERNELS' },
  { wat: path.join(SIMD_DIR, 'conv_kernels.wat'), binary: path.join(SIMD_DIR, 'conv_kernels_binary.ts'), constant: 'CONV_KERNELS' },
];

/** The memory import of each module, and the one of its variant for tfjs's threaded build (shared memory, up to 4 GiB). */
const MEMORY_IMPORT = '(import "env" "memory" (memory 0))';
const SHARED_MEMORY_IMPORT = '(import "env" "memory" (memory 0 65536 shared))';
/** The line of a module that winograd_tiles.wat replaces. */
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

/** Both variants' bytes of a module (winograd_tiles.wat inserted where it says so). */
export async function assembleSimdKernels(watFile: string, tilesFile = WINOGRAD_WAT_FILE): Promise<SimdKernelBinaries> {
  const kernels = fs.readFileSync(watFile, 'utf8');
  if (!kernels.includes(MEMORY_IMPORT)) throw new Error(`${watFile} must import its memory as ${MEMORY_IMPORT}`);
  const text = WINOGRAD_PLACE.test(kernels) ? kernels.replace(WINOGRAD_PLACE, () => fs.readFileSync(tilesFile, 'utf8')) : kernels;
  const name = path.basename(watFile);
  return {
    plain: await assemble(name, text),
    shared: await assemble(name, text.replace(MEMORY_IMPORT, SHARED_MEMORY_IMPORT)),
  };
}

/** The text of a module's binary file for these bytes. */
export function binaryModuleSource(files: SimdModuleFiles, binaries: SimdKernelBinaries): string {
  const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  return [
    `// Generated from ${path.basename(files.wat)} by \`node dist/scripts/build_simd_kernels.js\`: do not edit.`,
    `export const ${files.constant}_BASE64 =\n  '${base64(binaries.plain)}';`,
    `export const ${files.constant}_SHARED_MEMORY_BASE64 =\n  '${base64(binaries.shared)}';`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  fs.writeFileSync(WINOGRAD_WAT_FILE, winogradWat());
  for (const files of SIMD_MODULES) {
    const binaries = await assembleSimdKernels(files.wat);
    const temp = `${files.binary}.tmp`;
    fs.writeFileSync(temp, binaryModuleSource(files, binaries));
    fs.renameSync(temp, files.binary);
    process.stdout.write(`${files.binary}: ${binaries.plain.length} bytes\n`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
