/**
 * Speed of the experiment's models on one backend (default wasm), batch 32:
 * forward (inference) and training step of the regular CNN, forward and fine-tune step
 * of the deformable CNN (offsets and BatchNorm trainable, the rest frozen), each with
 * one thread and with `--threads` data-parallel threads, plus the deformSample
 * micro-benchmark (scripts/bench/deform_sample.ts) and DeformConv2D against conv2d
 * (scripts/bench/deform_conv2d.ts).
 *
 *   npm run bench                 a table
 *   npm run bench -- --json       one JSON object on stdout
 *   options: --threads N (default: the machine's cores), --batch N (32),
 *            --rounds N (timed rounds, 5), --burst N (consecutive calls per figure and
 *            round, 3), --backend NAME (wasm)
 *
 * Timings are medians over warm rounds; within a round every figure is taken once, one
 * after the other, so ratios between figures hold even on a machine whose load drifts.
 * A figure is the mean of a burst of consecutive calls, as a training loop makes them:
 * a single call after the other figures' work finds the worker threads idle and cold,
 * which a training run never does.
 * Inputs are random (no MNIST needed): speed does not depend on the values.
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import '../src/kernels/wasm/replace_tfjs_kernels';
import { BackendChoice, formatBackend, parseBackendChoice, useBackend } from '../src/backend/select';
import { UserError } from '../src/errors';
import { buildDeformCnn, buildRegularCnn } from '../src/models/cnn';
import { createAdam } from '../src/optimizers/adam';
import { createStepRunner, StepRunner } from '../src/training/parallel/step_runner';
import { benchDeformSample, DeformSampleBenchResult } from './bench/deform_sample';
import { benchDeformConv2d } from './bench/deform_conv2d';
import { median } from './bench/timing';
import { convNames, formatProfile, profileSteps, StepProfile } from './bench/kernel_profile';

/** Training images per epoch (MNIST's train split): turns a step time into an epoch time. */
const EPOCH_IMAGES = 60_000;
/** The issue's reference: PyTorch 1.13 (CPU, 2 threads) on the same kind of 2-core machine. */
const PYTORCH_REGULAR_STEP_MS = 49;
const PYTORCH_DEFORM_STEP_MS = 256;

interface Options {
  json: boolean;
  threads: number;
  batch: number;
  rounds: number;
  burst: number;
  backend: BackendChoice;
  /** Only the per-kernel profiles of the two training steps (a quick look while optimising). */
  profileOnly: boolean;
}

