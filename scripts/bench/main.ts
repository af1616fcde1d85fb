/**
 * Speed of the experiment's models on one backend (default wasm), batch 32:
 * forward (inference) and training step of the regular CNN, forward (batch 32 and 1) and
 * fine-tune step of the deformable CNN (offsets and BatchNorm trainable, the rest frozen),
 * each with one thread and with `--threads` data-parallel threads, plus the deformSample
 * micro-benchmark (scripts/bench/deform_sample.ts) and DeformConv2D against conv2d
 * (scripts/bench/deform_conv2d.ts). First, a per-kernel profile of a one-thread step of
 * each model (scripts/bench/kernel_profile.ts); last, PyTorch's CPU build on the same
 * models and steps, on this machine in this run (scripts/bench/bench_pytorch.py, when a Python
 * with torch is found: scripts/bench/pytorch.ts), and each figure's ratio to it.
 *
 *   npm run bench                 a table, then the profiles
 *   npm run bench -- --json       one JSON object on stdout (with the date, the commit and
 *                                 the machine: `npm run -s bench -- --json > docs/bench/NAME.json`
 *                                 keeps a run as data, docs/PERFORMANCE.md is rendered from those)
 *   options: --threads N (default: the machine's cores), --batch N (32),
 *            --rounds N (timed rounds, 5), --burst N (consecutive calls per figure and
 *            round, 3), --backend NAME (wasm), --profile-only (just the profiles),
 *            --json-file PATH (the JSON object written there too: the GPU kit reads it)
 *
 * Timings are medians over warm rounds; within a round every figure is taken once, one
 * after the other, so ratios between figures hold even on a machine whose load drifts.
 * A figure is the mean of a burst of consecutive calls, as a training loop makes them:
 * a single call after the other figures' work finds the worker threads idle and cold,
 * which a training run never does.
 * Inputs are random (no MNIST needed): speed does not depend on the values.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import '../../src/kernels/wasm/replace_tfjs_kernels';
import { BackendChoice, formatBackend, parseBackendChoice, useBackend } from '../../src/backend/select';
import { UserError } from '../../src/errors';
import { packageRoot } from '../../src/version';
import { PRESET_SPECS } from '../../src/experiment/reproduce';
import { writeJsonFile } from '../../src/files/atomic';
import { buildDeformCnn, buildRegularCnn } from '../../src/models/cnn';
import { createAdam } from '../../src/optimizers/adam';
import { createStepRunner, StepRunner } from '../../src/training/parallel/step_runner';
import { benchDeformSample, DeformSampleBenchResult } from './deform_sample';
import { benchDeformConv2d } from './deform_conv2d';
import { median } from './timing';
import { benchPytorch, PytorchTimes } from './pytorch';
import { convNames, formatProfile, profileSteps, StepProfile } from './kernel_profile';

/** Training images per epoch (MNIST's train split): turns a step time into an epoch time. */
const EPOCH_IMAGES = 60_000;

/**
 * Issue 24's design target for a real GPU, stated beside the measured figures (nothing of it
 * can be measured on a software adapter).
 */
const GPU_DESIGN_TARGET = {
  deform_finetune_ms: 15,
  paper_preset_min: 30,
  text: 'batch-32 fine-tune step < 15 ms and the paper preset (30 epochs) < 30 min on a current datacenter GPU',
} as const;

