/**
 * The two training stages of the experiment and their settings.
 */

import { Interpolation, INTERPOLATIONS } from '../augment/zoom_shift';
import { UserError } from '../errors';
import { TestVariant } from '../evaluation/evaluate';
import { DEFORM_TYPES, DeformType } from '../models/cnn';

/** The experiment's two stages: train the regular CNN, then fine-tune the deformable CNN. */
export type Stage = 'regular' | 'deform';
/** Both stages, in the order they run. */
export const STAGES: readonly Stage[] = ['regular', 'deform'];

/** What a stage trains and how (STAGE_SPECS). */
export interface StageSpec {
  /** Which architecture it trains. */
  model: 'regular' | 'deform';
  /** Whether conv11, conv12, conv21, conv22 and fc1 learn. */
  trainableBase: boolean;
  /** Whether it trains on freshly scale-augmented images every epoch. */
  augment: boolean;
  /** Whether it starts from a regular-CNN checkpoint (else from seeded initial weights). */
  startsFromRegular: boolean;
  /** What the per-epoch validation line measures, first one first. */
  validation: readonly TestVariant[];
  /** The command that runs it, for messages. */
  command: string;
  /** The reference's epochs and learning rate, and the default checkpoint directory. */
  defaults: Pick<TrainConfig, 'epochs' | 'learningRate' | 'out'>;
}

/**
 * The stages as the reference trains them: regular, plain MNIST, Adam 1e-3, 10 epochs,
 * into checkpoints/regular; deform, frozen base on freshly scaled MNIST, Adam 5e-4,
 * 20 epochs, from checkpoints/regular into checkpoints/deform.
 */
export const STAGE_SPECS: Readonly<Record<Stage, StageSpec>> = {
  regular: {
    model: 'regular',
    trainableBase: true,
    augment: false,
    startsFromRegular: false,
    validation: ['plain'],
    command: 'train-regular',
    defaults: { epochs: 10, learningRate: 1e-3, out: 'checkpoints/regular' },
  },
  deform: {
    model: 'deform',
    trainableBase: false,
    augment: true,
    startsFromRegular: true,
    validation: ['scaled'],
    command: 'finetune-deform',
    defaults: { epochs: 20, learningRate: 5e-4, out: 'checkpoints/deform' },
  },
};

/** Every setting of a training run, as saved in its checkpoints (resolveConfig fills the defaults). */
export interface TrainConfig {
  stage: Stage;
  /** Where checkpoints go. */
  out: string;
  epochs: number;
  /** Images per step (default 32). */
  batchSize: number;
  /** Adam's step size. */
  learningRate: number;
  /** Seeds initial weights, shuffling and augmentation. */
  seed: number;
  /** Train on the first N training images (null: all 60,000). */
  limit: number | null;
  /** Validate each epoch on the first N test images (null: all 10,000). */
  valLimit: number | null;
  /** Resampling of the training augmentation (stages that augment). */
  interpolation: Interpolation;
  /** Freeze BatchNorm too (it then runs in inference mode). */
  freezeBn: boolean;
  /** How the fine-tune's CNN deforms conv12, conv21 and conv22 ('seed': the reference's ConvOffset2D). */
  deformType: DeformType;
  /**
   * A control run instead of the deformable fine-tune: 'bn-only' fine-tunes the regular
   * CNN (no offset layers), BatchNorm alone trainable, with the same data and recipe.
   */
  control: Control | null;
  /** The regular-CNN checkpoint a fine-tune starts from. */
  from: string | null;
  /**
   * Data-parallel replicas per step (worker threads + the main one). BatchNorm is
   * synchronous across them, so the count changes only float32 rounding, not the recipe.
   */
  threads: number;
}

/** The control runs of finetune-deform (--control). */
export type Control = 'bn-only';
/** Every Control. */
export const CONTROLS: readonly Control[] = ['bn-only'];

/** The seed of a run that names none (initial weights, shuffles, augmentation). */
export const DEFAULT_SEED = 1;
/** The reference's batch size. */
export const DEFAULT_BATCH_SIZE = 32;
export const DEFAULT_REGULAR_CHECKPOINT = STAGE_SPECS.regular.defaults.out;

/** The command-line flag of each setting, for messages. */
export const CONFIG_FLAGS: Readonly<Record<keyof TrainConfig, string>> = {
  stage: 'stage',
  out: '--out',
  epochs: '--epochs',
  batchSize: '--batch-size',
  learningRate: '--lr',
  seed: '--seed',
  limit: '--limit',
  valLimit: '--val-limit',
  interpolation: '--interpolation',
  freezeBn: '--freeze-bn',
  deformType: '--deform-type',
  control: '--control',
  from: '--from',
  threads: '--threads',
};

