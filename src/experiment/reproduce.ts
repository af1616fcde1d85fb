/**
 * `reproduce`: the whole experiment in one call: data, regular CNN, deformable
 * fine-tune, evaluation, the table, and results/metrics.json.
 *
 * Layout under `out` (default the working directory):
 *   checkpoints/regular/   checkpoints/deform/   results/metrics.json
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendRecord, BackendDescription } from '../backend/select';
import { downloadMnist, DownloadReporter } from '../data/download';
import { loadMnist } from '../data/mnist';
import { UserError } from '../errors';
import { evaluateModel } from '../evaluation/evaluate';
import { SCALED_TEST_INTERPOLATION, SCALED_TEST_SEED } from '../evaluation/evaluate';
import { accuracyTable, AccuracyReport, REFERENCE_ACCURACY } from '../evaluation/table';
import { fileError, writeJsonAtomically } from '../files/atomic';
import { DEFAULT_SEED, Stage, TrainConfig } from '../training/config';
import { formatDuration } from '../training/progress';
import { train, TrainResult } from '../training/train';

/** A named recipe of reproduce (PRESET_SPECS). */
export type Preset = 'paper' | 'quick' | 'smoke';
/** Every preset, the reference's recipe first. */
export const PRESETS: readonly Preset[] = ['paper', 'quick', 'smoke'];

/** What a preset changes from the stages' defaults. */
export interface PresetSpec {
  /** One line, printed at the start and quoted in reports. */
  description: string;
  /** Settings of each stage (the rest are the stage's defaults). */
  stages: Record<Stage, Partial<TrainConfig>>;
  /** The final evaluation uses the first N test images (null: all 10,000). */
  testLimit: number | null;
}

/**
 * The presets: 'paper' is the reference's recipe (10 + 20 epochs on all 60,000 images);
 * 'quick' fits a 2-core CPU (3 + 1 epochs, the fine-tune on 15,000 images, 2 threads);
 * 'smoke' checks that everything runs (a few hundred images, 200 test images).
 */
export const PRESET_SPECS: Readonly<Record<Preset, PresetSpec>> = {
  paper: {
    description: "the reference's recipe: 10 epochs of the regular CNN and 20 of the fine-tune, on all 60,000 training images",
    stages: {
      regular: { epochs: 10 },
      deform: { epochs: 20 },
    },
    testLimit: null,
  },
  quick: {
    description:
      'for a 2-core CPU (about 20 minutes on wasm): 3 epochs of the regular CNN on all 60,000 images and ' +
      '1 fine-tune epoch on 15,000 scaled ones, both data-parallel over 2 threads; full test sets',
    stages: {
      regular: { epochs: 3, valLimit: 2000, threads: 2 },
      deform: { epochs: 1, limit: 15000, valLimit: 2000, threads: 2 },
    },
    testLimit: null,
  },
  smoke: {
    description: 'a check that everything runs, in seconds: a few hundred images, one epoch each',
    stages: {
      regular: { epochs: 1, limit: 256, valLimit: 100 },
      deform: { epochs: 1, limit: 64, valLimit: 100 },
    },
    testLimit: 200,
  },
};

/** reproduce's settings: a preset, and where and how to run it. */
export interface ReproduceOptions {
  preset: Preset;
  /** Root of checkpoints/ and results/ (default '.'). */
  out?: string;
  dataDir?: string;
  /** Seeds both stages (default DEFAULT_SEED). */
  seed?: number;
  /** Data-parallel replicas of both stages, replacing the preset's. */
  threads?: number;
  /** Continue the checkpoints already under `out` (finished stages are kept as they are). */
  resume?: boolean;
  /** What runs the math, as useBackend() described it (recorded in the metrics). */
  backend?: BackendDescription;
  /** Where status lines go (default: stderr). */
  log?: (line: string) => void;
  /** Polled between steps: true stops after saving a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
  /** A live progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  /** Reports the data download, if one is needed. */
  downloadReporter?: DownloadReporter;
}

/** What reproduce ended with: the table, or the stage it was interrupted in. */
export interface ReproduceResult {
  status: 'completed' | 'interrupted';
  /** The stage that was interrupted. */
  interruptedStage?: Stage;
  /** Its checkpoint directory. */
  checkpoints: Record<Stage, string>;
  /** Both models' accuracies (as `eval --json` prints them). */
  report: AccuracyReport;
  /** The results table in Markdown, the reference's numbers beside. */
  table: string;
  /** results/metrics.json (written when completed). */
  metricsFile: string;
  /** Wall-clock seconds of the whole call. */
  seconds: number;
}

