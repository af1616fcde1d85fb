/**
 * `reproduce`: the whole experiment in one call: data, regular CNN, deformable
 * fine-tune, evaluation, the table, and results/metrics.json.
 *
 * Layout under `out` (default the working directory):
 *   checkpoints/regular/   checkpoints/deform/   results/metrics.json
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BackendRecord } from '../backend/select';
import { downloadMnist, DownloadReporter } from '../data/download';
import { loadMnist } from '../data/mnist';
import { MnistData } from '../data/mnist_split';
import { UserError } from '../errors';
import { evaluateModel, SCALED_TEST_INTERPOLATION, SCALED_TEST_SEED } from '../evaluation/evaluate';
import { Accuracies, accuracyTable, AccuracyReport, ModelName, REFERENCE_ACCURACY } from '../evaluation/table';
import { writeJsonFile } from '../files/atomic';
import { DEFAULT_SEED, Stage, STAGES, TrainConfig } from '../training/config';
import { formatDuration } from '../training/epoch_progress';
import { RunOptions, runBackend, runLog } from '../training/run_options';
import { EpochRecord, ScaledTestRecord } from '../training/state';
import { train, TrainResult } from '../training/train';

/** The machine's cores: how many replicas the paper preset trains with. */
const ALL_CORES = os.availableParallelism();

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
 * The presets: 'paper' is the reference's recipe (10 + 20 epochs on all 60,000 images, on all cores);
 * 'quick' fits a 2-core CPU (3 + 1 epochs, the fine-tune on 15,000 images, 2 threads);
 * 'smoke' checks that everything runs (a few hundred images, 200 test images).
 */
