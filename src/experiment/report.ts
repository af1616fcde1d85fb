/**
 * `report`: after `reproduce`, runs the control experiment and writes results/REPORT.md.
 *
 * From reproduce's layout under `out` (checkpoints/regular, checkpoints/deform,
 * results/metrics.json) it fine-tunes, with the deformable stage's exact recipe and from
 * the same regular checkpoint:
 *   bn-only       the regular CNN (no offset layers), BatchNorm alone trainable;
 *   offsets-only  the deformable CNN with BatchNorm frozen (--freeze-bn);
 *   offsets-bn    the deformable CNN as the reference (reproduce's run is its first seed);
 *   dcn, dcnv2    the deformable CNN with --deform-type dcn / dcnv2 (the paper's deformable
 *                 convolution: conv12, conv21, conv22 as DeformConv2D layers), BatchNorm trainable;
 * each with `runs` seeds (reproduce's seed, +1, ...), into checkpoints/report/<variant>-seed-<s>.
 * Runs already trained are reused and unfinished ones resumed, and each evaluation is
 * cached beside its checkpoint, so an interrupted report continues where it stopped.
 * Then it draws the pictures into results/ and writes REPORT.md and report.json there.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MnistData } from '../data/mnist_split';
import { loadMnist } from '../data/mnist';
import { UserError } from '../errors';
import { evaluateModel, SCALED_TEST_INTERPOLATION, SCALED_TEST_SEED } from '../evaluation/evaluate';
import { Accuracies, formatPercent, REFERENCE_ACCURACY } from '../evaluation/table';
import { writeFileSafely, writeJsonFile } from '../files/atomic';
import { ReportData, reportMarkdown, ReportVariant, RunResult, VARIANT_LABELS } from '../reporting/report_markdown';
import { latestCheckpointName } from '../training/checkpoint';
import { DEFAULT_SEED, TrainConfig } from '../training/config';
import { RunOptions, runBackend, runLog } from '../training/run_options';
import { readStageMetrics } from '../training/state';
import { train, TrainResult } from '../training/train';
import { writePictures } from './write_pictures';
import { readReproduceMetrics, ReproduceMetrics, reproduceLayout } from './reproduce';

/** The report's file name, written into `<out>/results/`. */
export const REPORT_FILE = 'REPORT.md';
export const REPORT_JSON = 'report.json';
const EVALUATION_FILE = 'evaluation.json';

type Finetune = Exclude<ReportVariant, 'regular'>;

/** The fine-tunes of the report, and the training settings that make each. */
const FINETUNES: ReadonlyArray<{ variant: Finetune; settings: Partial<TrainConfig> }> = [
  { variant: 'bn-only', settings: { control: 'bn-only', freezeBn: false } },
  { variant: 'offsets-only', settings: { control: null, freezeBn: true } },
  { variant: 'offsets-bn', settings: { control: null, freezeBn: false } },
  { variant: 'dcn', settings: { deformType: 'dcn', control: null, freezeBn: false } },
  { variant: 'dcnv2', settings: { deformType: 'dcnv2', control: null, freezeBn: false } },
];

/** runReport's settings. */
export interface ReportOptions extends RunOptions {
  /** reproduce's --out: holds checkpoints/ and results/. */
  out?: string;
  /** Seeds per fine-tune (default 1). */
  runs?: number;
  dataDir?: string;
  /** The test digit of the offset pictures (default 0). */
  index?: number;
  /** The command line that made this report, quoted in it. */
  command?: string;
}

/** What runReport ended with. */
export interface ReportResult {
  status: 'completed' | 'interrupted';
  /** REPORT.md (written when completed). */
  reportFile: string;
  data?: ReportData;
}

/** An evaluation saved beside a report run's checkpoint. */
interface CachedEvaluation {
  checkpoint: string;
  count: number;
  scaledSeed: number;
  accuracy: Accuracies;
  seconds: number;
}