/**
 * The whole experiment (the CLI's `reproduce`): downloads MNIST if needed, trains the
 * regular CNN into `<out>/checkpoints/regular`, fine-tunes the deformable CNN from it into
 * `<out>/checkpoints/deform`, evaluates both on the plain and scaled test sets, and writes
 * the table and settings to `<out>/results/metrics.json`. Runs on the active tfjs backend:
 * choose it first (useBackend) and pass its description as `backend`.
 */
export async function reproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  const spec = PRESET_SPECS[options.preset];
  if (spec === undefined) throw new UserError(`unknown preset '${options.preset}'; expected one of ${PRESETS.join(', ')}`);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const root = options.out ?? '.';
  const seed = options.seed ?? DEFAULT_SEED;
  const checkpoints: Record<Stage, string> = {
    regular: path.join(root, 'checkpoints', 'regular'),
    deform: path.join(root, 'checkpoints', 'deform'),
  };
  const metricsFile = path.join(root, 'results', 'metrics.json');
  const started = Date.now();
  const elapsed = (): number => (Date.now() - started) / 1000;

  log(`reproduce --preset ${options.preset}: ${spec.description}`);
  await downloadMnist({ dataDir: options.dataDir, reporter: options.downloadReporter });
  const data = await loadMnist({ dataDir: options.dataDir });

  const results: Partial<Record<Stage, TrainResult>> = {};
  const stageSeconds: Partial<Record<Stage, number>> = {};
  try {
    for (const stage of ['regular', 'deform'] as const) {
      const stageStart = Date.now();
      log(`== ${stage === 'regular' ? 'regular CNN on plain MNIST' : 'deformable fine-tune on scaled MNIST'} -> ${checkpoints[stage]}`);
      const result = await train(stage, {
        config: {
          ...spec.stages[stage],
          seed,
          threads: options.threads ?? spec.stages[stage].threads,
          out: checkpoints[stage],
          from: stage === 'deform' ? checkpoints.regular : undefined,
        },
        resume: options.resume,
        data,
        backend: options.backend,
        log,
        shouldStop: options.shouldStop,
        progress: options.progress,
      });
      results[stage] = result;
      stageSeconds[stage] = (Date.now() - stageStart) / 1000;
      if (result.status === 'interrupted') {
        return { status: 'interrupted', interruptedStage: stage, checkpoints, report: {}, table: '', metricsFile, seconds: elapsed() };
      }
    }

    log(`== evaluation on ${spec.testLimit ?? data.test.count} plain and scaled test images`);
    const evalStart = Date.now();
    const report: AccuracyReport = {
      regular: await evaluateModel((results.regular as TrainResult).model, data.test, spec.testLimit ?? undefined),
      deform: await evaluateModel((results.deform as TrainResult).model, data.test, spec.testLimit ?? undefined),
    };
    const evalSeconds = (Date.now() - evalStart) / 1000;
    const table = accuracyTable(report);
    const metrics = {
      preset: options.preset,
      description: spec.description,
      seed,
      backend: options.backend ? backendRecord(options.backend) : { name: tf.getBackend() },
      results: report,
      reference: REFERENCE_ACCURACY,
      table,
      scaledTest: {
        seed: SCALED_TEST_SEED,
        interpolation: SCALED_TEST_INTERPOLATION,
        count: spec.testLimit ?? data.test.count,
      },
      stages: Object.fromEntries(
        (['regular', 'deform'] as const).map((stage) => {
          const { config, state, checkpoint } = results[stage] as TrainResult;
          const trainingSeconds = state.metrics.reduce((sum, epoch) => sum + epoch.seconds, 0);
          return [stage, { checkpoint, config, trainingSeconds, epochs: state.metrics }];
        }),
      ),
      seconds: { regular: stageSeconds.regular, deform: stageSeconds.deform, evaluation: evalSeconds, total: elapsed() },
      finishedAt: new Date().toISOString(),
    };
    try {
      fs.mkdirSync(path.dirname(metricsFile), { recursive: true });
      writeJsonAtomically(metricsFile, metrics);
    } catch (err) {
      throw fileError(err, `cannot write ${metricsFile}`);
    }
    log(`done in ${formatDuration(elapsed())}; metrics in ${metricsFile}`);
    return { status: 'completed', checkpoints, report, table, metricsFile, seconds: elapsed() };
  } finally {
    for (const result of Object.values(results)) result?.model.dispose();
  }
}
