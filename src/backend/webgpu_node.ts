/**
 * tfjs's 'webgpu' backend in Node, on Dawn (the npm package `webgpu`, an optional peer
 * dependency: prebuilt `dawn.node` binaries inside it, nothing downloaded at install).
 *
 * Dawn gives Node a WebGPU with the machine's own driver: Vulkan on Linux, Metal on
 * macOS, D3D12 on Windows. Without a GPU there is no adapter, unless a software Vulkan
 * driver is named: $DEFORMCONV_VULKAN_ICD (a Vulkan ICD JSON file, e.g. SwiftShader's or
 * Mesa's), else, in a clone of this repository, the SwiftShader that the
 * `@sparticuz/chromium` devDependency unpacks. That is how `npm test` and CI run the
 * webgpu backend on CPUs alone. A software adapter is only taken when webgpu is asked
 * for by name: `auto` takes hardware only.
 *
 * tfjs-backend-webgpu registers itself only where `navigator.gpu` exists (browsers); here
 * its WebGPUBackend class is registered under 'webgpu' on the device chosen below.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { EnvironmentError, firstLine } from '../errors';
import { packageRoot } from '../version';

/** The npm package of Dawn for Node. */
export const DAWN_PACKAGE = 'webgpu';
/** The npm package of tfjs's WebGPU backend. */
export const WEBGPU_BACKEND_PACKAGE = '@tensorflow/tfjs-backend-webgpu';
/** A Vulkan ICD JSON file for a software (or any other) driver, used when no GPU answers. */
export const VULKAN_ICD_ENV_VAR = 'DEFORMCONV_VULKAN_ICD';

/** The adapter the webgpu backend runs on, as Dawn describes it. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU emulation (SwiftShader, llvmpipe, WARP) rather than a GPU. */
  software: boolean;
  /** Where a software adapter's driver came from, e.g. 'SwiftShader from @sparticuz/chromium'. */
  driver?: string;
}

/** The subset of the WebGPU API used here (no DOM typings in this Node build). */
interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapter {
  info?: GpuAdapterInfo;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor: object): Promise<GpuDevice>;
}
interface GpuDevice {
  lost: Promise<{ reason: string; message: string }>;
  destroy(): void;
}
interface Gpu {
  requestAdapter(options?: object): Promise<GpuAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}
type WebGPUBackendClass = new (device: GpuDevice, adapterInfo?: GpuAdapterInfo) => tf.KernelBackend;

/** The active device, once activated: one per process (tfjs keeps one backend per name). */
let active: { adapter: AdapterDescription; device: GpuDevice } | undefined;
/** Set when the device is lost: the reason, for the error every later read gives. */
let lostReason: string | undefined;

/**
 * Registers and activates tfjs's 'webgpu' backend on Dawn. `allowSoftware` (an explicit
 * choice) falls back to a software Vulkan driver where no GPU answers; without it (auto),
 * only a hardware adapter is taken. Throws EnvironmentError naming what to install or set.
 */
export async function activateWebgpu(allowSoftware: boolean): Promise<AdapterDescription> {
  if (active === undefined) {
    const hasVulkan = process.platform !== 'linux' || loadLibrary('libvulkan.so.1');
    // Without the Vulkan loader there is no GPU adapter on Linux, and Dawn would print a
    // warning on every auto start: answered here, quietly.
    if (!hasVulkan && !allowSoftware) {
      throw new EnvironmentError(`backend 'webgpu': no Vulkan on this machine (libvulkan.so.1 not found); install the GPU's Vulkan driver`);
    }
    const dawn = await loadDawn();
    const adapter = await chooseAdapter(dawn, hasVulkan, allowSoftware);
    const device = await openDevice(adapter.gpuAdapter);
    // Loaded before navigator.gpu exists, so that it does not register a factory of its own.
    const { WebGPUBackend } = requireWebgpuBackend();
    Object.assign(globalThis, dawn.globals);
    exposeGpu(adapter.gpu);
    const info = adapter.gpuAdapter.info;
    tf.registerBackend('webgpu', () => new WebGPUBackend(device, info));
    // tfjs-webgpu computes small tensors whose data sits on the CPU with CPU kernels, then
    // uploads the result for the next GPU kernel: a training step stays on the GPU instead.
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    void device.lost.then((lost) => {
      lostReason = `${lost.reason}${lost.message ? `: ${lost.message}` : ''}`;
    });
    active = { adapter: adapter.description, device };
  }
  if (lostReason !== undefined) throw deviceLostError();
  return active.adapter;
}

/** The error a run stops with once the GPU device is lost (a driver reset, a GPU removed, a timeout). */
export function deviceLostError(): EnvironmentError {
  return new EnvironmentError(
    `the WebGPU device was lost (${lostReason ?? 'unknown reason'}); the last checkpoint is kept: ` +
      `rerun with --resume (check the GPU driver, or continue on --backend wasm)`,
  );
}