/** A full configuration for `stage` from the settings given (the rest defaulted), checked. */
export function resolveConfig(stage: Stage, given: Partial<TrainConfig>): TrainConfig {
  const spec = STAGE_SPECS[stage];
  const config: TrainConfig = {
    stage,
    out: spec.defaults.out,
    epochs: spec.defaults.epochs,
    batchSize: DEFAULT_BATCH_SIZE,
    learningRate: spec.defaults.learningRate,
    seed: DEFAULT_SEED,
    limit: null,
    valLimit: null,
    interpolation: 'nearest',
    freezeBn: false,
    deformType: 'seed',
    control: null,
    from: spec.startsFromRegular ? DEFAULT_REGULAR_CHECKPOINT : null,
    threads: 1,
    ...definedOnly(given),
  };
  checkConfig(config);
  return config;
}

/**
 * Settings a resumed run may change: `epochs` (to train longer), `learningRate` (to
 * recover from a divergence with a lower rate), `out` (the directory moved), and `threads`
 * (BatchNorm is synchronous across replicas, so any count takes the 1-thread step, to rounding).
 */
export const CHANGEABLE_ON_RESUME: readonly (keyof TrainConfig)[] = ['epochs', 'learningRate', 'out', 'threads'];

/**
 * The configuration a resumed run continues with: the saved one, where every setting
 * given must agree with it except those in CHANGEABLE_ON_RESUME.
 */
export function resumeConfig(saved: TrainConfig, given: Partial<TrainConfig>): TrainConfig {
  const changes = definedOnly(given);
  for (const [key, value] of Object.entries(changes) as Array<[keyof TrainConfig, unknown]>) {
    if (CHANGEABLE_ON_RESUME.includes(key) || value === saved[key]) continue;
    throw new UserError(
      `${CONFIG_FLAGS[key]} ${String(value)} differs from the checkpoint's ${String(saved[key])}; ` +
        `--resume continues the saved run: drop the flag, or train into a new --out`,
    );
  }
  const config = { ...saved, ...changes };
  checkConfig(config);
  return config;
}

function checkConfig(c: TrainConfig): void {
  positiveInteger(c.epochs, 'epochs');
  positiveInteger(c.batchSize, 'batchSize');
  positiveInteger(c.threads, 'threads');
  if (c.limit !== null) positiveInteger(c.limit, 'limit');
  if (c.valLimit !== null) positiveInteger(c.valLimit, 'valLimit');
  if (!Number.isInteger(c.seed) || c.seed < 0 || c.seed > 0xffffffff) {
    throw new UserError(`${CONFIG_FLAGS.seed} must be an integer in 0..4294967295, got ${c.seed}`);
  }
  if (!(Number.isFinite(c.learningRate) && c.learningRate > 0)) {
    throw new UserError(`${CONFIG_FLAGS.learningRate} must be a positive number, got ${c.learningRate}`);
  }
  if (!INTERPOLATIONS.includes(c.interpolation)) {
    throw new UserError(`${CONFIG_FLAGS.interpolation} must be one of ${INTERPOLATIONS.join(', ')}, got '${c.interpolation}'`);
  }
  if (STAGE_SPECS[c.stage].startsFromRegular && !c.from) {
    throw new UserError(`${STAGE_SPECS[c.stage].command} needs ${CONFIG_FLAGS.from} (a regular-CNN checkpoint)`);
  }
  // Checkpoints from before --control existed have no such field.
  const control = c.control ?? null;
  if (control !== null) {
    if (!CONTROLS.includes(control)) {
      throw new UserError(`${CONFIG_FLAGS.control} must be one of ${CONTROLS.join(', ')}, got '${String(control)}'`);
    }
    if (STAGE_SPECS[c.stage].model !== 'deform') {
      throw new UserError(`${CONFIG_FLAGS.control} is a setting of ${STAGE_SPECS.deform.command}, not of ${STAGE_SPECS[c.stage].command}`);
    }
    if (c.freezeBn) {
      throw new UserError(`${CONFIG_FLAGS.control} ${control} trains only BatchNorm; with ${CONFIG_FLAGS.freezeBn} nothing would learn`);
    }
  }
  // Checkpoints from before --deform-type existed have no such field: they are 'seed' runs.
  const deformType = c.deformType ?? 'seed';
  if (!DEFORM_TYPES.includes(deformType)) {
    throw new UserError(`${CONFIG_FLAGS.deformType} must be one of ${DEFORM_TYPES.join(', ')}, got '${String(deformType)}'`);
  }
  if (deformType !== 'seed' && STAGE_SPECS[c.stage].model !== 'deform') {
    throw new UserError(`${CONFIG_FLAGS.deformType} is a setting of ${STAGE_SPECS.deform.command}, not of ${STAGE_SPECS[c.stage].command}`);
  }
  if (deformType !== 'seed' && c.control) {
    throw new UserError(
      `${CONFIG_FLAGS.control} ${c.control} fine-tunes the regular CNN; ${CONFIG_FLAGS.deformType} ${deformType} does not apply`,
    );
  }
}

function positiveInteger(value: number, key: keyof TrainConfig): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new UserError(`${CONFIG_FLAGS[key]} must be a positive integer, got ${value}`);
  }
}

function definedOnly<T extends object>(given: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<T>;
}