export const PRESET_SPECS: Readonly<Record<Preset, PresetSpec>> = {
  paper: {
    description:
      "the reference's recipe: 10 epochs of the regular CNN and 20 of the fine-tune, on all 60,000 training images, " +
      'data-parallel over all cores (synchronous BatchNorm keeps it the recipe)',
    stages: {
      regular: { epochs: 10, threads: ALL_CORES },
      deform: { epochs: 20, threads: ALL_CORES },
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

/** reproduce's settings: the preset, where to write, and how to run. */
export interface ReproduceOptions extends RunOptions {
  preset: Preset;
  /** Root of checkpoints/ and results/ (default '.'). */
  out?: string;
  dataDir?: string;
  /** Seeds both stages (default DEFAULT_SEED). */
  seed?: number;
  /** Data-parallel replicas of both stages, replacing the preset's (which apply on wasm and cpu only; other backends run 1). */
  threads?: number;
  /** Train each stage on the first N training images, replacing the preset's. */
  limit?: number;
  /** Validate each epoch on the first N test images, replacing the preset's. */
  valLimit?: number;
  /** Evaluate on the first N test images, replacing the preset's. */
  testLimit?: number;
  /** Continue the checkpoints already under `out` (finished stages are kept as they are). */
  resume?: boolean;
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

/** A stage as results/metrics.json records it. */
export interface StageSummary {
  checkpoint: string | undefined;
  config: TrainConfig;
  trainingSeconds: number;
  epochs: EpochRecord[];
}

/** results/metrics.json: what `reproduce` measured, and what `report` starts from. */
export interface ReproduceMetrics {
  preset: Preset;
  description: string;
  seed: number;
  backend: BackendRecord;
  results: Record<ModelName, Accuracies>;
  reference: Record<ModelName, Accuracies>;
  table: string;
  scaledTest: ScaledTestRecord & { count: number };
  stages: Record<Stage, StageSummary>;
  /** Wall time of each stage (absent: kept from an earlier run by --resume), of the evaluation and in all. */
  seconds: { regular?: number; deform?: number; evaluation: number; total: number };
  finishedAt: string;
}

/** Where reproduce puts its checkpoints and metrics under `out`. */
export function reproduceLayout(out: string): { checkpoints: Record<Stage, string>; metricsFile: string } {
  return {
    checkpoints: { regular: path.join(out, 'checkpoints', 'regular'), deform: path.join(out, 'checkpoints', 'deform') },
    metricsFile: path.join(out, 'results', 'metrics.json'),
  };
}

/** Reads a finished reproduce's results/metrics.json. */
export function readReproduceMetrics(file: string): ReproduceMetrics {
  let metrics: ReproduceMetrics;
  try {
    metrics = JSON.parse(fs.readFileSync(file, 'utf8')) as ReproduceMetrics;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`no ${file}: run 'deformconv reproduce' (with the same --out) before 'deformconv report'`);
    }
    throw new UserError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (metrics.stages?.deform?.config === undefined || metrics.results?.regular === undefined || metrics.scaledTest === undefined) {
    throw new UserError(`${file} is not a complete reproduce result; rerun 'deformconv reproduce'`);
  }
  return metrics;
}

/** Runs the preset's two stages, evaluates both models, prints nothing, writes results/metrics.json. */
export async function reproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  const spec = PRESET_SPECS[options.preset];
  if (spec === undefined) throw new UserError(`unknown preset '${options.preset}'; expected one of ${PRESETS.join(', ')}`);
  const log = runLog(options);
  const { checkpoints, metricsFile } = reproduceLayout(options.out ?? '.');
  const started = Date.now();
  const elapsed = (): number => (Date.now() - started) / 1000;

  log(`reproduce --preset ${options.preset}: ${spec.description}`);
  await downloadMnist({ dataDir: options.dataDir, reporter: options.downloadReporter });
  const data = await loadMnist({ dataDir: options.dataDir });

  const stages = await trainStages(options, data, checkpoints, log);
  try {
    if (stages.interrupted !== undefined) {
      return {
        status: 'interrupted',
        interruptedStage: stages.interrupted,
        checkpoints,
        report: {},
        table: '',
        metricsFile,
        seconds: elapsed(),
      };
    }
    const trained = stages.results as Record<Stage, TrainResult>;
    const testLimit = options.testLimit ?? spec.testLimit ?? undefined;
    log(`== evaluation on ${testLimit ?? data.test.count} plain and scaled test images`);
    const evalStart = Date.now();
    const results = {
      regular: await evaluateModel(trained.regular.model, data.test, testLimit),
      deform: await evaluateModel(trained.deform.model, data.test, testLimit),
    };
    const table = accuracyTable(results);
    writeJsonFile(metricsFile, {
      preset: options.preset,
      description: spec.description,
      seed: options.seed ?? DEFAULT_SEED,
      backend: runBackend(options),
      results,
      reference: REFERENCE_ACCURACY,
      table,
      scaledTest: { seed: SCALED_TEST_SEED, interpolation: SCALED_TEST_INTERPOLATION, count: testLimit ?? data.test.count },
      stages: { regular: stageSummary(trained.regular), deform: stageSummary(trained.deform) },
      seconds: { ...stages.seconds, evaluation: (Date.now() - evalStart) / 1000, total: elapsed() },
      finishedAt: new Date().toISOString(),
    } satisfies ReproduceMetrics);
    log(`done in ${formatDuration(elapsed())}; metrics in ${metricsFile}`);
    return { status: 'completed', checkpoints, report: results, table, metricsFile, seconds: elapsed() };
  } finally {
    for (const result of Object.values(stages.results)) result?.model.dispose();
  }
}

/** The two stages in turn (the second starts from the first's checkpoint), until one is interrupted. */
async function trainStages(
  options: ReproduceOptions,
  data: MnistData,
  checkpoints: Record<Stage, string>,
  log: (line: string) => void,
): Promise<{ results: Partial<Record<Stage, TrainResult>>; seconds: Partial<Record<Stage, number>>; interrupted?: Stage }> {
  const spec = PRESET_SPECS[options.preset];
  const results: Partial<Record<Stage, TrainResult>> = {};
  const seconds: Partial<Record<Stage, number>> = {};
  try {
    for (const stage of STAGES) {
      const stageStart = Date.now();
      log(`== ${stage === 'regular' ? 'regular CNN on plain MNIST' : 'deformable fine-tune on scaled MNIST'} -> ${checkpoints[stage]}`);
      const result = await train(stage, {
        backend: options.backend,
        shouldStop: options.shouldStop,
        progress: options.progress,
        resume: options.resume,
        config: {
          ...spec.stages[stage],
          ...definedOnly({ limit: options.limit, valLimit: options.valLimit }),
          seed: options.seed ?? DEFAULT_SEED,
          threads: options.threads ?? presetThreads(spec.stages[stage].threads),
          out: checkpoints[stage],
          from: stage === 'deform' ? checkpoints.regular : undefined,
        },
        data,
        log,
      });
      results[stage] = result;
      seconds[stage] = (Date.now() - stageStart) / 1000;
      if (result.status === 'interrupted') return { results, seconds, interrupted: stage };
    }
    return { results, seconds };
  } catch (err) {
    for (const result of Object.values(results)) result?.model.dispose();
    throw err;
  }
}

function stageSummary({ config, state, checkpoint }: TrainResult): StageSummary {
  return { checkpoint, config, trainingSeconds: state.metrics.reduce((sum, epoch) => sum + epoch.seconds, 0), epochs: state.metrics };
}

/** A preset's data-parallel replicas where they run (wasm, cpu); one elsewhere (a GPU backend uses the device itself). */
function presetThreads(threads: number | undefined): number | undefined {
  return tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu' ? threads : 1;
}

/** The entries of `values` that are set, so that they replace a preset's and undefined ones do not. */
function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