function positiveInteger(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--${flag} must be a positive integer, got '${value}'`);
  return n;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      batch: { type: 'string' },
      rounds: { type: 'string' },
      burst: { type: 'string' },
      backend: { type: 'string' },
      'profile-only': { type: 'boolean', default: false },
    },
  });
  return {
    json: values.json === true,
    threads: positiveInteger(values.threads, 'threads', os.availableParallelism()),
    batch: positiveInteger(values.batch, 'batch', 32),
    rounds: positiveInteger(values.rounds, 'rounds', 5),
    burst: positiveInteger(values.burst, 'burst', 3),
    backend: parseBackendChoice(values.backend ?? 'wasm', '--backend'),
    profileOnly: values['profile-only'] === true,
  };
}


type Timed = Record<string, () => Promise<void>>;

/**
 * Runs every task `burst` times in a row per round, `warmup` untimed rounds first; the
 * median over rounds of each task's mean ms per call.
 */
async function timeRounds(tasks: Timed, warmup: number, rounds: number, burst: number): Promise<Record<string, number>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(tasks).map((k) => [k, []]));
  for (let round = 0; round < warmup + rounds; round++) {
    for (const [name, task] of Object.entries(tasks)) {
      const start = performance.now();
      for (let call = 0; call < burst; call++) await task();
      if (round >= warmup) times[name].push((performance.now() - start) / burst);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

function randomBatch(batch: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const xs = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.randomUniform([batch], 0, 10, 'int32', 2);
  const ys = tf.oneHot(labels, 10).toFloat() as tf.Tensor2D;
  labels.dispose();
  return { xs, ys };
}

/**
 * Median forward and training-step times of one model kind: `build` makes a fresh model
 * for each runner (one thread, `threads` threads), so the two train independently.
 */
async function benchModel(
  build: () => tf.LayersModel,
  learningRate: number,
  threads: number,
  batch: number,
  warmup: number,
  rounds: number,
  burst: number,
): Promise<{ forward: number; train1: number; train: number; trainPerShard: number; threads: number }> {
  const { xs, ys } = randomBatch(batch);
  const inference = build();
  const runners: StepRunner[] = [];
  const models: tf.LayersModel[] = [inference];
  const optimizers: tf.Optimizer[] = [];
  const runner = async (n: number, syncBatchNorm = true): Promise<StepRunner> => {
    const model = build();
    const optimizer = createAdam(learningRate);
    models.push(model);
    optimizers.push(optimizer);
    const r = await createStepRunner({ model, optimizer, threads: n, syncBatchNorm });
    runners.push(r);
    return r;
  };
  try {
    const one = await runner(1);
    const many = threads > 1 ? await runner(threads) : one;
    const perShard = threads > 1 ? await runner(threads, false) : one;
    const tasks: Timed = {
      forward: async () => {
        const probs = tf.tidy(() => inference.predict(xs) as tf.Tensor);
        await probs.data();
        probs.dispose();
      },
      train1: async () => {
        await one.step(xs, ys);
      },
    };
    if (many !== one) {
      tasks.train = async () => {
        await many.step(xs, ys);
      };
      tasks.trainPerShard = async () => {
        await perShard.step(xs, ys);
      };
    }
    const medians = await timeRounds(tasks, warmup, rounds, burst);
    const train = medians.train ?? medians.train1;
    return { forward: medians.forward, train1: medians.train1, train, trainPerShard: medians.trainPerShard ?? train, threads: many.threads };
  } finally {
    await Promise.all(runners.map((r) => r.dispose()));
    models.forEach((m) => m.dispose());
    optimizers.forEach((o) => o.dispose());
    tf.dispose([xs, ys]);
  }
}

/** Per-kernel profile of one-thread training steps of a fresh model (after two warm-up steps). */
async function profileModel(build: () => tf.LayersModel, learningRate: number, batch: number, steps: number): Promise<StepProfile> {
  const { xs, ys } = randomBatch(batch);
  const model = build();
  const optimizer = createAdam(learningRate);
  const runner = await createStepRunner({ model, optimizer, threads: 1 });
  try {
    const step = async (): Promise<void> => {
      await runner.step(xs, ys);
    };
    for (let i = 0; i < 2; i++) await step();
    return await profileSteps(step, steps, convNames(model));
  } finally {
    await runner.dispose();
    model.dispose();
    optimizer.dispose();
    tf.dispose([xs, ys]);
  }
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  // Other processes on the machine skew the timings, the threaded ones most: say how busy it was.
  const loadBefore = os.loadavg()[0];
  const backend = await useBackend(options.backend);
  const log = (line: string): void => {
    if (!options.json) process.stderr.write(`${line}\n`);
  };
  // Data-parallel workers exist for backends that use one core (wasm, cpu).
  const threads = backend.name === 'wasm' || backend.name === 'cpu' ? options.threads : 1;
  log(`${formatBackend(backend)}; ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores`);
  log(`batch ${options.batch}, ${threads} thread(s), ${options.rounds} timed rounds of ${options.burst} calls...`);

  const buildRegular = (): tf.LayersModel => buildRegularCnn({ seed: 1 });
  const buildFineTune = (): tf.LayersModel => buildDeformCnn({ seed: 1, trainableBase: false });
  log('per-kernel profiles of the 1-thread steps...');
  const profiles = {
    regular: await profileModel(buildRegular, 1e-3, options.batch, options.rounds),
    deform: await profileModel(buildFineTune, 5e-4, options.batch, options.rounds),
  };
  const profileText = [
    ...formatProfile('regular CNN train step, 1 thread', profiles.regular),
    ...formatProfile('deformable fine-tune step, 1 thread', profiles.deform),
  ].join('\n');
  if (options.profileOnly) {
    process.stdout.write(`${profileText}\n`);
    return;
  }

  log('regular CNN...');
  const regular = await benchModel(buildRegular, 1e-3, threads, options.batch, 3, options.rounds * 2, options.burst);
  log('deformable CNN (fine-tune: offsets and BatchNorm learn)...');
  const deform = await benchModel(
    buildFineTune,
    5e-4,
    threads,
    options.batch,
    1,
    options.rounds,
    options.burst,
  );
  log('deformSample...');
  const sample: DeformSampleBenchResult = await benchDeformSample({ timedRuns: options.rounds });
  log('DeformConv2D vs conv2d...');
  const dcn = await benchDeformConv2d({ backend: backend.name, timedRuns: options.rounds });

  const stepsPerEpoch = Math.ceil(EPOCH_IMAGES / options.batch);
  const result = {
    backend: backend.name,
    threads: regular.threads,
    batch: options.batch,
    regular_forward_ms: round1(regular.forward),
    regular_train_ms: round1(regular.train),
    regular_train_ms_1thread: round1(regular.train1),
    deform_forward_ms: round1(deform.forward),
    deform_finetune_ms: round1(deform.train),
    deform_finetune_ms_1thread: round1(deform.train1),
    deform_forward_to_regular: Math.round((deform.forward / regular.forward) * 100) / 100,
    regular_train_to_forward_1thread: Math.round((regular.train1 / regular.forward) * 100) / 100,
    regular_speedup_threads: Math.round((regular.train1 / regular.train) * 100) / 100,
    deform_speedup_threads: Math.round((deform.train1 / deform.train) * 100) / 100,
    regular_train_ms_per_shard_bn: round1(regular.trainPerShard),
    deform_finetune_ms_per_shard_bn: round1(deform.trainPerShard),
    regular_speedup_threads_per_shard_bn: Math.round((regular.train1 / regular.trainPerShard) * 100) / 100,
    deform_speedup_threads_per_shard_bn: Math.round((deform.train1 / deform.trainPerShard) * 100) / 100,
    regular_train_vs_pytorch: Math.round((regular.train / PYTORCH_REGULAR_STEP_MS) * 100) / 100,
    deform_finetune_vs_pytorch: Math.round((deform.train / PYTORCH_DEFORM_STEP_MS) * 100) / 100,
    regular_epoch_s: Math.round((regular.train * stepsPerEpoch) / 1000),
    deform_epoch_s: Math.round((deform.train * stepsPerEpoch) / 1000),
    deform_sample_ms: round1(sample.samplingMs),
    deform_sample_conv_ms: round1(sample.convMs),
    deform_sample_to_conv: Math.round(sample.ratio * 1000) / 1000,
    dcn_forward_ms: round1(dcn.deform_conv_forward_ms),
    dcn_conv_forward_ms: round1(dcn.conv_forward_ms),
    dcn_train_ms: round1(dcn.deform_conv_train_ms),
    dcn_conv_train_ms: round1(dcn.conv_train_ms),
    dcn_forward_ratio: Math.round(dcn.forward_ratio * 100) / 100,
    dcn_train_ratio: Math.round(dcn.train_ratio * 100) / 100,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      node: process.version,
      tfjs: tf.version.tfjs,
      backend_details: formatBackend(backend),
      load_average_1min: [loadBefore, os.loadavg()[0]].map((l) => Math.round(l * 100) / 100),
    },
    rounds: options.rounds,
    burst: options.burst,
  };

  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ['regular CNN forward', `${result.regular_forward_ms} ms`],
    ['regular CNN train step, 1 thread', `${result.regular_train_ms_1thread} ms (${result.regular_train_to_forward_1thread} x forward; target <= 3.5)`],
    [`regular CNN train step, ${result.threads} threads`, `${result.regular_train_ms} ms (speedup ${result.regular_speedup_threads}; target >= 1.6 on 2 cores)`],
    ['  with per-shard BatchNorm (not the recipe)', `${result.regular_train_ms_per_shard_bn} ms (speedup ${result.regular_speedup_threads_per_shard_bn})`],
    ['  vs PyTorch 1.13, 2 threads (49 ms)', `${result.regular_train_vs_pytorch} x`],
    ['  epoch of 60,000 images', `${result.regular_epoch_s} s`],
    ['deformable CNN forward', `${result.deform_forward_ms} ms (${result.deform_forward_to_regular} x regular; target <= 5)`],
    ['deformable fine-tune step, 1 thread', `${result.deform_finetune_ms_1thread} ms`],
    [`deformable fine-tune step, ${result.threads} threads`, `${result.deform_finetune_ms} ms (speedup ${result.deform_speedup_threads})`],
    ['  with per-shard BatchNorm (not the recipe)', `${result.deform_finetune_ms_per_shard_bn} ms (speedup ${result.deform_speedup_threads_per_shard_bn})`],
    ['  vs PyTorch 1.13, 2 threads (256 ms)', `${result.deform_finetune_vs_pytorch} x`],
    ['  epoch of 60,000 images', `${result.deform_epoch_s} s (augmentation not included)`],
    ['deformSample fwd+bwd vs its offset conv', `${result.deform_sample_ms} ms vs ${result.deform_sample_conv_ms} ms (${result.deform_sample_to_conv}; target <= ${sample.target})`],
    [
      'DeformConv2D 64->128 14x14 fwd vs conv2d',
      `${result.dcn_forward_ms} ms vs ${result.dcn_conv_forward_ms} ms (${result.dcn_forward_ratio} x; target <= ${dcn.target})`,
    ],
    [
      'DeformConv2D fwd+bwd vs conv2d',
      `${result.dcn_train_ms} ms vs ${result.dcn_conv_train_ms} ms (${result.dcn_train_ratio} x; target <= ${dcn.target})`,
    ],
  ];
  rows.push(['machine load (1-min average, before/after)', result.machine.load_average_1min.join(' / ')]);
  const width = Math.max(...rows.map(([name]) => name.length));
  process.stdout.write(`${rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UserError ? 1 : 2);
});
