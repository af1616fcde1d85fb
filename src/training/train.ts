/**
 * The training loop of both stages: a custom loop (one optimisation step per batch over
 * the trainable variables, data-parallel over `threads` replicas), shuffled every epoch
 * from a seeded RNG, with fresh augmentation every epoch for the fine-tune, a validation
 * line per epoch, and a checkpoint at every epoch's end.
 *
 * Exactness of resume: everything random in an epoch (the shuffle, the augmentation
 * parameters) is drawn at the epoch's start from the RNG state saved with the
 * checkpoint, so a run resumed from any checkpoint (even one taken mid-epoch on Ctrl-C)
 * replays the same batches, and with the model, BatchNorm statistics and the complete
 * Adam state restored, ends bit-identical to an uninterrupted run on the same backend.
 */

import * as tf from '@tensorflow/tfjs';
import { Rng, RngState } from '../augment/random';
import { sampleZoomShift, zoomShift, ZoomShiftParams } from '../augment/zoom_shift';
import { backendRecord, BackendDescription } from '../backend/select';
import { MnistData, mnistBatch } from '../data/mnist_split';
import { UserError } from '../errors';
import { evalSet, evaluate, SCALED_TEST_INTERPOLATION, SCALED_TEST_SEED, TestVariant } from '../evaluation/evaluate';
import { buildDeformCnn, buildRegularCnn, DeformType } from '../models/cnn';
import { transferRegularWeights } from '../models/from_regular';
import { transferWeights } from '../models/transfer';
import { saveOffsetSnapshot } from './offset_snapshots';
import {
  ensureCheckpointDir,
  latestCheckpointName,
  LoadedCheckpoint,
  readCheckpoint,
  saveCheckpoint,
} from './checkpoint';
import { resolveConfig, resumeConfig, Stage, STAGE_SPECS, STAGES, TrainConfig } from './config';
import { AdamScalars, adamScalars, createAdam, restoreAdam } from '../optimizers/adam';
import { trainableVariables } from './parallel/replica';
import { createStepRunner, StepRunner, StepRunResult } from './parallel/step_runner';
import { EpochProgress, formatDuration } from './progress';

/** One finished epoch. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  /** Validation on the first `valLimit` test images, per variant. */
  val: Partial<Record<TestVariant, { loss: number; accuracy: number }>>;
  seconds: number;
  imagesPerSecond: number;
  backend: string;
}

/** Running sums of an epoch that a checkpoint interrupted. */
interface PartialEpoch {
  lossSum: number;
  correct: number;
  seen: number;
  seconds: number;
}

/** Where a fine-tune's base weights came from. */
export interface SourceRecord {
  checkpoint: string;
  name: string;
  epoch: number;
  epochs: number;
}

/** Saved in every checkpoint's state.json. */
export interface TrainingState {
  config: TrainConfig;
  /** Completed epochs. */
  epoch: number;
  /** Completed steps of epoch `epoch` (0 at an epoch boundary). */
  step: number;
  stepsPerEpoch: number;
  /** The RNG state at the start of epoch `epoch`, before its shuffle. */
  epochRng: RngState;
  partial: PartialEpoch | null;
  adam: AdamScalars;
  metrics: EpochRecord[];
  backend: Record<string, string | number | boolean>;
  source: SourceRecord | null;
  scaledTest: { seed: number; interpolation: string };
  savedAt: string;
}

/** What train (and trainRegular, finetuneDeform) runs on, and how it reports and stops. */
export interface TrainOptions {
  /** The settings given (a fresh run defaults the rest; a resumed run must agree with its checkpoint). */
  config?: Partial<TrainConfig>;
  /** Continue from the checkpoint in `config.out` (a fresh start if there is none). */
  resume?: boolean;
  data: MnistData;
  /** What runs the math, as useBackend() described it (recorded in the metrics). */
  backend?: BackendDescription;
  /** Where status lines go (default: stderr). */
  log?: (line: string) => void;
  /** Polled between steps: true stops the run after saving a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
  /** A live progress bar (default: when stderr is a terminal). */
  progress?: boolean;
}

