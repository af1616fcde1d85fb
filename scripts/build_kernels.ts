/**
 * `npm run build:kernels`: regenerates every generated file under src/ from the sources
 * committed beside them, so that the package needs no assembler at run time:
 *   src/kernels/wasm/simd/winograd_tiles.wat  from scripts/winograd/winograd_wat.ts;
 *   kernels_binary.ts       kernels.wat assembled, as base64;
 *   conv_kernels_binary.ts  conv_kernels.wat, with winograd_tiles.wat inserted where it
 *                           says, assembled, as base64;
 * each binary in two variants, for an ordinary and for a shared memory. The npm script
 * builds first (this runs from dist/) and again after (the binaries are TypeScript).
 *
 * Run it after editing a .wat or the generator; tests/generated_files.test.ts fails while a
 * committed file and what this makes disagree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import wabtInit from 'wabt';
import { replaceFileAtomically } from '../src/files/atomic';
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

/** Both variants' bytes of a module (the text of winograd_tiles.wat, `tiles`, inserted where it says so). */
export async function assembleSimdKernels(watFile: string, tiles: string): Promise<SimdKernelBinaries> {
  const kernels = fs.readFileSync(watFile, 'utf8');
  if (!kernels.includes(MEMORY_IMPORT)) throw new Error(`${watFile} must import its memory as ${MEMORY_IMPORT}`);
  const text = WINOGRAD_PLACE.test(kernels) ? kernels.replace(WINOGRAD_PLACE, () => tiles) : kernels;
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
    `// Generated from ${path.basename(files.wat)} by \`npm run build:kernels\` (scripts/build_kernels.ts): do not edit.`,
    `export const ${files.constant}_BASE64 =\n  '${base64(binaries.plain)}';`,
    `export const ${files.constant}_SHARED_MEMORY_BASE64 =\n  '${base64(binaries.shared)}';`,
    '',
  ].join('\n');
}

/** A generated file: its path and the text it should have. */
export interface GeneratedFile {
  file: string;
  text: string;
}

/** Every generated file, made in memory from the committed sources (the generator, the .wat files). */
export async function generatedFiles(): Promise<GeneratedFile[]> {
  const tiles = winogradWat();
  const binaries = SIMD_MODULES.map(async (files) => ({
    file: files.binary,
    text: binaryModuleSource(files, await assembleSimdKernels(files.wat, tiles)),
  }));
  return [{ file: WINOGRAD_WAT_FILE, text: tiles }, ...(await Promise.all(binaries))];
}

/** Writes each generated file whose text changed (a file is replaced whole, never truncated). */
async function main(): Promise<void> {
  for (const { file, text } of await generatedFiles()) {
    const changed = !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text;
    if (changed) replaceFileAtomically(file, text);
    process.stdout.write(`${path.relative(packageRoot(), file)}: ${changed ? 'written' : 'up to date'}\n`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
