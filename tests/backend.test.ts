import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { EnvironmentError, UserError } from '../src/errors';
import { AUTO_ORDER, BACKEND_ENV_VAR, backendRecord, BackendProbe, formatBackend, probeBackends, useBackend } from '../src/backend/select';
import { installed } from './helpers/packages';
const hasTfjsNode = installed('@tensorflow/tfjs-node');
const hasTfjsNodeGpu = installed('@tensorflow/tfjs-node-gpu');
const wasmLoaded = () => Object.keys(require.cache).some((key) => key.includes('tfjs-backend-wasm'));

afterEach(() => {
  delete process.env[BACKEND_ENV_VAR];
});

describe('useBackend', () => {
  // First in the file: nothing has loaded the wasm package yet in this process.
  test('cpu works and does not load the wasm package', async () => {
    const backend = await useBackend('cpu');
    expect(backend).toEqual({ name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', version: tf.version['tfjs-backend-cpu'] });
    expect(tf.getBackend()).toBe('cpu');
    expect(wasmLoaded()).toBe(false);
  });

  test('wasm reports SIMD and threads', async () => {
    const backend = await useBackend('wasm');
    expect(backend.name).toBe('wasm');
    expect(backend.package).toBe('@tensorflow/tfjs-backend-wasm');
    expect(backend.version).toBe('4.22.0');
    expect(typeof backend.simd).toBe('boolean');
    expect(backend.threads).toBeGreaterThanOrEqual(1);
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmLoaded()).toBe(true);
    expect(tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])).dataSync()[0])).toBe(3);
  });

  test.skipIf(hasTfjsNode)('explicit tensorflow without @tensorflow/tfjs-node fails with one line naming it', async () => {
    const error = await useBackend('tensorflow').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EnvironmentError);
    const message = (error as Error).message;
    expect(message).toBe("backend 'tensorflow' needs @tensorflow/tfjs-node, which is not installed: run npm install @tensorflow/tfjs-node");
  });

  test.skipIf(hasTfjsNodeGpu)('explicit tensorflow-gpu without @tensorflow/tfjs-node-gpu fails naming it', async () => {
    await expect(useBackend('tensorflow-gpu')).rejects.toThrow(
      /needs @tensorflow\/tfjs-node-gpu, which is not installed: run npm install @tensorflow\/tfjs-node-gpu$/,
    );
  });

  test(`auto picks ${hasTfjsNodeGpu || hasTfjsNode ? 'a tensorflow backend' : 'wasm'} here`, async () => {
    await useBackend('cpu');
    const backend = await useBackend('auto');
    if (!hasTfjsNode && !hasTfjsNodeGpu) expect(backend.name).toBe('wasm');
    expect(tf.getBackend()).toBe(backend.name === 'tensorflow-gpu' ? 'tensorflow' : backend.name);
  });

  test(`${BACKEND_ENV_VAR} is the default choice`, async () => {
    process.env[BACKEND_ENV_VAR] = 'cpu';
    expect((await useBackend()).name).toBe('cpu');
    process.env[BACKEND_ENV_VAR] = 'gpu';
    await expect(useBackend()).rejects.toThrow(UserError);
    await expect(useBackend()).rejects.toThrow(
      `${BACKEND_ENV_VAR} is 'gpu'; expected one of auto, webgpu, tensorflow-gpu, tensorflow, wasm, cpu`,
    );
  });
});

