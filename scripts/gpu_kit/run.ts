/**
 * The GPU kit's entry, run.js (scripts/gpu_kit/main.ts bundles it): on the target machine,
 * with plain node and the kit's own files only, runs the bench on one backend (webgpu by
 * default) and a short training run of both stages, then writes one JSON file with the
 * adapter, the machine and the figures beside issue 24's design target.
 *
 * Each part is the kit's bundled CLI or bench in a child process, as a user would run it:
 * a fresh process per backend activation, and the bench's table printed as is. This file
 * imports no tfjs, so that it stays small.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { writeJsonFile } from '../../src/files/atomic';
import type { StageMetrics } from '../../src/training/state';
import { deformconvVersion } from '../../src/version';
import type { BenchResult } from '../bench/main';

/**
 * Each setting's bench and training runs (one epoch each). Batch 32 is the design target's;
 * quick is for a software adapter, where a batch-32 fine-tune step takes over a minute.
 */
const PLANS = {
  full: { batch: 32, bench: [], regular: { limit: 6400, valLimit: 1000 }, deform: { limit: 3200, valLimit: 1000 } },
  quick: { batch: 8, bench: ['--rounds', '1', '--burst', '1'], regular: { limit: 64, valLimit: 32 }, deform: { limit: 32, valLimit: 32 } },
} as const;

/** The training metrics file of a checkpoint folder (METRICS_FILE of src/training/checkpoint.ts, which would bring tfjs into this bundle). */
const METRICS_FILE = 'metrics.json';

const HELP = `usage: node run.js [--backend NAME] [--quick] [--result FILE] [--work-dir DIR]

Runs the bench (batch 32) and a short training run (1 epoch of train-regular, then of
finetune-deform, on a few thousand images) on one backend, and writes one JSON file.

  --backend NAME   webgpu (default), wasm, cpu or auto; webgpu without a GPU needs
                   DEFORMCONV_VULKAN_ICD (see README.txt)
  --quick          batch 8, 1 timed round of the bench, a few dozen images: for a
                   software adapter (minutes; its figures are not batch 32's)
  --result FILE    where to write the JSON (default gpu-kit-result.json)
  --work-dir DIR   scratch folder: MNIST unpacked, checkpoints (default gpu-kit-work)
  -h, --help       this text
`;

interface KitOptions {
  backend: string;
  quick: boolean;
  result: string;
  workDir: string;
}

/** One training stage's epoch, as the result JSON gives it. */
interface TrainingFigures {
  images: number;
  seconds: number;
  images_per_s: number;
  loss: number;
  accuracy: number;
}

/** A child process that failed: the kit stops with its exit code (its own message is above). */
class ChildFailed extends Error {
  constructor(
    what: string,
    readonly code: number,
  ) {
    super(`${what} failed (exit ${code}); see its message above`);
  }
}

function parseOptions(argv: string[]): KitOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: 'string', default: 'webgpu' },
      quick: { type: 'boolean', default: false },
      result: { type: 'string', default: 'gpu-kit-result.json' },
      'work-dir': { type: 'string', default: 'gpu-kit-work' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help === true) return null;
  return {
    backend: values.backend as string,
    quick: values.quick === true,
    result: values.result as string,
    workDir: values['work-dir'] as string,
  };
}

/** Runs one of the kit's bundles with node, its output shown as it comes. */
function runBundle(what: string, bundle: string, args: readonly string[]): Promise<void> {
  process.stderr.write(`\n== ${what}\n`);
  const child = spawn(process.execPath, [path.join(__dirname, bundle), ...args], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new ChildFailed(what, code ?? (signal === 'SIGINT' ? 130 : 2)));
    });
  });
}

async function runBench(options: KitOptions, file: string): Promise<BenchResult> {
  const plan = PLANS[options.quick ? 'quick' : 'full'];
  const args = ['--backend', options.backend, '--batch', String(plan.batch), ...plan.bench, '--json-file', file];
  await runBundle(`bench on ${options.backend} (batch ${plan.batch})`, 'bench.js', args);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult;
}