/** What every step of a report works from. */
interface ReportContext {
  root: string;
  resultsDir: string;
  metrics: ReproduceMetrics;
  checkpoints: { regular: string; deform: string };
  data: MnistData;
  /** Evaluated on the first `count` test images, as reproduce was. */
  count: number;
  options: ReportOptions;
  log: (line: string) => void;
}

/** Trains what is missing, evaluates, draws and writes the report (see the file comment). */
export async function runReport(options: ReportOptions = {}): Promise<ReportResult> {
  const runs = options.runs ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new UserError(`--runs must be a positive integer, got ${runs}`);
  const started = Date.now();
  const context = await openReport(options);
  const reportFile = path.join(context.resultsDir, REPORT_FILE);
  const results = reproducedResults(context);
  for (let seed = context.metrics.seed; seed < context.metrics.seed + runs; seed++) {
    for (const finetune of FINETUNES) {
      const result = await finetuneResult(context, finetune.variant, finetune.settings, seed);
      if (result === 'interrupted') return { status: 'interrupted', reportFile };
      results[finetune.variant].push(result);
      if (options.shouldStop?.()) return { status: 'interrupted', reportFile };
    }
  }
  const data = await assembleReport(context, results, runs, started);
  writeJsonFile(path.join(context.resultsDir, REPORT_JSON), data);
  writeFileSafely(reportFile, reportMarkdown(data));
  context.log(`report: ${reportFile}`);
  return { status: 'completed', reportFile, data };
}

/** Reproduce's metrics and checkpoints (both must exist) and the data. */
async function openReport(options: ReportOptions): Promise<ReportContext> {
  const root = options.out ?? '.';
  const resultsDir = path.join(root, 'results');
  const { checkpoints, metricsFile } = reproduceLayout(root);
  const metrics = readReproduceMetrics(metricsFile);
  for (const dir of Object.values(checkpoints)) {
    if (latestCheckpointName(dir) === undefined) throw new UserError(`no checkpoint in ${dir}; rerun 'deformconv reproduce --out ${root}'`);
  }
  const data = await loadMnist({ dataDir: options.dataDir });
  return { root, resultsDir, metrics, checkpoints, data, count: metrics.scaledTest.count, options, log: runLog(options) };
}

/** The table's rows so far: the regular CNN, as reproduce measured it. */
function reproducedResults({ metrics, checkpoints }: ReportContext): Record<ReportVariant, RunResult[]> {
  const regular: RunResult = {
    seed: metrics.stages.regular.config.seed,
    checkpoint: checkpoints.regular,
    accuracy: metrics.results.regular,
    trainingSeconds: metrics.stages.regular.trainingSeconds,
    config: { ...metrics.stages.regular.config },
  };
  return { regular: [regular], 'bn-only': [], 'offsets-only': [], 'offsets-bn': [], dcn: [], dcnv2: [] };
}

/**
 * One fine-tune of the report, measured: reproduce's own for the reference's recipe at
 * its seed, otherwise trained (or resumed, or reused) into checkpoints/report and evaluated.
 */
async function finetuneResult(
  context: ReportContext,
  variant: Finetune,
  settings: Partial<TrainConfig>,
  seed: number,
): Promise<RunResult | 'interrupted'> {
  const { metrics, checkpoints } = context;
  const recipe = metrics.stages.deform.config;
  if (variant === 'offsets-bn' && seed === recipe.seed) {
    const { trainingSeconds } = metrics.stages.deform;
    return { seed, checkpoint: checkpoints.deform, accuracy: metrics.results.deform, trainingSeconds, config: { ...recipe } };
  }
  const dir = path.join(context.root, 'checkpoints', 'report', `${variant}-seed-${seed}`);
  context.log(`== ${VARIANT_LABELS[variant]}, seed ${seed} -> ${dir}`);
  const trained = await trainFinetune(context, { ...recipe, ...settings, seed, out: dir, from: checkpoints.regular });
  try {
    if (trained.status === 'interrupted') return 'interrupted';
    const evaluation = readCachedEvaluation(dir, context.count) ?? (await evaluateAndCache(context, trained, dir));
    context.log(
      `${variant} seed ${seed}: plain ${formatPercent(evaluation.accuracy.plain)}, scaled ${formatPercent(evaluation.accuracy.scaled)}`,
    );
    return {
      seed,
      checkpoint: dir,
      accuracy: evaluation.accuracy,
      trainingSeconds: trained.state.metrics.reduce((sum, epoch) => sum + epoch.seconds, 0),
      evaluationSeconds: evaluation.seconds,
      config: { ...trained.config },
    };
  } finally {
    trained.model.dispose();
  }
}

