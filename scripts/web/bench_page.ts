/**
 * The browser benchmark's page (scripts/web/bench_browser.ts drives it headless): times one
 * figure at a time on the backend asked for. The figures: the experiment's models
 * forward (inference), a fine-tune step of the deformable models (base frozen, Adam over
 * the trainable variables, as a training step makes it), and the deformable ops alone,
 * forward or with their gradients, fused or portable. Inputs are random: speed does not
 * depend on the values.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '../../src/wasm';
import { buildDeformCnn, buildRegularCnn, DeformType, forward, INPUT_SHAPE, NUM_CLASSES } from '../../src/models/cnn';
import { deformConv2d, deformConv2dPortable } from '../../src/ops/deform_conv2d';
import { deformSample } from '../../src/ops/deform_sample';
import { deformSamplePortable } from '../../src/ops/deform_sample_portable';
import { createAdam } from '../../src/optimizers/adam';
import { timeTensorStep } from '../bench/timing';

setWasmPaths('./');
// The page is cross-origin isolated, where tfjs would load its threaded wasm build; this
// package's wasm training kernels cannot reach that build's memory ('asm.memory'), so
// wasm runs single-threaded here.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

/** The regular CNN, or a deformable one. */
export type ModelKind = 'regular' | DeformType;

/** One figure to measure. */
export type BenchItem =
  | { kind: 'forward'; model: ModelKind; batch: number }
  | { kind: 'step'; model: DeformType; batch: number }
  | {
      kind: 'op';
      op: 'deformSample' | 'deformConv2d';
      /** [batch, 14, 14, 32] in; deformConv2d: 3x3 'same' to 64 channels. */
      batch: number;
      gradients: boolean;
      portable: boolean;
    };

/** How a figure is timed: warm-up runs (shader compilation among them), then timed runs within a budget. */
export interface Timing {
  warmupRuns: number;
  timedRuns: number;
  budgetMs: number;
}

const OP_SHAPE = [14, 14, 32];
const OP_FILTERS = 64;

/** Models built on the current backend, by kind (rebuilt after a change of backend). */
const models = new Map<ModelKind, tf.Sequential>();

function model(kind: ModelKind): tf.Sequential {
  let built = models.get(kind);
  if (built === undefined) {
    built = kind === 'regular' ? buildRegularCnn({ seed: 1 }) : buildDeformCnn({ seed: 1, deformType: kind, trainableBase: false });
    models.set(kind, built);
  }
  return built;
}

async function useBackend(backend: string): Promise<void> {
  if (tf.getBackend() === backend) return;
  for (const built of models.values()) built.dispose();
  models.clear();
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not start`);
  await tf.ready();
}

function images(batch: number): tf.Tensor {
  return tf.randomUniform([batch, ...INPUT_SHAPE]);
}

/** A fine-tune step: loss and gradients of the trainable variables, then Adam's update of them. */
function fineTuneStep(net: tf.LayersModel, optimizer: tf.Optimizer, xs: tf.Tensor, ys: tf.Tensor): tf.Tensor {
  const variables = net.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.mean(tf.metrics.categoricalCrossentropy(ys, forward(net, xs, true))) as tf.Scalar,
    variables,
  );
  optimizer.applyGradients(grads);
  tf.dispose(grads);
  return value;
}

/** The op's inputs and a function of them giving the tensors to wait for. */
function opStep(item: Extract<BenchItem, { kind: 'op' }>): { inputs: tf.Tensor[]; step: () => tf.Tensor[] } {
  const [height, width, channels] = OP_SHAPE;
  const x = tf.randomUniform([item.batch, height, width, channels]) as tf.Tensor4D;
  if (item.op === 'deformSample') {
    const offsets = tf.randomUniform([item.batch, height, width, 2 * channels], -2, 2) as tf.Tensor4D;
    const sample = item.portable ? deformSamplePortable : deformSample;
    const f = (a: tf.Tensor, b: tf.Tensor) => sample(a as tf.Tensor4D, b as tf.Tensor4D);
    return { inputs: [x, offsets], step: () => (item.gradients ? tf.grads(f)([x, offsets]) : [f(x, offsets)]) };
  }
  const offsets = tf.randomUniform([item.batch, height, width, 18], -2, 2) as tf.Tensor4D;
  const weights = tf.randomUniform([3, 3, channels, OP_FILTERS], -0.1, 0.1) as tf.Tensor4D;
  const convolve = item.portable ? deformConv2dPortable : deformConv2d;
  const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    convolve(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { padding: 'same' });
  return { inputs: [x, offsets, weights], step: () => (item.gradients ? tf.grads(f)([x, offsets, weights]) : [f(x, offsets, weights)]) };
}

/** The median milliseconds of `item` on `backend`. */
async function run(backend: string, item: BenchItem, timing: Timing): Promise<number> {
  await useBackend(backend);
  const time = (step: () => tf.Tensor | tf.Tensor[]) => timeTensorStep(step, timing.warmupRuns, timing.timedRuns, timing.budgetMs);
  if (item.kind === 'op') {
    const { inputs, step } = opStep(item);
    const ms = await time(step);
    tf.dispose(inputs);
    return ms;
  }
  const net = model(item.model);
  const xs = images(item.batch);
  if (item.kind === 'forward') {
    const ms = await time(() => forward(net, xs, false));
    tf.dispose(xs);
    return ms;
  }
  const ys = tf.oneHot(tf.randomUniform([item.batch], 0, NUM_CLASSES, 'int32'), NUM_CLASSES);
  const optimizer = createAdam(1e-3);
  const ms = await time(() => fineTuneStep(net, optimizer, xs, ys));
  optimizer.dispose();
  tf.dispose([xs, ys]);
  return ms;
}

/** The backends this browser can start, of those asked for. */
async function backends(wanted: string[]): Promise<string[]> {
  const names: string[] = [];
  for (const name of wanted) {
    try {
      if (await tf.setBackend(name)) names.push(name);
    } catch {
      // Not offered here (webgpu without an adapter).
    }
  }
  return names;
}

/** What the renderer says it is, for the report: SwiftShader or a real GPU. */
async function renderers(): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  try {
    await useBackend('webgl');
    const gl = (tf.backend() as unknown as { gpgpu: { gl: { getParameter(p: number): unknown; getExtension(n: string): unknown } } }).gpgpu
      .gl;
    const info = gl.getExtension('WEBGL_debug_renderer_info') as { UNMASKED_RENDERER_WEBGL: number } | null;
    found.webgl = String(info === null ? 'unknown' : gl.getParameter(info.UNMASKED_RENDERER_WEBGL));
  } catch (err) {
    found.webgl = `unavailable: ${String(err)}`;
  }
  try {
    await useBackend('webgpu');
    const adapter = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string; description?: string } })
      .adapterInfo;
    found.webgpu = [adapter?.vendor, adapter?.architecture, adapter?.description].filter(Boolean).join(' ') || 'unknown';
  } catch (err) {
    found.webgpu = `unavailable: ${String(err)}`;
  }
  return found;
}

Object.assign(globalThis, { deformBench: { run, backends, renderers } });
