/**
 * Backend selection: which tfjs backend runs the math, and a record of it.
 *
 * Node only (the CLI and the `deformconv/node` entry): in a browser an app picks its
 * backend with tf.setBackend. The backend packages (webgpu with
 * @tensorflow/tfjs-backend-webgpu, @tensorflow/tfjs-node, @tensorflow/tfjs-node-gpu,
 * @tensorflow/tfjs-backend-wasm) are optional and cost a module load, so each is required
 * only when it is picked or probed. All of them register into
 * the one tfjs engine that `@tensorflow/tfjs` exposes. Picking wasm also loads this
 * package's faster wasm training kernels (the `deformconv/wasm` entry).
 */
import * as tf from '@tensorflow/tfjs';
import { EnvironmentError, firstLine, UserError } from '../errors';
import { activateWebgpu, AdapterDescription, formatAdapter, WEBGPU_BACKEND_PACKAGE } from './webgpu_node';

/** What `--backend` and useBackend accept: 'auto' or a backend's name. */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
/** One of BACKEND_CHOICES. */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** A concrete backend (any choice but 'auto'). */
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** The order `auto` tries; the first backend that loads and works is taken (webgpu only on a hardware adapter). */
export const AUTO_ORDER: readonly BackendName[] = ['webgpu', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Environment variable holding the default choice (the CLI's --backend overrides it). */
export const BACKEND_ENV_VAR = 'DEFORMCONV_BACKEND';

/** The npm package each backend comes from (cpu is bundled in @tensorflow/tfjs). */
export const BACKEND_PACKAGES: Readonly<Record<BackendName, string>> = {
  webgpu: WEBGPU_BACKEND_PACKAGE,
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** What is running the math. Plain data: it goes into metrics files as is. */
export interface BackendDescription {
  name: BackendName;
  /** The package that provides it, e.g. '@tensorflow/tfjs-backend-wasm'. */
  package: string;
  version: string;
  /** wasm only: whether the SIMD build is running. */
  simd?: boolean;
  /** wasm only: worker threads (1 in Node, where the threaded build is unavailable). */
  threads?: number;
  /** webgpu only: the adapter (GPU or software emulation) it runs on. */
  adapter?: AdapterDescription;
}

/** A backend as metrics files record it (backendRecord's result, or just its name). */
export type BackendRecord = Record<string, string | number | boolean>;

/** One backend's availability, as `info` reports it. */
export interface BackendProbe {
  name: BackendName;
  available: boolean;
  description?: BackendDescription;
  /** Why it is not available (one line). */
  problem?: string;
}

/** Parses a backend choice from a string (e.g. the environment); undefined or '' means 'auto'. */
export function parseBackendChoice(value: string | undefined, source = BACKEND_ENV_VAR): BackendChoice {
  if (value === undefined || value === '') return 'auto';
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  const browserOnly = value === 'webgl' ? ` (webgl runs in browsers, where an app picks it with tf.setBackend; in Node use webgpu)` : '';
  throw new UserError(`${source} is '${String(value)}'; expected one of ${BACKEND_CHOICES.join(', ')}${browserOnly}`);
}

/**
 * Loads and activates a backend, checks that it computes, and describes it.
 * `choice` defaults to $DEFORMCONV_BACKEND, else 'auto'.
 * Throws EnvironmentError (naming the package to install) when an explicit choice cannot load.
 */
export async function useBackend(choice?: BackendChoice): Promise<BackendDescription> {
  // Checked here too: JavaScript callers are not held to the type.
  const resolved = choice === undefined ? parseBackendChoice(process.env[BACKEND_ENV_VAR]) : parseBackendChoice(choice, 'useBackend()');
  if (resolved !== 'auto') return activate(resolved, true);
  const problems: string[] = [];
  for (const name of AUTO_ORDER) {
    try {
      return await activate(name, false);
    } catch (err) {
      if (!(err instanceof EnvironmentError)) throw err;
      problems.push(err.message);
    }
  }
  throw new EnvironmentError(`no backend works: ${problems.join('; ')}`);
}

/**
 * Tries every backend in `auto` order and reports which work (webgpu on a software
 * adapter too, described as such). Leaves the last one that worked active; call
 * useBackend() afterwards to pick the one you want.
 */
export async function probeBackends(): Promise<BackendProbe[]> {
  const probes: BackendProbe[] = [];
  for (const name of AUTO_ORDER) {
    try {
      probes.push({ name, available: true, description: await activate(name, true) });
    } catch (err) {
      if (!(err instanceof EnvironmentError)) throw err;
      probes.push({ name, available: false, problem: err.message });
    }
  }
  return probes;
}

/** The backend `auto` takes among probeBackends()'s results: the first available one, webgpu only on a hardware adapter. */
export function autoPick(probes: readonly BackendProbe[]): BackendName | null {
  return probes.find((p) => p.available && p.description?.adapter?.software !== true)?.name ?? null;
}

/** One line for the start of a long command, e.g. "backend: wasm (@tensorflow/tfjs-backend-wasm 4.22.0, SIMD on, 1 thread)". */
export function formatBackend(d: BackendDescription): string {
  return `backend: ${d.name} (${backendDetails(d)})`;
}

/** Package, version and build details, e.g. "@tensorflow/tfjs-backend-wasm 4.22.0, SIMD on, 1 thread". */
export function backendDetails(d: BackendDescription): string {
  const details = [`${d.package} ${d.version}`];
  if (d.simd !== undefined) details.push(`SIMD ${d.simd ? 'on' : 'off'}`);
  if (d.threads !== undefined) details.push(`${d.threads} thread${d.threads === 1 ? '' : 's'}`);
  if (d.adapter !== undefined) details.push(`adapter: ${formatAdapter(d.adapter)}`);
  return details.join(', ');
}

/** The description as a JSON-ready object for metrics files (absent fields left out). */
export function backendRecord(d: BackendDescription): BackendRecord {
  const record: BackendRecord = { name: d.name, package: d.package, version: d.version };
  if (d.simd !== undefined) record.simd = d.simd;
  if (d.threads !== undefined) record.threads = d.threads;
  if (d.adapter !== undefined) {
    record.adapter = formatAdapter(d.adapter);
    record.adapterSoftware = d.adapter.software;
  }
  return record;
}

/** Which package registered tfjs's 'tensorflow' backend: tfjs-node and tfjs-node-gpu both use that name. */
let tensorflowPackage: string | undefined;

/** `explicit`: asked for by name (not by auto), which lets webgpu run on a software adapter. */
async function activate(name: BackendName, explicit: boolean): Promise<BackendDescription> {
  switch (name) {
    case 'webgpu': {
      const adapter = await activateWebgpu(explicit);
      await setTfBackend(name, 'webgpu');
      return { name, package: BACKEND_PACKAGES[name], version: packageVersion(BACKEND_PACKAGES[name]), adapter };
    }
    case 'tensorflow-gpu': {
      const pkg = BACKEND_PACKAGES[name];
      if (tensorflowPackage === undefined) {
        requireBackendPackage(name, pkg);
        tensorflowPackage = pkg;
      }
      if (tensorflowPackage !== pkg) {
        throw new EnvironmentError(
          `backend 'tensorflow-gpu': this process already loaded ${tensorflowPackage}, which provides tfjs's 'tensorflow' backend without a GPU`,
        );
      }
      await setTfBackend(name, 'tensorflow');
      // NodeJSKernelBackend reports whether TensorFlow placed ops on a GPU.
      if ((tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice !== true) {
        throw new EnvironmentError(
          `backend 'tensorflow-gpu': ${pkg} loaded but TensorFlow sees no GPU (check the NVIDIA driver, CUDA and cuDNN)`,
        );
      }
      return { name, package: pkg, version: packageVersion(pkg) };
    }
    case 'tensorflow': {
      // If tfjs-node-gpu was loaded (e.g. probed by auto without a GPU), it already provides
      // 'tensorflow' on the CPU; loading tfjs-node as well would clash over the name.
      if (tensorflowPackage === undefined) {
        requireBackendPackage(name, BACKEND_PACKAGES[name]);
        tensorflowPackage = BACKEND_PACKAGES[name];
      }
      await setTfBackend(name, 'tensorflow');
      return { name, package: tensorflowPackage, version: packageVersion(tensorflowPackage) };
    }
    case 'wasm': {
      const pkg = BACKEND_PACKAGES[name];
      const wasm = requireBackendPackage(name, pkg) as { getThreadsCount(): number; version_wasm: string };
      await import('../kernels/wasm/replace_tfjs_kernels');
      await setTfBackend(name, 'wasm');
      const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
      return { name, package: pkg, version: wasm.version_wasm, simd, threads: wasm.getThreadsCount() };
    }
    case 'cpu': {
      await setTfBackend(name, 'cpu');
      return { name, package: BACKEND_PACKAGES[name], version: tf.version['tfjs-backend-cpu'] };
    }
  }
}

/**
 * Each package's module and package.json, by literal require rather than require(pkg): a
 * bundler (the GPU kit, scripts/gpu_kit/main.ts) then includes the ones it has and leaves the
 * others (tfjs-node) to the runtime, where they fail to load as in an install without them.
 */
const PACKAGE_LOADERS: Readonly<Record<string, { module(): unknown; packageJson(): unknown }>> = {
  '@tensorflow/tfjs-node-gpu': {
    module: (): unknown => require('@tensorflow/tfjs-node-gpu'),
    packageJson: (): unknown => require('@tensorflow/tfjs-node-gpu/package.json'),
  },
  '@tensorflow/tfjs-node': {
    module: (): unknown => require('@tensorflow/tfjs-node'),
    packageJson: (): unknown => require('@tensorflow/tfjs-node/package.json'),
  },
  '@tensorflow/tfjs-backend-wasm': {
    module: (): unknown => require('@tensorflow/tfjs-backend-wasm'),
    packageJson: (): unknown => require('@tensorflow/tfjs-backend-wasm/package.json'),
  },
  '@tensorflow/tfjs-backend-webgpu': {
    module: (): unknown => require('@tensorflow/tfjs-backend-webgpu'),
    packageJson: (): unknown => require('@tensorflow/tfjs-backend-webgpu/package.json'),
  },
};

function requireBackendPackage(name: BackendName, pkg: string): unknown {
  try {
    return PACKAGE_LOADERS[pkg].module();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(`'${pkg}'`)) {
      throw new EnvironmentError(`backend '${name}' needs ${pkg}, which is not installed: run npm install ${pkg}`);
    }
    throw new EnvironmentError(
      `backend '${name}': ${pkg} is installed but failed to load (${firstLine(e.message)}); try npm install ${pkg} again`,
    );
  }
}

async function setTfBackend(name: BackendName, tfName: string): Promise<void> {
  // setBackend resolves false (after logging a warning) when initialisation fails.
  const ok = await tf.setBackend(tfName).catch(() => false);
  if (!ok) throw new EnvironmentError(`backend '${name}' failed to initialise`);
  if (tfName === 'cpu') {
    // Its first-use banner tells Node users to install tfjs-node; we choose the backend
    // ourselves and print what we chose, so the banner is noise.
    (tf.backend() as { firstUse?: boolean }).firstUse = false;
  }
  // Read asynchronously: webgpu in Node has no synchronous read.
  const three = tf.add(tf.scalar(1), tf.scalar(2));
  const sum = (await three.data())[0];
  three.dispose();
  if (sum !== 3) throw new EnvironmentError(`backend '${name}' loaded but computes 1 + 2 = ${sum}`);
}

function packageVersion(pkg: string): string {
  try {
    return (PACKAGE_LOADERS[pkg].packageJson() as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