/** What a training run ended with. */
export interface TrainResult {
  /** 'interrupted': `shouldStop` turned true; the checkpoint holds the run so far. */
  status: 'completed' | 'interrupted';
  config: TrainConfig;
  /** The latest checkpoint's directory (undefined if stopped before the first one). */
  checkpoint: string | undefined;
  state: TrainingState;
  /** The trained model; the caller disposes it. */
  model: tf.LayersModel;
}

/** Trains the regular CNN on plain MNIST (train-regular). */
export function trainRegular(options: TrainOptions): Promise<TrainResult> {
  return train('regular', options);
}

/** Fine-tunes the deformable CNN's offsets on scaled MNIST from a regular checkpoint (finetune-deform). */
export function finetuneDeform(options: TrainOptions): Promise<TrainResult> {
  return train('deform', options);
}

/** Builds the model a stage trains, with the stage's layers frozen (the bn-only control: the regular CNN). */
export function buildStageModel(config: TrainConfig): tf.LayersModel {
  const spec = STAGE_SPECS[config.stage];
  const options = { seed: config.seed, trainableBase: spec.trainableBase, freezeBn: config.freezeBn, deformType: config.deformType };
  return spec.model === 'deform' && config.control !== 'bn-only' ? buildDeformCnn(options) : buildRegularCnn(options);
}