async function trainFinetune(context: ReportContext, config: Partial<TrainConfig>): Promise<TrainResult> {
  const { options } = context;
  try {
    return await train('deform', {
      config,
      resume: true,
      data: context.data,
      backend: options.backend,
      log: context.log,
      shouldStop: options.shouldStop,
      progress: options.progress,
    });
  } catch (err) {
    if (err instanceof UserError && config.out !== undefined && fs.existsSync(config.out)) {
      throw new UserError(`${err.message} (${config.out} belongs to an earlier report with other settings: delete it to retrain)`);
    }
    throw err;
  }
}

function readCachedEvaluation(dir: string, count: number): CachedEvaluation | undefined {
  try {
    const cached = JSON.parse(fs.readFileSync(path.join(dir, EVALUATION_FILE), 'utf8')) as CachedEvaluation;
    const current = latestCheckpointName(dir);
    return cached.checkpoint === current && cached.count === count && cached.scaledSeed === SCALED_TEST_SEED ? cached : undefined;
  } catch {
    return undefined;
  }
}

async function evaluateAndCache(context: ReportContext, trained: TrainResult, dir: string): Promise<CachedEvaluation> {
  const start = Date.now();
  const accuracy = await evaluateModel(trained.model, context.data.test, context.count);
  const evaluation: CachedEvaluation = {
    checkpoint: latestCheckpointName(dir) as string,
    count: context.count,
    scaledSeed: SCALED_TEST_SEED,
    accuracy,
    seconds: (Date.now() - start) / 1000,
  };
  writeJsonFile(path.join(dir, EVALUATION_FILE), evaluation);
  return evaluation;
}

/** Draws the pictures and gathers everything REPORT.md and report.json say. */
async function assembleReport(
  context: ReportContext,
  results: Record<ReportVariant, RunResult[]>,
  runs: number,
  started: number,
): Promise<ReportData> {
  const { metrics, options, resultsDir, checkpoints } = context;
  context.log(`== pictures -> ${resultsDir}`);
  const index = options.index ?? 0;
  const written = await writePictures({
    out: resultsDir,
    test: context.data.test,
    deform: checkpoints.deform,
    regular: checkpoints.regular,
    index,
    finetuneCurves: FINETUNES.map(({ variant }) => ({
      label: VARIANT_LABELS[variant],
      epochs: readStageMetrics(results[variant][0].checkpoint).epochs,
    })),
    log: context.log,
  });
  return {
    reproduceCommand: `deformconv reproduce --preset ${metrics.preset}${metrics.seed === DEFAULT_SEED ? '' : ` --seed ${metrics.seed}`}`,
    reportCommand: options.command ?? `deformconv report${runs > 1 ? ` --runs ${runs}` : ''}`,
    presetDescription: `${metrics.preset} (${metrics.description})`,
    backend: metrics.backend,
    reportBackend: options.backend ? runBackend(options) : undefined,
    test: {
      count: context.count,
      scaledSeed: metrics.scaledTest.seed ?? SCALED_TEST_SEED,
      interpolation: metrics.scaledTest.interpolation ?? SCALED_TEST_INTERPOLATION,
    },
    runs: results,
    reference: { regular: REFERENCE_ACCURACY.regular, 'offsets-bn': REFERENCE_ACCURACY.deform },
    pictures: Object.fromEntries(Object.entries(written).map(([name, file]) => [name, path.basename(file as string)])),
    pictureIndex: index,
    seconds: { reproduce: metrics.seconds, report: (Date.now() - started) / 1000 },
    generatedAt: new Date().toISOString(),
  };
}
