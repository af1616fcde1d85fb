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
import { backendRecord, BackendDescription } from '../backend/select';
import { loadMnist } from '../data/mnist';
import { UserError } from '../errors';
import { evaluateModel } from '../evaluation/evaluate';
import { SCALED_TEST_INTERPOLATION, SCALED_TEST_SEED } from '../evaluation/evaluate';
import { Accuracies, REFERENCE_ACCURACY } from '../evaluation/table';
import { latestCheckpointName } from '../training/checkpoint';
import { fileError, replaceFileAtomically, writeJsonAtomically } from '../files/atomic';
import { DEFAULT_SEED, TrainConfig } from '../training/config';
import { train } from '../training/train';
import { CurveSeries } from '../reporting/curves';
import { readStageMetrics, writePictures } from '../reporting/pictures';
import { ReportData, reportMarkdown, ReportVariant, RunResult, VARIANT_LABELS } from '../reporting/report_markdown';

/** The report's file name, written into `<out>/results/`. */
export const REPORT_FILE = 'REPORT.md';
export const REPORT_JSON = 'report.json';
const EVALUATION_FILE = 'evaluation.json';

/** The fine-tunes of the report, and the training settings that make each. */
const FINETUNES: ReadonlyArray<{ variant: Exclude<ReportVariant, 'regular'>; settings: Partial<TrainConfig> }> = [
  { variant: 'bn-only', settings: { control: 'bn-only', freezeBn: false } },
  { variant: 'offsets-only', settings: { control: null, freezeBn: true } },
  { variant: 'offsets-bn', settings: { control: null, freezeBn: false } },
  { variant: 'dcn', settings: { deformType: 'dcn', control: null, freezeBn: false } },
  { variant: 'dcnv2', settings: { deformType: 'dcnv2', control: null, freezeBn: false } },
];

/** What `reproduce` wrote to results/metrics.json (the fields the report reads). */
interface ReproduceMetrics {
  preset: string;
  description: string;
  seed: number;
  backend: Record<string, unknown>;
  results: { regular: Accuracies; deform: Accuracies };
  scaledTest: { seed: number; interpolation: string; count: number };
  stages: Record<'regular' | 'deform', { config: TrainConfig; trainingSeconds: number }>;
  seconds: Record<string, number | undefined>;
}

/** runReport's settings. */
export interface ReportOptions {
  /** reproduce's --out: holds checkpoints/ and results/. */
  out?: string;
  /** Seeds per fine-tune (default 1). */
  runs?: number;
  dataDir?: string;
  /** The test digit of the offset pictures (default 0). */
  index?: number;
  /** What runs the math, as useBackend() described it (recorded in the report). */
  backend?: BackendDescription;
  /** The command line that made this report, quoted in it. */
  command?: string;
  /** Where status lines go (default: stderr). */
  log?: (line: string) => void;
  /** Polled between steps: true stops after saving a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
  /** A live progress bar. */
  progress?: boolean;
}

/** What runReport ended with. */
export interface ReportResult {
  status: 'completed' | 'interrupted';
  /** REPORT.md (written when completed). */
  reportFile: string;
  data?: ReportData;
}

interface CachedEvaluation {
  checkpoint: string;
  count: number;
  scaledSeed: number;
  accuracy: Accuracies;
  seconds: number;
}

function readReproduceMetrics(file: string): ReproduceMetrics {
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

function readCachedEvaluation(dir: string, count: number): CachedEvaluation | undefined {
  try {
    const cached = JSON.parse(fs.readFileSync(path.join(dir, EVALUATION_FILE), 'utf8')) as CachedEvaluation;
    const current = latestCheckpointName(dir);
    return cached.checkpoint === current && cached.count === count && cached.scaledSeed === SCALED_TEST_SEED ? cached : undefined;
  } catch {
    return undefined;
  }
}

function writeJson(file: string, value: unknown): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeJsonAtomically(file, value);
  } catch (err) {
    throw fileError(err, `cannot write ${file}`);
  }
}

/**
 * The CLI's `report`, after reproduce: from reproduce's regular checkpoint, fine-tunes
 * with the deformable stage's recipe the BN-only control, the offsets-only deformable CNN,
 * the reference's recipe (further seeds only) and the DCN and DCNv2 variants, `runs` seeds
 * each; evaluates all six rows, draws the pictures and writes `<out>/results/REPORT.md` and
 * report.json. Resumable: finished runs and their evaluations are reused.
 */
