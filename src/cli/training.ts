/**
 * What train-regular and finetune-deform share: their flags, and the action that hands
 * them to src/training and reports the outcome (exit 130 after Ctrl-C, with the command
 * that resumes).
 */
import { Command, Option } from 'commander';
import { Interpolation, INTERPOLATIONS } from '../augment/zoom_shift';
import { BackendChoice } from '../backend/select';
import { DEFAULT_DATA_DIR, loadMnist } from '../data/mnist';
import { DEFORM_TYPES, DeformType } from '../models/cnn';
import { Control, CONTROLS, DEFAULT_BATCH_SIZE, DEFAULT_SEED, Stage, STAGE_SPECS, TrainConfig } from '../training/config';
import { train } from '../training/train';
import { startBackend } from './backend';
import { dataDirOption, intInRange, nonNegativeInt, positiveFloat, positiveInt } from './flags';
import { runInterruptible } from './interrupt';

/** The largest batch: the whole training set. */
const MAX_BATCH_SIZE = 60_000;
const MAX_THREADS = 64;

export interface TrainingFlags {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  limit?: number;
  valLimit?: number;
  seed?: number;
  threads?: number;
  out?: string;
  dataDir: string;
  resume: boolean;
  from?: string;
  freezeBn?: boolean;
  deformType?: DeformType;
  control?: Control;
  interpolation?: Interpolation;
}

/**
 * Adds the training flags. Settings have no commander defaults (the help states them), so
 * that a flag left out is undefined: a resumed run then keeps its checkpoint's setting.
 */
export function addTrainingOptions(command: Command, stage: Stage): Command {
  const d = STAGE_SPECS[stage].defaults;
  command
    .option('--epochs <n>', `epochs to train (default ${d.epochs}); with --resume, more than saved trains on`, positiveInt)
    .option('--batch-size <n>', `images per step (default ${DEFAULT_BATCH_SIZE})`, intInRange(1, MAX_BATCH_SIZE))
    .option('--lr <rate>', `Adam learning rate (default ${d.learningRate}); with --resume, a new rate applies from there on`, positiveFloat)
    .option('--limit <n>', 'train on the first N training images only (default all 60,000)', positiveInt)
    .option('--val-limit <n>', 'validate each epoch on the first N test images only (default all 10,000)', positiveInt)
    .option('--seed <n>', `seed of initial weights, shuffling and augmentation (default ${DEFAULT_SEED})`, nonNegativeInt)
    .option(
      '--threads <n>',
      'data-parallel replicas per step, e.g. 2 on a 2-core machine; ' +
        "BatchNorm stays synchronous (the whole batch's statistics), so only float32 rounding changes; " +
        'with --resume, another count may continue the run (default 1)',
      intInRange(1, MAX_THREADS),
    )
    .option('--out <dir>', `checkpoint directory (default ${d.out})`)
    .addOption(dataDirOption())
    .option('--resume', 'continue the run whose checkpoint is in --out', false);
  return command;
}

/** Adds the fine-tune's own flags. */
export function addFineTuneOptions(command: Command): Command {
  return command
    .option('--from <dir>', `the regular-CNN checkpoint to start from (default ${STAGE_SPECS.regular.defaults.out})`)
    .option('--freeze-bn', 'freeze BatchNorm too: only the offset layers learn', undefined)
    .addOption(
      new Option(
        '--deform-type <type>',
        "how conv12, conv21, conv22 deform (default seed, the reference's: a ConvOffset2D layer in front of each); " +
          'dcn / dcnv2: each becomes a DeformConv2D (dcnv2: with a mask) that keeps the trained 3x3 kernel frozen ' +
          'and learns only its offset (and mask) convolution',
      ).choices(DEFORM_TYPES),
    )
    .addOption(
      new Option(
        '--control <kind>',
        'a control run instead: bn-only fine-tunes the regular CNN (no offset layers), only BatchNorm trainable, same data and recipe',
      ).choices(CONTROLS),
    )
    .addOption(
      new Option('--interpolation <mode>', "resampling of the scale augmentation (default nearest, the reference's)").choices(
        INTERPOLATIONS,
      ),
    );
}

export async function runTrainingCommand(stage: Stage, flags: TrainingFlags, command: Command): Promise<void> {
  const backend = await startBackend(command);
  const data = await loadMnist({ dataDir: flags.dataDir });
  const config: Partial<TrainConfig> = {
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    learningRate: flags.lr,
    limit: flags.limit,
    valLimit: flags.valLimit,
    seed: flags.seed,
    threads: flags.threads,
    out: flags.out,
    from: flags.from,
    freezeBn: flags.freezeBn,
    deformType: flags.deformType,
    control: flags.control,
    interpolation: flags.interpolation,
  };
  const { result, signalExitCode } = await runInterruptible((shouldStop) =>
    train(stage, { config, resume: flags.resume, data, backend, shouldStop }),
  );
  result.model.dispose();
  const { state } = result;
  const where = result.checkpoint ?? 'none';
  if (result.status === 'interrupted') {
    const position =
      state.step > 0 ? `epoch ${state.epoch + 1}, step ${state.step} of ${state.stepsPerEpoch}` : `the end of epoch ${state.epoch}`;
    process.stderr.write(`interrupted at ${position}; checkpoint: ${where}\n`);
    if (state.epoch < state.config.epochs) {
      process.stderr.write(`resume with: ${resumeCommand(stage, state.config.out, flags.dataDir, command)}\n`);
    }
    process.exitCode = signalExitCode ?? 130;
    return;
  }
  const last = state.metrics[state.metrics.length - 1];
  const val =
    last === undefined
      ? ''
      : Object.entries(last.val)
          .map(([variant, v]) => `, ${variant} validation accuracy ${(v.accuracy * 100).toFixed(2)}%`)
          .join('');
  process.stdout.write(`${stage} training complete: ${plural(state.epoch, 'epoch')}${val}; checkpoint ${where}\n`);
}

/** The command line that continues this run. */
export function resumeCommand(stage: Stage | 'reproduce', out: string, dataDir: string, command: Command, extra = ''): string {
  const { backend } = command.optsWithGlobals<{ backend: BackendChoice }>();
  const parts = ['deformconv'];
  if (backend !== 'auto') parts.push(`--backend ${backend}`);
  parts.push(stage === 'reproduce' ? 'reproduce' : STAGE_SPECS[stage].command);
  if (extra) parts.push(extra);
  parts.push(`--out ${quote(out)}`);
  if (dataDir !== DEFAULT_DATA_DIR) parts.push(`--data-dir ${quote(dataDir)}`);
  parts.push('--resume');
  return parts.join(' ');
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function quote(arg: string): string {
  return /^[\w./:@=-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