/** One epoch of each stage on the first images of MNIST; their figures from the metrics files. */
async function runTraining(options: KitOptions): Promise<Record<'regular' | 'deform', TrainingFigures>> {
  const plan = PLANS[options.quick ? 'quick' : 'full'];
  const dataDir = path.join(options.workDir, 'data');
  const out = { regular: path.join(options.workDir, 'regular'), deform: path.join(options.workDir, 'deform') };
  await runBundle('MNIST from the kit', 'deformconv.js', ['download', '--source', 'package', '--data-dir', dataDir]);
  // A fresh run each time: the kit's own scratch checkpoints.
  for (const dir of Object.values(out)) fs.rmSync(dir, { recursive: true, force: true });
  const common = (stage: 'regular' | 'deform'): string[] => [
    '--epochs',
    '1',
    '--batch-size',
    String(plan.batch),
    '--limit',
    String(plan[stage].limit),
    '--val-limit',
    String(plan[stage].valLimit),
    '--data-dir',
    dataDir,
    '--out',
    out[stage],
  ];
  await runBundle(`train-regular, 1 epoch of ${plan.regular.limit} images`, 'deformconv.js', [
    '--backend',
    options.backend,
    'train-regular',
    ...common('regular'),
  ]);
  await runBundle(`finetune-deform, 1 epoch of ${plan.deform.limit} images`, 'deformconv.js', [
    '--backend',
    options.backend,
    'finetune-deform',
    '--from',
    out.regular,
    ...common('deform'),
  ]);
  return { regular: epochFigures(out.regular), deform: epochFigures(out.deform) };
}

function epochFigures(dir: string): TrainingFigures {
  const metrics = JSON.parse(fs.readFileSync(path.join(dir, METRICS_FILE), 'utf8')) as StageMetrics;
  const epoch = metrics.epochs[0];
  const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    images: Math.round(epoch.imagesPerSecond * epoch.seconds),
    seconds: round(epoch.seconds, 2),
    images_per_s: round(epoch.imagesPerSecond, 1),
    loss: round(epoch.loss, 4),
    accuracy: round(epoch.accuracy, 4),
  };
}

/** The result file: what ran where, the figures next to the design target, and the bench's whole JSON. */
function kitResult(options: KitOptions, bench: BenchResult, training: Record<'regular' | 'deform', TrainingFigures>) {
  const adapter = bench.machine.adapter;
  const target = bench.design_target;
  return {
    kit: `deformconv ${deformconvVersion()} GPU kit`,
    measured_at: new Date().toISOString(),
    quick: options.quick,
    backend: bench.backend,
    backend_details: bench.machine.backend_details,
    adapter,
    software_adapter: adapter?.software ?? null,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: bench.machine.cpu, cores: bench.machine.cores },
    figures: {
      batch: bench.batch,
      deform_finetune_step_ms: bench.deform_finetune_ms,
      regular_train_step_ms: bench.regular_train_ms,
      paper_preset_min_estimate: bench.paper_preset_min_estimate,
      train_regular_images_per_s: training.regular.images_per_s,
      finetune_deform_images_per_s: training.deform.images_per_s,
    },
    design_target: target,
    // The target is batch 32's: a quick run's figures say nothing of it.
    meets_design_target:
      bench.batch === 32
        ? {
            deform_finetune_step: bench.deform_finetune_ms < target.deform_finetune_ms,
            paper_preset: bench.paper_preset_min_estimate < target.paper_preset_min,
          }
        : null,
    training: {
      note: "one epoch each, from a cold start (its first steps compile the GPU's shaders): a lower bound on a long run's images/s",
      ...training,
    },
    bench,
  };
}

function summary(result: ReturnType<typeof kitResult>, file: string): string {
  const f = result.figures;
  const software = result.software_adapter === true ? ' (a software adapter: not a GPU figure)' : '';
  return [
    '',
    `== GPU kit: ${result.backend_details}`,
    `deformable fine-tune step, batch ${f.batch}: ${f.deform_finetune_step_ms} ms${software}`,
    `regular train step, batch ${f.batch}:        ${f.regular_train_step_ms} ms`,
    `paper preset, from the step times:   about ${f.paper_preset_min_estimate} min`,
    `design target: ${result.design_target.text}`,
    `training runs: train-regular ${f.train_regular_images_per_s} images/s, finetune-deform ${f.finetune_deform_images_per_s} images/s`,
    `written: ${file}`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(HELP);
    return;
  }
  if (!fs.existsSync(path.join(__dirname, 'deformconv.js')))
    throw new Error(`run.js runs inside a GPU kit (npm run gpu-kit writes one); ${__dirname} has no deformconv.js`);
  process.stderr.write(
    `deformconv GPU kit: node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores; ` +
      `backend ${options.backend}${options.quick ? ', quick' : ''}\n`,
  );
  fs.mkdirSync(options.workDir, { recursive: true });
  const bench = await runBench(options, path.join(options.workDir, 'bench.json'));
  const training = await runTraining(options);
  const result = kitResult(options, bench, training);
  const file = path.resolve(options.result);
  writeJsonFile(file, result);
  process.stdout.write(summary(result, file));
}

main().catch((err: unknown) => {
  process.stderr.write(`gpu-kit: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof ChildFailed ? err.code : 2);
});