interface Options {
  json: boolean;
  threads: number;
  batch: number;
  rounds: number;
  burst: number;
  backend: BackendChoice;
  /** Only the per-kernel profiles of the two training steps (a quick look while optimising). */
  profileOnly: boolean;
  /** Where to write the JSON object as well, or undefined. */
  jsonFile?: string;
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
      'json-file': { type: 'string' },
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
    jsonFile: values['json-file'],
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
): Promise<{ forward: number; forward1: number; train1: number; train: number; trainPerShard: number; threads: number }> {
  const { xs, ys } = randomBatch(batch);
  const single = tf.slice(xs, 0, 1);
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
    const predict = async (input: tf.Tensor): Promise<void> => {
      const probs = tf.tidy(() => inference.predict(input) as tf.Tensor);
      await probs.data();
      probs.dispose();
    };
    const tasks: Timed = {
      forward: () => predict(xs),
      forward1: () => predict(single),
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
    return {
      forward: medians.forward,
      forward1: medians.forward1,
      train1: medians.train1,
      train,
      trainPerShard: medians.trainPerShard ?? train,
      threads: many.threads,
    };
  } finally {
    await Promise.all(runners.map((r) => r.dispose()));
    models.forEach((m) => m.dispose());
    optimizers.forEach((o) => o.dispose());
    tf.dispose([xs, ys, single]);
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

/**
 * The commit the bench ran at (`git rev-parse HEAD` in the package root) and whether the
 * work tree differed from it (tracked files only); null outside a git checkout.
 */
function gitCommit(): { commit: string; dirty: boolean } | null {
  const git = (args: string[]) => spawnSync('git', args, { cwd: packageRoot(), encoding: 'utf8' });
  const head = git(['rev-parse', 'HEAD']);
  if (head.status !== 0) return null;
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return { commit: head.stdout.trim(), dirty: status.status !== 0 || status.stdout.trim() !== '' };
}

/** The paper preset's training time from the step times: its epochs of both stages (augmentation and validation not included). */
function paperPresetMinutes(regularStepMs: number, deformStepMs: number, batch: number): number {
  const { regular, deform } = PRESET_SPECS.paper.stages;
  const steps = Math.ceil(EPOCH_IMAGES / batch);
  return (((regular.epochs ?? 0) * regularStepMs + (deform.epochs ?? 0) * deformStepMs) * steps) / 60_000;
}

type ModelFigures = Awaited<ReturnType<typeof benchModel>>;
const ratio = (a: number, b: number, digits = 2): number => Math.round((a / b) * 10 ** digits) / 10 ** digits;

/** The wasm figures against PyTorch's on this machine in this run (null without PyTorch). */
function pytorchRatios(regular: ModelFigures, deform: ModelFigures, pt: Record<string, PytorchTimes> | null, threads: number) {
  const one = pt?.['1'];
  const many = pt?.[String(threads)] ?? one;
  if (one === undefined || many === undefined) return null;
  return {
    regular_train_vs_pytorch_1thread: ratio(regular.train1, one.regular_train_ms),
    regular_train_vs_pytorch: ratio(regular.train, many.regular_train_ms),
    deform_finetune_vs_pytorch_1thread: ratio(deform.train1, one.deform_finetune_ms),
    deform_finetune_vs_pytorch: ratio(deform.train, many.deform_finetune_ms),
    regular_forward_vs_pytorch: ratio(regular.forward, one.regular_forward_ms),
    deform_forward_vs_pytorch: ratio(deform.forward, one.deform_forward_ms),
    deform_forward_batch1_vs_pytorch: ratio(deform.forward1, one.deform_forward_batch1_ms),
  };
}

interface Measured {
  backend: Awaited<ReturnType<typeof useBackend>>;
  options: Options;
  loadBefore: number;
  regular: ModelFigures;
  deform: ModelFigures;
  sample: DeformSampleBenchResult;
  dcn: Awaited<ReturnType<typeof benchDeformConv2d>>;
  pytorch: ReturnType<typeof benchPytorch>;
  profiles: { regular: StepProfile; deform: StepProfile };
}

/** Everything the bench measured, as `--json` prints it. */
function benchResult({ backend, options, loadBefore, regular, deform, sample, dcn, pytorch, profiles }: Measured) {
  const pt = 'absent' in pytorch ? null : pytorch;
  const stepsPerEpoch = Math.ceil(EPOCH_IMAGES / options.batch);
  const git = gitCommit();
  return {
    /** When and at which commit this run was made (docs/bench/ keeps runs as data). */
    date: new Date().toISOString(),
    commit: git?.commit ?? null,
    commit_dirty: git?.dirty ?? null,
    backend: backend.name,
    threads: regular.threads,
    batch: options.batch,
    regular_forward_ms: round1(regular.forward),
    regular_train_ms: round1(regular.train),
    regular_train_ms_1thread: round1(regular.train1),
    deform_forward_ms: round1(deform.forward),
    deform_forward_batch1_ms: round1(deform.forward1),
    deform_finetune_ms: round1(deform.train),
    deform_finetune_ms_1thread: round1(deform.train1),
    deform_forward_to_regular: ratio(deform.forward, regular.forward),
    regular_train_to_forward_1thread: ratio(regular.train1, regular.forward),
    regular_speedup_threads: ratio(regular.train1, regular.train),
    deform_speedup_threads: ratio(deform.train1, deform.train),
    regular_train_ms_per_shard_bn: round1(regular.trainPerShard),
    deform_finetune_ms_per_shard_bn: round1(deform.trainPerShard),
    regular_speedup_threads_per_shard_bn: ratio(regular.train1, regular.trainPerShard),
    deform_speedup_threads_per_shard_bn: ratio(deform.train1, deform.trainPerShard),
    pytorch: pt,
    pytorch_absent: 'absent' in pytorch ? pytorch.absent : null,
    ...(pytorchRatios(regular, deform, pt?.threads ?? null, regular.threads) ?? {}),
    regular_epoch_s: Math.round((regular.train * stepsPerEpoch) / 1000),
    deform_epoch_s: Math.round((deform.train * stepsPerEpoch) / 1000),
    paper_preset_min_estimate: round1(paperPresetMinutes(regular.train, deform.train, options.batch)),
    design_target: GPU_DESIGN_TARGET,
    deform_sample_ms: round1(sample.samplingMs),
    deform_sample_conv_ms: round1(sample.convMs),
    deform_sample_to_conv: ratio(sample.samplingMs, sample.convMs, 3),
    deform_sample_to_conv_target: sample.target,
    dcn_forward_ms: round1(dcn.deform_conv_forward_ms),
    dcn_conv_forward_ms: round1(dcn.conv_forward_ms),
    dcn_train_ms: round1(dcn.deform_conv_train_ms),
    dcn_conv_train_ms: round1(dcn.conv_train_ms),
    dcn_forward_ratio: ratio(dcn.deform_conv_forward_ms, dcn.conv_forward_ms),
    dcn_train_ratio: ratio(dcn.deform_conv_train_ms, dcn.conv_train_ms),
    dcn_ratio_target: dcn.target,
    profile: profiles,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      memory_gib: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      tfjs: tf.version.tfjs,
      backend_details: formatBackend(backend),
      adapter: backend.adapter ?? null,
      load_average_1min: [loadBefore, os.loadavg()[0]].map((l) => Math.round(l * 100) / 100),
    },
    rounds: options.rounds,
    burst: options.burst,
  };
}

/** The bench's figures, as `--json` prints them (the GPU kit reads them from `--json-file`). */
export type BenchResult = ReturnType<typeof benchResult>;

/** The table's rows: each figure, and its ratio to PyTorch's where there is one. */
function tableRows(
  result: BenchResult,
  { regular, deform, sampleTarget, dcnTarget }: { regular: ModelFigures; deform: ModelFigures; sampleTarget: number; dcnTarget: number },
): [string, string][] {
  const pt = result.pytorch;
  const vs = (ms: number, threadCount: number, key: keyof PytorchTimes): string => {
    const theirs = pt?.threads[String(threadCount)]?.[key];
    return theirs === undefined ? '' : `; PyTorch ${theirs} ms: ${ratio(ms, theirs)} x`;
  };
  const n = result.threads;
  // With one thread (a GPU backend, or --threads 1) the n-thread rows would repeat the one-thread ones.
  const threaded = (rows: [string, string][]): [string, string][] => (n > 1 ? rows : []);
  return [
    ['regular CNN forward', `${result.regular_forward_ms} ms${vs(regular.forward, 1, 'regular_forward_ms')}`],
    [
      'regular CNN train step, 1 thread',
      `${result.regular_train_ms_1thread} ms (${result.regular_train_to_forward_1thread} x forward)${vs(regular.train1, 1, 'regular_train_ms')}`,
    ],
    ...threaded([
      [
        `regular CNN train step, ${n} threads`,
        `${result.regular_train_ms} ms (speedup ${result.regular_speedup_threads})${vs(regular.train, n, 'regular_train_ms')}`,
      ],
      [
        '  with per-shard BatchNorm (not the recipe)',
        `${result.regular_train_ms_per_shard_bn} ms (speedup ${result.regular_speedup_threads_per_shard_bn})`,
      ],
    ]),
    ['  epoch of 60,000 images', `${result.regular_epoch_s} s`],
    [
      'deformable CNN forward',
      `${result.deform_forward_ms} ms (${result.deform_forward_to_regular} x regular)${vs(deform.forward, 1, 'deform_forward_ms')}`,
    ],
    ['deformable CNN forward, batch 1', `${result.deform_forward_batch1_ms} ms${vs(deform.forward1, 1, 'deform_forward_batch1_ms')}`],
    ['deformable fine-tune step, 1 thread', `${result.deform_finetune_ms_1thread} ms${vs(deform.train1, 1, 'deform_finetune_ms')}`],
    ...threaded([
      [
        `deformable fine-tune step, ${n} threads`,
        `${result.deform_finetune_ms} ms (speedup ${result.deform_speedup_threads})${vs(deform.train, n, 'deform_finetune_ms')}`,
      ],
      [
        '  with per-shard BatchNorm (not the recipe)',
        `${result.deform_finetune_ms_per_shard_bn} ms (speedup ${result.deform_speedup_threads_per_shard_bn})`,
      ],
    ]),
    ['  epoch of 60,000 images', `${result.deform_epoch_s} s (augmentation not included)`],
    [
      'design target (GPU)',
      `${result.design_target.text}; here ${result.deform_finetune_ms} ms and about ${result.paper_preset_min_estimate} min (from the step times)`,
    ],
    ['PyTorch', pt === null ? `column absent: ${result.pytorch_absent}` : `${pt.torch} (CPU, ${pt.python}), same machine, same run`],
    [
      'deformSample fwd+bwd vs its offset conv',
      `${result.deform_sample_ms} ms vs ${result.deform_sample_conv_ms} ms (${result.deform_sample_to_conv}; target <= ${sampleTarget})`,
    ],
    [
      'DeformConv2D 64->128 14x14 fwd vs conv2d',
      `${result.dcn_forward_ms} ms vs ${result.dcn_conv_forward_ms} ms (${result.dcn_forward_ratio} x; target <= ${dcnTarget})`,
    ],
    [
      'DeformConv2D fwd+bwd vs conv2d',
      `${result.dcn_train_ms} ms vs ${result.dcn_conv_train_ms} ms (${result.dcn_train_ratio} x; target <= ${dcnTarget})`,
    ],
  ];
}

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
  // webgpu's kernels return once dispatched: the wrapper times the dispatch, and the GPU's work lands in the last row.
  const timing = backend.name === 'webgpu' ? ` (webgpu: CPU time to dispatch each kernel; the GPU's time is in the last row)` : '';
  const profileLines = [
    ...formatProfile(`regular CNN train step, 1 thread${timing}`, profiles.regular),
    ...formatProfile(`deformable fine-tune step, 1 thread${timing}`, profiles.deform),
  ];
  if (options.profileOnly) {
    process.stdout.write(`${profileLines.join('\n')}\n`);
    return;
  }

  log('regular CNN...');
  const regular = await benchModel(buildRegular, 1e-3, threads, options.batch, 3, options.rounds * 2, options.burst);
  log('deformable CNN (fine-tune: offsets and BatchNorm learn)...');
  const deform = await benchModel(buildFineTune, 5e-4, threads, options.batch, 1, options.rounds, options.burst);
  log('deformSample...');
  const sample: DeformSampleBenchResult = await benchDeformSample({ timedRuns: options.rounds });
  log('DeformConv2D vs conv2d...');
  const dcn = await benchDeformConv2d({ backend: backend.name, timedRuns: options.rounds });
  log(`PyTorch on the same models (scripts/bench/bench_pytorch.py, 1 and ${threads} threads)...`);
  const pytorch = benchPytorch([...new Set([1, threads])], options.batch, options.rounds, options.burst);

  const result = benchResult({ backend, options, loadBefore, regular, deform, sample, dcn, pytorch, profiles });
  if (options.jsonFile !== undefined) writeJsonFile(options.jsonFile, result);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const rows = tableRows(result, { regular, deform, sampleTarget: sample.target, dcnTarget: dcn.target });
  rows.push(['machine load (1-min average, before/after)', result.machine.load_average_1min.join(' / ')]);
  rows.push([
    'commit',
    result.commit === null ? 'not a git checkout' : `${result.commit}${result.commit_dirty ? ' (work tree differs)' : ''}`,
  ]);
  const width = Math.max(...rows.map(([name]) => name.length));
  process.stdout.write(`${rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n\n${profileLines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UserError ? 1 : 2);
});