/** Whether the webgpu device has been lost. */
export function webgpuDeviceLost(): boolean {
  return lostReason !== undefined;
}

/**
 * What a failure means: once the device is lost every GPU read rejects (Dawn's message is
 * empty), so the loss is the cause to report; any other failure is itself.
 */
export function explainGpuFailure(err: unknown): unknown {
  return lostReason !== undefined ? deviceLostError() : err;
}

/** Loses the device on purpose (tests of what a run does when a GPU goes away). */
export function destroyWebgpuDevice(): void {
  active?.device.destroy();
}

/** One line for the adapter, e.g. "google swiftshader (SwiftShader driver 5.0.0): software adapter, a CPU emulation, slow". */
export function formatAdapter(a: AdapterDescription): string {
  const name = [a.vendor, a.architecture].filter((s) => s !== '').join(' ') || 'unnamed adapter';
  const detail = a.description || a.device;
  const software = a.software ? `: software adapter${a.driver ? ` (${a.driver})` : ''}, a CPU emulation, slow` : '';
  return `${name}${detail ? ` (${detail})` : ''}${software}`;
}

async function loadDawn(): Promise<DawnModule> {
  try {
    return (await loadModule(DAWN_PACKAGE)) as DawnModule;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if ((e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND') && e.message.includes(`'${DAWN_PACKAGE}'`)) {
      throw new EnvironmentError(
        `backend 'webgpu' needs ${DAWN_PACKAGE} (Dawn for Node), which is not installed: run npm install ${DAWN_PACKAGE}`,
      );
    }
    throw new EnvironmentError(
      `backend 'webgpu': ${DAWN_PACKAGE} is installed but failed to load (${firstLine(e.message)}); try npm install ${DAWN_PACKAGE} again`,
    );
  }
}

function requireWebgpuBackend(): { WebGPUBackend: WebGPUBackendClass } {
  try {
    // A literal name, so that a bundler (the GPU kit) includes it.
    return require('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: WebGPUBackendClass };
  } catch (err) {
    throw new EnvironmentError(
      `backend 'webgpu' needs ${WEBGPU_BACKEND_PACKAGE}, which failed to load (${firstLine((err as Error).message)}): ` +
        `run npm install ${WEBGPU_BACKEND_PACKAGE}`,
    );
  }
}

interface ChosenAdapter {
  gpu: Gpu;
  gpuAdapter: GpuAdapter;
  description: AdapterDescription;
}

async function chooseAdapter(dawn: DawnModule, hasVulkan: boolean, allowSoftware: boolean): Promise<ChosenAdapter> {
  const system = hasVulkan ? await requestAdapter(dawn) : undefined;
  if (system !== undefined && (!system.description.software || allowSoftware)) return system;
  if (!allowSoftware) {
    throw new EnvironmentError(
      `backend 'webgpu': no GPU adapter (${system ? `only ${formatAdapter(system.description)}` : 'Dawn found none'})`,
    );
  }
  const driver = await softwareDriver();
  installVulkanDriver(driver.icd, hasVulkan);
  const software = await requestAdapter(dawn);
  if (software === undefined) {
    throw new EnvironmentError(`backend 'webgpu': no adapter, not even from ${driver.icd} (${driver.source}); check ${VULKAN_ICD_ENV_VAR}`);
  }
  return { ...software, description: { ...software.description, driver: driver.source } };
}

/**
 * Points the Vulkan loader at the ICD `icd`, after checking what Dawn would otherwise only
 * warn about on stderr: the driver library it names, and a loader to read it (the
 * system's, else one beside the ICD, loaded first so that Dawn's dlopen of the name finds it).
 */
function installVulkanDriver(icd: string, hasVulkan: boolean): void {
  const library = (JSON.parse(fs.readFileSync(icd, 'utf8')) as { ICD?: { library_path?: string } }).ICD?.library_path;
  // A bare file name is searched for by the loader; a path is relative to the ICD file.
  const libraryFile = library !== undefined && library.includes('/') ? path.resolve(path.dirname(icd), library) : undefined;
  if (libraryFile !== undefined && !fs.existsSync(libraryFile)) {
    throw new EnvironmentError(
      `backend 'webgpu': the Vulkan driver ${icd} names ${libraryFile}, which does not exist; check ${VULKAN_ICD_ENV_VAR}`,
    );
  }
  const loader = path.join(path.dirname(icd), 'libvulkan.so.1');
  if (!hasVulkan && !(fs.existsSync(loader) && loadLibrary(loader))) {
    throw new EnvironmentError(
      `backend 'webgpu': no Vulkan loader (libvulkan.so.1) on this machine or beside ${icd}; install it (Debian and Ubuntu: libvulkan1)`,
    );
  }
  process.env.VK_ICD_FILENAMES = icd;
}

async function requestAdapter(dawn: DawnModule): Promise<ChosenAdapter | undefined> {
  const gpu = dawn.create([]);
  const gpuAdapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (gpuAdapter === null) return undefined;
  const info = gpuAdapter.info ?? {};
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  const software =
    info.isFallbackAdapter === true ||
    gpuAdapter.isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i.test(text);
  return {
    gpu,
    gpuAdapter,
    description: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      software,
    },
  };
}

/** navigator.gpu, which WebGPUBackend checks for (Node 20 has no navigator; Node 21 and later have one without gpu). */
function exposeGpu(gpu: Gpu): void {
  const scope = globalThis as { navigator?: object };
  if (scope.navigator === undefined) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
}

/** The device as tfjs-backend-webgpu's own factory asks for it: the adapter's limits, timestamps where offered. */
async function openDevice(adapter: GpuAdapter): Promise<GpuDevice> {
  const limits = adapter.limits;
  const requiredLimits: Record<string, number> = {};
  for (const name of [
    'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
  ]) {
    requiredLimits[name] = limits[name];
  }
  const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
  try {
    return await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (err) {
    throw new EnvironmentError(`backend 'webgpu': the adapter refused a device (${firstLine((err as Error).message)})`);
  }
}

/** A software Vulkan driver: $DEFORMCONV_VULKAN_ICD, else the SwiftShader of the @sparticuz/chromium devDependency. */
async function softwareDriver(): Promise<{ icd: string; source: string }> {
  const named = process.env[VULKAN_ICD_ENV_VAR];
  if (named !== undefined && named !== '') {
    if (!fs.existsSync(named)) throw new EnvironmentError(`${VULKAN_ICD_ENV_VAR} is '${named}', which does not exist`);
    return { icd: path.resolve(named), source: `${VULKAN_ICD_ENV_VAR}` };
  }
  const icd = path.join(swiftShaderDir(), 'vk_swiftshader_icd.json');
  if (!fs.existsSync(icd)) await unpackChromium();
  if (!fs.existsSync(icd)) {
    throw new EnvironmentError(
      `backend 'webgpu': no GPU adapter and no software driver; install the GPU's driver, ` +
        `or set ${VULKAN_ICD_ENV_VAR} to a Vulkan ICD JSON file (e.g. SwiftShader's vk_swiftshader_icd.json)`,
    );
  }
  return { icd, source: 'SwiftShader from @sparticuz/chromium' };
}

/** Where this package's clone keeps @sparticuz/chromium unpacked (the browser tests use the same folder). */
export function swiftShaderDir(): string {
  return path.join(packageRoot(), '.tmp');
}

/**
 * Unpacks @sparticuz/chromium (a devDependency: present in a clone, not for npm users)
 * into swiftShaderDir(), once; its SwiftShader Vulkan driver comes with the browser.
 * Returns the browser's path, or undefined where the package is missing.
 */
export async function unpackChromium(): Promise<string | undefined> {
  // Without the package (an npm install, the GPU kit) nothing is unpacked, and no folder is made for it.
  if (!resolvable('@sparticuz/chromium')) return undefined;
  const dir = swiftShaderDir();
  fs.mkdirSync(dir, { recursive: true });
  const previous = process.env.TMPDIR;
  // The package unpacks into os.tmpdir() (and points FONTCONFIG_PATH and LD_LIBRARY_PATH there).
  process.env.TMPDIR = dir;
  try {
    const chromium = (await loadModule('@sparticuz/chromium')) as { executablePath(): Promise<string> };
    return await chromium.executablePath();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

function resolvable(specifier: string): boolean {
  try {
    require.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

/**
 * A package's module, ES or CommonJS: require() loads ES modules from Node 20.19 on; before
 * that, a real dynamic import (tsc's CommonJS output would turn import() into require()).
 */
async function loadModule(specifier: string): Promise<unknown> {
  try {
    return require(specifier);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a real import(), which tsc's CommonJS output would rewrite
    return (new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>)(specifier);
  }
}

/** glibc's RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE: stays loaded after Node gives up on it as an addon. */
const KEEP_LOADED = 0x2 | 0x100 | 0x1000;

/** Loads a shared library into the process (by name or path); false where it cannot be found. */
function loadLibrary(file: string): boolean {
  try {
    process.dlopen({ exports: {} }, file, KEEP_LOADED);
  } catch (err) {
    // Not a Node addon, but loaded: what was wanted.
    return /did not self-register/.test((err as Error).message);
  }
  return true;
}
