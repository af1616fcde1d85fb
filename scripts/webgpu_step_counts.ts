/**
 * What one training step of the regular CNN costs the CPU-GPU link on webgpu: kernels
 * dispatched (tfjs's profiler), tensors uploaded from the CPU (counted at the backend's
 * uploadToGPU) and reads back, and the step's time. docs/PERFORMANCE.md ("webgpu in Node")
 * quotes it; with `--tfjs-compositions` batch norm and Adam run tfjs's own compositions
 * instead of this package's webgpu kernels, for the comparison.
 *
 *   node dist/scripts/webgpu_step_counts.js [--batch N] [--steps N] [--tfjs-compositions] [--cpu-forward]
 *
 * `--cpu-forward` turns tfjs's WEBGPU_CPU_FORWARD back on (useBackend turns it off), under
 * which small tensors whose data is on the CPU are computed by CPU kernels.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { formatBackend, useBackend } from '../src/backend/select';
import { ADAM_UPDATE, BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../src/kernels/kernel_names';
import { buildRegularCnn } from '../src/models/cnn';
import { createAdam } from '../src/optimizers/adam';
import { createStepRunner } from '../src/training/parallel/step_runner';

interface Counted {
  uploads: number;
  reads: number;
}

/** Counts the backend's uploads of CPU data and its reads, from now on. */
function countTraffic(backend: tf.KernelBackend): Counted {
  const counted = { uploads: 0, reads: 0 };
  const target = backend as unknown as {
    tensorMap: { get(id: object): { resource?: unknown } | undefined };
    uploadToGPU(id: object): void;
    read(id: object): Promise<unknown>;
  };
  const upload = target.uploadToGPU.bind(target);
  const read = target.read.bind(target);
  target.uploadToGPU = (id) => {
    if (target.tensorMap.get(id)?.resource === undefined) counted.uploads++;
    upload(id);
  };
  target.read = (id) => {
    counted.reads++;
    return read(id);
  };
  return counted;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '2' },
      steps: { type: 'string', default: '3' },
      'tfjs-compositions': { type: 'boolean', default: false },
      'cpu-forward': { type: 'boolean', default: false },
    },
  });
  const batch = Number(values.batch);
  console.log(formatBackend(await useBackend('webgpu')));
  if (values['cpu-forward']) tf.env().set('WEBGPU_CPU_FORWARD', true);
  if (values['tfjs-compositions'])
    for (const name of [BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, ADAM_UPDATE]) tf.unregisterKernel(name, 'webgpu');
  const counted = countTraffic(tf.backend());
  const runner = await createStepRunner({ model: buildRegularCnn({ seed: 1 }), optimizer: createAdam(1e-3), threads: 1 });
  const xs = tf.randomNormal([batch, 28, 28, 1]);
  const ys = tf
    .oneHot(
      tf.tensor1d(
        Array.from({ length: batch }, (_, i) => i % 10),
        'int32',
      ),
      10,
    )
    .toFloat();
  for (let step = 1; step <= Number(values.steps); step++) {
    Object.assign(counted, { uploads: 0, reads: 0 });
    const start = performance.now();
    const profile = await tf.profile(async () => {
      await runner.step(xs, ys);
    });
    const ms = Math.round(performance.now() - start);
    console.log(
      `step ${step} (batch ${batch}): ${profile.kernels.length} kernels, ${counted.uploads} uploads, ${counted.reads} reads, ${ms} ms profiled`,
    );
  }
  await runner.dispose();
  process.exit(0);
}

main().catch((err: Error) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
