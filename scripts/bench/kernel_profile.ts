/**
 * Where a training step spends its time, kernel by kernel: every kernel registered for the
 * backend is wrapped with a timer while `profileSteps` runs. Only outermost calls count
 * (a kernel that runs others below the engine owns their time), so the rows add up to the
 * kernels' share of the step, and the rest of the step is the engine's and the tape's
 * JavaScript. Synchronous backends only (wasm, cpu): their kernels finish when they return.
 */
import * as tf from '@tensorflow/tfjs';

/** One row of a profile: a kernel, or a convolution's forward or gradient on one shape. */
export interface ProfileRow {
  label: string;
  ms: number;
  calls: number;
}

/** A profile of one step: rows by time, largest first, and the step's mean time. */
export interface StepProfile {
  stepMs: number;
  rows: ProfileRow[];
}

const CONV_KERNELS: Record<string, string> = {
  Conv2D: 'forward',
  FusedConv2D: 'forward',
  Conv2DBackpropInput: 'input grad',
  Conv2DBackpropFilter: 'filter grad',
};

/** A convolution's shape as `3x3/s1 14x14 64->128`: the input's size, whichever kernel computes it. */
function convShape(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): string {
  const strides = attrs.strides as number | number[];
  const stride = Array.isArray(strides) ? strides[0] : strides;
  const x = name === 'Conv2DBackpropInput' ? (attrs.inputShape as number[]) : (inputs.x as tf.TensorInfo).shape;
  const filter = name === 'Conv2DBackpropFilter' ? (attrs.filterShape as number[]) : (inputs.filter as tf.TensorInfo).shape;
  return `${filter[0]}x${filter[1]}/s${stride} ${x[1]}x${x[2]} ${filter[2]}->${filter[3]}`;
}

function rowLabel(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap, names: Map<string, string>): string {
  const part = CONV_KERNELS[name];
  if (part === undefined) return name;
  const shape = convShape(name, inputs, attrs);
  return `conv ${shape} ${part}${names.has(shape) ? ` (${names.get(shape)})` : ''}`;
}

/** Which of the model's convolutions have each shape (as convShape writes it). */
export function convNames(model: tf.LayersModel): Map<string, string> {
  const names = new Map<string, string[]>();
  for (const layer of model.layers) {
    const weights = layer.getWeights().filter((w) => w.rank === 4);
    if (weights.length === 0) continue;
    const input = (layer.input as tf.SymbolicTensor).shape;
    const config = layer.getConfig() as { strides?: number | number[] };
    const stride = Array.isArray(config.strides) ? config.strides[0] : (config.strides ?? 1);
    const filter = weights[0].shape;
    const shape = `${filter[0]}x${filter[1]}/s${stride} ${input[1]}x${input[2]} ${filter[2]}->${filter[3]}`;
    names.set(shape, [...(names.get(shape) ?? []), layer.name]);
  }
  return new Map([...names].map(([shape, layers]) => [shape, layers.join(', ')]));
}

/**
 * Runs `step` `steps` times with every kernel of the active backend timed; per-step mean
 * milliseconds per row, and a last row for what no kernel accounts for.
 */
export async function profileSteps(step: () => Promise<void>, steps: number, names: Map<string, string>): Promise<StepProfile> {
  const backend = tf.getBackend();
  const totals = new Map<string, ProfileRow>();
  let depth = 0;
  const wrapped: [tf.KernelConfig, tf.KernelFunc][] = [];
  for (const config of tf.getKernelsForBackend(backend)) {
    const original = config.kernelFunc;
    wrapped.push([config, original]);
    // The registry hands out this very object, so every caller, the engine's or a kernel's, goes through the timer.
    (config as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
      if (depth > 0) return original(args);
      depth++;
      const start = performance.now();
      try {
        return original(args);
      } finally {
        const ms = performance.now() - start;
        depth--;
        const label = rowLabel(config.kernelName, args.inputs, args.attrs ?? {}, names);
        const row = totals.get(label) ?? { label, ms: 0, calls: 0 };
        row.ms += ms;
        row.calls++;
        totals.set(label, row);
      }
    };
  }
  const start = performance.now();
  try {
    for (let i = 0; i < steps; i++) await step();
  } finally {
    for (const [config, original] of wrapped) (config as { kernelFunc: tf.KernelFunc }).kernelFunc = original;
  }
  const stepMs = (performance.now() - start) / steps;
  const rows = [...totals.values()].map((r) => ({ label: r.label, ms: r.ms / steps, calls: r.calls / steps }));
  const kernelMs = rows.reduce((sum, r) => sum + r.ms, 0);
  rows.sort((a, b) => b.ms - a.ms);
  rows.push({ label: 'the rest (engine, tape, JavaScript between kernels)', ms: stepMs - kernelMs, calls: 0 });
  return { stepMs, rows };
}

/** A profile as text lines: ms, share of the step, calls per step, label. */
export function formatProfile(title: string, profile: StepProfile): string[] {
  const lines = [`${title}: ${profile.stepMs.toFixed(1)} ms a step`];
  for (const row of profile.rows) {
    const share = ((100 * row.ms) / profile.stepMs).toFixed(1).padStart(5);
    const calls = row.calls > 0 ? `${row.calls}x`.padStart(5) : '     ';
    lines.push(`  ${row.ms.toFixed(1).padStart(7)} ms ${share}% ${calls}  ${row.label}`);
  }
  return lines;
}