export async function runReport(options: ReportOptions = {}): Promise<ReportResult> {
  const root = options.out ?? '.';
  const runs = options.runs ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new UserError(`--runs must be a positive integer, got ${runs}`);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  const resultsDir = path.join(root, 'results');
  const reportFile = path.join(resultsDir, REPORT_FILE);
  const metrics = readReproduceMetrics(path.join(resultsDir, 'metrics.json'));
  const regularDir = path.join(root, 'checkpoints', 'regular');
  const deformDir = path.join(root, 'checkpoints', 'deform');
  for (const dir of [regularDir, deformDir]) {
    if (latestCheckpointName(dir) === undefined) throw new UserError(`no checkpoint in ${dir}; rerun 'deformconv reproduce --out ${root}'`);
  }
  const count = metrics.scaledTest.count;
  const data = await loadMnist({ dataDir: options.dataDir });
  const recipe = metrics.stages.deform.config;

  const results: Record<ReportVariant, RunResult[]> = {
    regular: [
      {
        seed: metrics.stages.regular.config.seed,
        checkpoint: regularDir,
        accuracy: metrics.results.regular,
        trainingSeconds: metrics.stages.regular.trainingSeconds,
        config: { ...metrics.stages.regular.config },
      },
    ],
    'bn-only': [],
    'offsets-only': [],
    'offsets-bn': [],
    dcn: [],
    dcnv2: [],
  };
  const seeds = Array.from({ length: runs }, (_, k) => metrics.seed + k);
  for (const seed of seeds) {
    for (const { variant, settings } of FINETUNES) {
      if (variant === 'offsets-bn' && seed === recipe.seed) {
        // reproduce's own fine-tune.
        results[variant].push({
          seed,
          checkpoint: deformDir,
          accuracy: metrics.results.deform,
          trainingSeconds: metrics.stages.deform.trainingSeconds,
          config: { ...recipe },
        });
        continue;
      }
      const dir = path.join(root, 'checkpoints', 'report', `${variant}-seed-${seed}`);
      log(`== ${VARIANT_LABELS[variant]}, seed ${seed} -> ${dir}`);
      const config: Partial<TrainConfig> = { ...recipe, ...settings, seed, out: dir, from: regularDir };
      let trained;
      try {
        trained = await train('deform', {
          config,
          resume: true,
          data,
          backend: options.backend,
          log,
          shouldStop: options.shouldStop,
          progress: options.progress,
        });
      } catch (err) {
        if (err instanceof UserError && fs.existsSync(dir)) {
          throw new UserError(`${err.message} (${dir} belongs to an earlier report with other settings: delete it to retrain)`);
        }
        throw err;
      }
      try {
        if (trained.status === 'interrupted') return { status: 'interrupted', reportFile };
        let evaluation = readCachedEvaluation(dir, count);
        if (evaluation === undefined) {
          const evalStart = Date.now();
          const accuracy = await evaluateModel(trained.model, data.test, count);
          evaluation = {
            checkpoint: latestCheckpointName(dir) as string,
            count,
            scaledSeed: SCALED_TEST_SEED,
            accuracy,
            seconds: (Date.now() - evalStart) / 1000,
          };
          writeJson(path.join(dir, EVALUATION_FILE), evaluation);
        }
        log(`${variant} seed ${seed}: plain ${(evaluation.accuracy.plain * 100).toFixed(2)}%, scaled ${(evaluation.accuracy.scaled * 100).toFixed(2)}%`);
        results[variant].push({
          seed,
          checkpoint: dir,
          accuracy: evaluation.accuracy,
          trainingSeconds: trained.state.metrics.reduce((sum, epoch) => sum + epoch.seconds, 0),
          evaluationSeconds: evaluation.seconds,
          config: { ...trained.config },
        });
      } finally {
        trained.model.dispose();
      }
      if (options.shouldStop?.()) return { status: 'interrupted', reportFile };
    }
  }

  log(`== pictures -> ${resultsDir}`);
  const finetuneCurves: CurveSeries[] = FINETUNES.map(({ variant }) => ({
    label: VARIANT_LABELS[variant],
    epochs: readStageMetrics(results[variant][0].checkpoint).epochs,
  }));
  const index = options.index ?? 0;
  const written = await writePictures({ out: resultsDir, test: data.test, deform: deformDir, regular: regularDir, index, finetuneCurves, log });

  const reportData: ReportData = {
    reproduceCommand: `deformconv reproduce --preset ${metrics.preset}${metrics.seed === DEFAULT_SEED ? '' : ` --seed ${metrics.seed}`}`,
    reportCommand: options.command ?? `deformconv report${runs > 1 ? ` --runs ${runs}` : ''}`,
    presetDescription: `${metrics.preset} (${metrics.description})`,
    backend: metrics.backend,
    reportBackend: options.backend ? backendRecord(options.backend) : undefined,
    test: { count, scaledSeed: metrics.scaledTest.seed ?? SCALED_TEST_SEED, interpolation: metrics.scaledTest.interpolation ?? SCALED_TEST_INTERPOLATION },
    runs: results,
    reference: { regular: REFERENCE_ACCURACY.regular, 'offsets-bn': REFERENCE_ACCURACY.deform },
    pictures: Object.fromEntries(Object.entries(written).map(([name, file]) => [name, path.basename(file as string)])),
    pictureIndex: index,
    seconds: { reproduce: metrics.seconds, report: (Date.now() - started) / 1000 },
    generatedAt: new Date().toISOString(),
  };
  writeJson(path.join(resultsDir, REPORT_JSON), reportData);
  try {
    replaceFileAtomically(reportFile, reportMarkdown(reportData));
  } catch (err) {
    throw fileError(err, `cannot write ${reportFile}`);
  }
  log(`report: ${reportFile}`);
  return { status: 'completed', reportFile, data: reportData };
}