/** The trained model of a checkpoint directory (written by either stage). */
export function loadTrainedModel(dir: string): { model: tf.LayersModel; state: TrainingState } {
  const checkpoint = readCheckpoint<TrainingState>(dir);
  try {
    const stage = checkpoint.state.config?.stage;
    if (!(STAGES as readonly unknown[]).includes(stage)) {
      throw new UserError(`checkpoint ${checkpoint.dir} is of an unknown stage '${String(stage)}'`);
    }
    const model = buildStageModel(checkpoint.state.config);
    try {
      transferWeights(checkpoint.weights, model, { sourceLabel: `checkpoint ${checkpoint.dir}` });
    } catch (err) {
      model.dispose();
      throw err;
    }
    return { model, state: checkpoint.state };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/**
 * Runs (or, with `resume`, continues) a stage: writes a checkpoint into `config.out` at
 * every epoch's end and when `shouldStop` turns true, and returns the trained model.
 */
export async function train(stage: Stage, options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const spec = STAGE_SPECS[stage];
  const given = options.config ?? {};
  const out = given.out ?? spec.defaults.out;
  const { train: trainSplit, test: testSplit } = options.data;
  const backend = options.backend ? backendRecord(options.backend) : { name: tf.getBackend() };

  const checkpoint = openCheckpoint(stage, out, options.resume === true, log);
  let config: TrainConfig;
  try {
    config = checkpoint ? resumeConfig(checkpoint.state.config, { ...given, out }) : resolveConfig(stage, { ...given, out });
    ensureCheckpointDir(out);
  } catch (err) {
    if (checkpoint) disposeCheckpoint(checkpoint);
    throw err;
  }
  const trainCount = Math.min(config.limit ?? trainSplit.count, trainSplit.count);
  const stepsPerEpoch = Math.ceil(trainCount / config.batchSize);
  const valCount = Math.min(config.valLimit ?? testSplit.count, testSplit.count);
  const valSets = spec.validation.map((variant) => evalSet(testSplit, variant, valCount));

  const model = buildStageModel(config);
  const optimizer = createAdam(config.learningRate);
  let runner: StepRunner | undefined;
  try {
    let state: TrainingState;
    if (checkpoint) {
      try {
        state = await restoreRun(checkpoint, model, optimizer, config, stepsPerEpoch, backend, log);
      } finally {
        disposeCheckpoint(checkpoint);
      }
    } else {
      state = {
        config,
        epoch: 0,
        step: 0,
        stepsPerEpoch,
        epochRng: new Rng(config.seed).getState(),
        partial: null,
        adam: adamScalars(optimizer),
        metrics: [],
        backend,
        source: spec.startsFromRegular ? loadRegularInto(model, config.from as string, config.deformType, log) : null,
        scaledTest: { seed: SCALED_TEST_SEED, interpolation: SCALED_TEST_INTERPOLATION },
        savedAt: '',
      };
      await saveOffsetSnapshot(out, 0, model);
    }
    state.backend = backend;
    runner = await createStepRunner({ model, optimizer, threads: config.threads });

    let checkpointDir = checkpoint?.dir;
    const keptMessage = (): string => `The last good checkpoint (${checkpointDir ?? 'none yet'}) is kept; try a lower --lr`;
    const save = async (): Promise<void> => {
      const broken = model.weights.find((w) => !Number.isFinite(tf.tidy(() => tf.sum(w.read()).dataSync()[0])));
      if (broken !== undefined) {
        throw new UserError(`weight '${broken.originalName}' is no longer finite ${position(state)}; not saving it. ${keptMessage()}`);
      }
      checkpointDir = await saveRun(out, model, optimizer, state);
    };
    const progress = new EpochProgress(log, options.progress ?? process.stderr.isTTY === true);
    const finish = (status: TrainResult['status']): TrainResult => ({ status, config, checkpoint: checkpointDir, state, model });

    while (state.epoch < config.epochs) {
      const label = `epoch ${state.epoch + 1}/${config.epochs}`;
      // Everything random in this epoch comes from the RNG state saved at its start.
      const rng = Rng.fromState(state.epochRng);
      const order = rng.permutation(trainCount);
      const augmentation = spec.augment ? sampleZoomShift(trainCount, rng) : undefined;
      const nextEpochRng = rng.getState();

      const partial = state.partial ?? { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      const sessionStart = Date.now();
      let sessionSeen = 0;
      progress.start(label, stepsPerEpoch, state.step);
      while (state.step < stepsPerEpoch) {
        const begin = state.step * config.batchSize;
        const end = Math.min(begin + config.batchSize, trainCount);
        const { xs, ys } = trainingBatch(trainSplit, order.subarray(begin, end), augmentation?.slice(begin, end), config);
        let result: StepRunResult;
        try {
          result = await runner.step(xs, ys);
        } finally {
          tf.dispose([xs, ys]);
        }
        if (!Number.isFinite(result.loss)) {
          progress.stop();
          throw new UserError(
            `loss became ${result.loss} at epoch ${state.epoch + 1}, step ${state.step + 1} of ${stepsPerEpoch}; ` +
              `training stopped. ${keptMessage()}`,
          );
        }
        partial.lossSum += result.loss * (end - begin);
        partial.correct += result.correct;
        partial.seen += end - begin;
        sessionSeen += end - begin;
        state.step += 1;
        progress.update(state.step, {
          loss: partial.lossSum / partial.seen,
          accuracy: partial.correct / partial.seen,
          imagesPerSecond: sessionSeen / Math.max((Date.now() - sessionStart) / 1000, 1e-3),
        });
        // Let the Ctrl-C handler and the progress bar's timer run.
        await new Promise((resolve) => setImmediate(resolve));
        if (options.shouldStop?.() && state.step < stepsPerEpoch) {
          progress.stop();
          partial.seconds += (Date.now() - sessionStart) / 1000;
          state.partial = partial;
          await save();
          return finish('interrupted');
        }
      }
      progress.stop();
      const trainSeconds = partial.seconds + (Date.now() - sessionStart) / 1000;

      const val: EpochRecord['val'] = {};
      for (const set of valSets) {
        const result = await evaluate(model, set);
        if (!Number.isFinite(result.loss)) {
          // BatchNorm normalises each training batch by its own statistics, so a diverged model can keep a finite
          // training loss; validation, with the moving statistics, is where it shows.
          throw new UserError(
            `validation loss is ${result.loss} after epoch ${state.epoch + 1} (step ${stepsPerEpoch} of ${stepsPerEpoch}); ` +
              `training stopped. ${keptMessage()}`,
          );
        }
        val[set.variant] = { loss: result.loss, accuracy: result.accuracy };
      }
      const record: EpochRecord = {
        epoch: state.epoch + 1,
        loss: partial.lossSum / partial.seen,
        accuracy: partial.correct / partial.seen,
        val,
        seconds: trainSeconds,
        imagesPerSecond: trainCount / trainSeconds,
        backend: String(backend.name),
      };
      log(epochLine(label, record, valCount));
      state.metrics.push(record);
      state.epoch += 1;
      state.step = 0;
      state.partial = null;
      state.epochRng = nextEpochRng;
      // For the per-epoch pictures (a no-op without offset layers); before the checkpoint, so a resume rewrites it.
      await saveOffsetSnapshot(out, state.epoch, model);
      await save();
      if (options.shouldStop?.() && state.epoch < config.epochs) return finish('interrupted');
    }
    return finish('completed');
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    await runner?.dispose();
    optimizer.dispose();
  }
}

/**
 * The checkpoint a run continues from: undefined for a fresh run. Refuses to start over
 * a checkpoint without `resume`, and to continue another stage's checkpoint.
 */
function openCheckpoint(
  stage: Stage,
  out: string,
  resume: boolean,
  log: (line: string) => void,
): LoadedCheckpoint<TrainingState> | undefined {
  const existing = latestCheckpointName(out);
  if (existing === undefined) {
    if (resume) log(`no checkpoint in ${out} yet: starting a new run`);
    return undefined;
  }
  if (!resume) {
    throw new UserError(`${out} already holds a checkpoint (${existing}); pass --resume to continue it, or choose another --out`);
  }
  const checkpoint = readCheckpoint<TrainingState>(out);
  const savedStage = checkpoint.state.config?.stage;
  if (savedStage !== stage) {
    disposeCheckpoint(checkpoint);
    throw new UserError(`${out} holds a ${savedStage ?? 'foreign'} checkpoint, not a ${stage} one`);
  }
  return checkpoint;
}

/** Loads a checkpoint's model and optimizer state and returns its training state, under `config`. */
async function restoreRun(
  checkpoint: LoadedCheckpoint<TrainingState>,
  model: tf.LayersModel,
  optimizer: tf.AdamOptimizer,
  config: TrainConfig,
  stepsPerEpoch: number,
  backend: TrainingState['backend'],
  log: (line: string) => void,
): Promise<TrainingState> {
  const saved = checkpoint.state;
  const label = `checkpoint ${checkpoint.dir}`;
  if (saved.stepsPerEpoch !== stepsPerEpoch) {
    throw new UserError(`${label} was taken with ${saved.stepsPerEpoch} steps per epoch, this data gives ${stepsPerEpoch}`);
  }
  transferWeights(checkpoint.weights, model, { sourceLabel: label });
  await restoreAdam(optimizer, checkpoint.optimizerWeights, saved.adam, trainableVariables(model), label);
  if (config.learningRate !== saved.config.learningRate) {
    log(`note: learning rate ${config.learningRate} replaces the saved ${saved.config.learningRate} from here on`);
  }
  if (saved.backend.name !== backend.name) {
    log(`note: this run was trained on ${saved.backend.name} and continues on ${backend.name}; it will not match an uninterrupted run bit for bit`);
  }
  log(`resuming ${config.out} from ${checkpoint.name} (${saved.epoch} of ${config.epochs} epochs done${saved.step ? `, and ${saved.step} steps` : ''})`);
  return { ...saved, config };
}

/** Writes the run's checkpoint (named after its progress) and returns its directory. */
async function saveRun(out: string, model: tf.LayersModel, optimizer: tf.AdamOptimizer, state: TrainingState): Promise<string> {
  state.adam = adamScalars(optimizer);
  state.savedAt = new Date().toISOString();
  const optimizerWeights = await optimizer.getWeights();
  try {
    return await saveCheckpoint(out, {
      name: checkpointName(state.epoch, state.step),
      model,
      optimizerWeights,
      state,
      metrics: metricsFile(state),
    });
  } finally {
    // getWeights() makes a fresh tensor for the iteration count; the rest are the optimizer's own.
    tf.dispose(optimizerWeights.filter((w) => !(w.tensor instanceof tf.Variable)).map((w) => w.tensor));
  }
}

/** One training batch: images (augmented if the stage augments) and one-hot labels. The caller disposes them. */
function trainingBatch(
  split: MnistData['train'],
  indices: Int32Array,
  augmentation: ZoomShiftParams[] | undefined,
  config: TrainConfig,
): { xs: tf.Tensor4D; ys: tf.Tensor } {
  const { xs, ys } = mnistBatch(split, indices);
  if (augmentation === undefined) return { xs, ys };
  const scaled = zoomShift(xs, augmentation, { interpolation: config.interpolation });
  xs.dispose();
  return { xs: scaled, ys };
}

/** Where a run stands, for messages. */
function position(state: TrainingState): string {
  return state.step > 0 ? `at epoch ${state.epoch + 1}, step ${state.step}` : `after epoch ${state.epoch}`;
}

/** Loads a regular checkpoint's weights into a fine-tune model and says where they came from. */
function loadRegularInto(model: tf.LayersModel, from: string, deformType: DeformType, log: (line: string) => void): SourceRecord {
  const source = readCheckpoint<TrainingState>(from);
  try {
    const sourceStage = source.state.config?.stage;
    if (sourceStage !== 'regular') {
      throw new UserError(`--from ${from} holds a ${sourceStage ?? 'foreign'} checkpoint; expected a regular CNN (train-regular)`);
    }
    transferRegularWeights(source.weights, model, deformType, `checkpoint ${source.dir}`);
    const { epoch, step, config } = source.state;
    if (epoch < config.epochs || step > 0) {
      log(`note: ${from} is an unfinished run (epoch ${epoch} of ${config.epochs}); fine-tuning from it anyway`);
    }
    return { checkpoint: from, name: source.name, epoch, epochs: config.epochs };
  } finally {
    disposeCheckpoint(source);
  }
}

function disposeCheckpoint(checkpoint: LoadedCheckpoint<unknown>): void {
  tf.dispose(Object.values(checkpoint.weights));
  tf.dispose(checkpoint.optimizerWeights.map((w) => w.tensor));
}

function checkpointName(epoch: number, step: number): string {
  const base = `epoch-${String(epoch).padStart(4, '0')}`;
  return step === 0 ? base : `${base}-step-${String(step).padStart(6, '0')}`;
}

function metricsFile(state: TrainingState): unknown {
  return {
    stage: state.config.stage,
    config: state.config,
    completedEpochs: state.epoch,
    backend: state.backend,
    source: state.source,
    scaledTest: state.scaledTest,
    epochs: state.metrics,
  };
}

function epochLine(label: string, r: EpochRecord, valCount: number | undefined): string {
  const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  const val = Object.entries(r.val)
    .map(([variant, v]) => `val ${variant} (${valCount}): loss ${v.loss.toFixed(4)}, acc ${pct(v.accuracy)}`)
    .join(' | ');
  return `${label}: loss ${r.loss.toFixed(4)}, acc ${pct(r.accuracy)} | ${val} | ${formatDuration(r.seconds)}, ${r.imagesPerSecond.toFixed(0)} img/s`;
}