describe('reporting the backend', () => {
  const wasm = { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', version: '4.22.0', simd: true, threads: 1 } as const;

  test('one line for the start of a command', () => {
    expect(formatBackend(wasm)).toBe('backend: wasm (@tensorflow/tfjs-backend-wasm 4.22.0, SIMD on, 1 thread)');
    expect(formatBackend({ name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', version: '4.22.0' })).toBe(
      'backend: cpu (@tensorflow/tfjs-backend-cpu 4.22.0)',
    );
  });

  test('a plain JSON object for metrics files', () => {
    expect(JSON.parse(JSON.stringify(backendRecord(wasm)))).toEqual(wasm);
    expect(backendRecord({ name: 'cpu', package: 'p', version: 'v' })).toEqual({ name: 'cpu', package: 'p', version: 'v' });
  });

  test('probeBackends lists every backend in auto order', async () => {
    const probes = await probeBackends();
    expect(probes.map((p) => p.name)).toEqual(AUTO_ORDER);
    expect(probes.find((p) => p.name === 'cpu')?.available).toBe(true);
    for (const probe of probes) expect(probe.available ? probe.description?.name : probe.problem).toBeTruthy();
  });
});

/**
 * The tensorflow backends cannot be installed here, so stand-ins are put on NODE_PATH:
 * packages with the real names that register a 'tensorflow' backend made from the cpu one.
 */
describe('tensorflow backends, with stand-in packages', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'deformconv-backend-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const CLI = path.resolve(__dirname, '..', 'dist', 'src', 'cli', 'main.js');

  function standIn(dir: string, pkg: string, body: string): void {
    const root = path.join(scratch, dir, 'node_modules', pkg);
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: pkg, version: '0.0.0-stand-in', main: 'index.js' }));
    writeFileSync(path.join(root, 'index.js'), body);
  }
  const registerTensorflow = (onGpu: boolean) => `
    const tf = require('@tensorflow/tfjs');
    const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu');
    for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: 'tensorflow' });
    tf.registerBackend('tensorflow', () => Object.assign(new MathBackendCPU(), { isUsingGpuDevice: ${onGpu} }), 3);`;

  function info(dir: string): Promise<{ autoPicks: string; backends: BackendProbe[] }> {
    const nodePath = [path.join(scratch, dir, 'node_modules'), path.resolve(__dirname, '..', 'node_modules')].join(path.delimiter);
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [CLI, 'info', '--json', '--data-dir', scratch],
        { env: { ...process.env, NODE_PATH: nodePath } },
        (error, stdout, stderr) => (error === null ? resolve(JSON.parse(stdout)) : reject(new Error(stderr))),
      );
    });
  }
  const byName = (probes: BackendProbe[]) => Object.fromEntries(probes.map((p) => [p.name, p]));

  test.skipIf(hasTfjsNode || hasTfjsNodeGpu)('auto picks tensorflow-gpu when it sees a GPU', async () => {
    standIn('gpu', '@tensorflow/tfjs-node-gpu', registerTensorflow(true));
    const result = await info('gpu');
    expect(result.autoPicks).toBe('tensorflow-gpu');
    expect(byName(result.backends)['tensorflow-gpu'].description).toEqual({
      name: 'tensorflow-gpu',
      package: '@tensorflow/tfjs-node-gpu',
      version: '0.0.0-stand-in',
    });
  });

  test.skipIf(hasTfjsNode || hasTfjsNodeGpu)('without a GPU, tfjs-node-gpu still serves the tensorflow backend', async () => {
    standIn('nogpu', '@tensorflow/tfjs-node-gpu', registerTensorflow(false));
    const result = await info('nogpu');
    const probes = byName(result.backends);
    expect(probes['tensorflow-gpu'].problem).toBe(
      "backend 'tensorflow-gpu': @tensorflow/tfjs-node-gpu loaded but TensorFlow sees no GPU (check the NVIDIA driver, CUDA and cuDNN)",
    );
    expect(probes.tensorflow.description?.package).toBe('@tensorflow/tfjs-node-gpu');
    expect(result.autoPicks).toBe('tensorflow');
  });

  test.skipIf(hasTfjsNode || hasTfjsNodeGpu)('an installed but broken tfjs-node: one line saying so', async () => {
    standIn(
      'broken',
      '@tensorflow/tfjs-node',
      "throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found\\nat path: /x');",
    );
    const probes = byName((await info('broken')).backends);
    expect(probes.tensorflow.problem).toBe(
      "backend 'tensorflow': @tensorflow/tfjs-node is installed but failed to load (The Node.js native addon module (tfjs_binding.node) can not be found); try npm install @tensorflow/tfjs-node again",
    );
  });
});
