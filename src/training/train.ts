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
import { BackendRecord } from '../backend/select';
import { explainGpuFailure } from '../backend/webgpu_node';
import { MnistData, mnistBatch } from '../data/mnist_split';
import { UserError } from '../errors';
import { EvalSet, evalSet, evaluate, SCALED_TEST_INTERPOLATION, SCALED_TEST_SEED } from '../evaluation/evaluate';
import { formatPercent } from '../evaluation/table';
import { buildDeformCnn, buildRegularCnn, DeformType } from '../models/cnn';
import { transferRegularWeights } from '../models/from_regular';
import { transferWeights } from '../models/transfer';
import { adamScalars, createAdam, restoreAdam } from '../optimizers/adam';
import { ensureCheckpointDir, latestCheckpointName, LoadedCheckpoint, readCheckpoint, saveCheckpoint } from './checkpoint';
import { resolveConfig, resumeConfig, Stage, STAGE_SPECS, STAGES, StageSpec, TrainConfig } from './config';
import { saveOffsetSnapshot } from './offset_snapshots';
import { trainableVariables } from './parallel/replica';
import { createStepRunner, StepRunner } from './parallel/step_runner';
import { EpochProgress, formatDuration } from './epoch_progress';
import { RunOptions, runBackend, runLog } from './run_options';
import { EpochRecord, PartialEpoch, SourceRecord, stageMetrics, TrainingState } from './state';

/** What train (and trainRegular, finetuneDeform) runs on, and how it reports and stops. */
export interface TrainOptions extends RunOptions {
  /** The settings given (a fresh run defaults the rest; a resumed run must agree with its checkpoint). */
  config?: Partial<TrainConfig>;
  /** Continue from the checkpoint in `config.out` (a fresh start if there is none). */
  resume?: boolean;
  data: MnistData;
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
  const log = runLog(options);
  const { config, checkpoint } = openRun(stage, options, log);
  const plan = epochPlan(config, options.data);
  const model = buildStageModel(config);
  const optimizer = createAdam(config.learningRate);
  let runner: StepRunner | undefined;
  try {
    const backend = runBackend(options);
    const state = checkpoint
      ? await restoreRun(checkpoint, model, optimizer, config, plan.stepsPerEpoch, backend, log)
      : await startRun(config, model, optimizer, plan.stepsPerEpoch, backend, log);
    runner = await createStepRunner({ model, optimizer, threads: config.threads });
    const run = new StageRun(STAGE_SPECS[stage], options, log, plan, model, optimizer, runner, state, checkpoint?.dir);
    return await run.toEnd();
  } catch (err) {
    model.dispose();
    throw explainGpuFailure(err);
  } finally {
    await runner?.dispose();
    optimizer.dispose();
  }
}

/** How many images and steps an epoch has, and the validation sets. */
interface EpochPlan {
  trainCount: number;
  stepsPerEpoch: number;
  valCount: number;
  valSets: EvalSet[];
}

function epochPlan(config: TrainConfig, data: MnistData): EpochPlan {
  const trainCount = Math.min(config.limit ?? data.train.count, data.train.count);
  const valCount = Math.min(config.valLimit ?? data.test.count, data.test.count);
  return {
    trainCount,
    stepsPerEpoch: Math.ceil(trainCount / config.batchSize),
    valCount,
    valSets: STAGE_SPECS[config.stage].validation.map((variant) => evalSet(data.test, variant, valCount)),
  };
}

/**
 * The run's settings and the checkpoint it continues (undefined for a fresh run), with
 * the checkpoint directory checked writable. Refuses to start over a checkpoint without
 * `resume`, and to continue another stage's checkpoint.
 */
function openRun(
  stage: Stage,
  options: TrainOptions,
  log: (line: string) => void,
): { config: TrainConfig; checkpoint: LoadedCheckpoint<TrainingState> | undefined } {
  const given = options.config ?? {};
  const out = given.out ?? STAGE_SPECS[stage].defaults.out;
  const checkpoint = openCheckpoint(stage, out, options.resume === true, log);
  try {
    const config = checkpoint ? resumeConfig(checkpoint.state.config, { ...given, out }) : resolveConfig(stage, { ...given, out });
    ensureCheckpointDir(out);
    return { config, checkpoint };
  } catch (err) {
    if (checkpoint) disposeCheckpoint(checkpoint);
    throw err;
  }
}

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

/** The state of a fresh run (a fine-tune's base weights loaded), and its epoch-0 offset snapshot. */
async function startRun(
  config: TrainConfig,
  model: tf.LayersModel,
  optimizer: tf.AdamOptimizer,
  stepsPerEpoch: number,
  backend: BackendRecord,
  log: (line: string) => void,
): Promise<TrainingState> {
  const source = STAGE_SPECS[config.stage].startsFromRegular ? loadRegularInto(model, config.from as string, config.deformType, log) : null;
  await saveOffsetSnapshot(config.out, 0, model);
  return {
    config,
    epoch: 0,
    step: 0,
    stepsPerEpoch,
    epochRng: new Rng(config.seed).getState(),
    partial: null,
    adam: await adamScalars(optimizer),
    metrics: [],
    backend,
    source,
    scaledTest: { seed: SCALED_TEST_SEED, interpolation: SCALED_TEST_INTERPOLATION },
    savedAt: '',
  };
}

/** Loads a checkpoint's model and optimizer state and returns its training state, under `config`; frees the checkpoint. */
async function restoreRun(
  checkpoint: LoadedCheckpoint<TrainingState>,
  model: tf.LayersModel,
  optimizer: tf.AdamOptimizer,
  config: TrainConfig,
  stepsPerEpoch: number,
  backend: BackendRecord,
  log: (line: string) => void,
): Promise<TrainingState> {
  try {
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
      log(
        `note: this run was trained on ${saved.backend.name} and continues on ${backend.name}; it will not match an uninterrupted run bit for bit`,
      );
    }
    log(
      `resuming ${config.out} from ${checkpoint.name} (${saved.epoch} of ${config.epochs} epochs done${saved.step ? `, and ${saved.step} steps` : ''})`,
    );
    return { ...saved, config, backend };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** What an epoch draws from the RNG at its start: the order of the images and their transforms. */
interface EpochDraw {
  order: Int32Array;
  augmentation: ZoomShiftParams[] | undefined;
  /** The RNG state after the draw: the next epoch's start. */
  nextRng: RngState;
}

/** A stage being trained: its model, optimizer, step runner and state, epoch by epoch. */
class StageRun {
  private readonly config: TrainConfig;
  private readonly progress: EpochProgress;

  constructor(
    private readonly spec: StageSpec,
    private readonly options: TrainOptions,
    private readonly log: (line: string) => void,
    private readonly plan: EpochPlan,
    private readonly model: tf.LayersModel,
    private readonly optimizer: tf.AdamOptimizer,
    private readonly runner: StepRunner,
    private readonly state: TrainingState,
    private checkpointDir: string | undefined,
  ) {
    this.config = state.config;
    this.progress = new EpochProgress(log, options.progress ?? process.stderr.isTTY === true);
  }

  /** Trains the remaining epochs, or until shouldStop turns true. */
  async toEnd(): Promise<TrainResult> {
    while (this.state.epoch < this.config.epochs) {
      const finished = await this.trainEpoch();
      if (!finished || (this.options.shouldStop?.() && this.state.epoch < this.config.epochs)) return this.result('interrupted');
    }
    return this.result('completed');
  }

  private result(status: TrainResult['status']): TrainResult {
    return { status, config: this.config, checkpoint: this.checkpointDir, state: this.state, model: this.model };
  }

  /** One epoch (or the rest of an interrupted one); false when stopped before its end, after saving a checkpoint. */
  private async trainEpoch(): Promise<boolean> {
    const { state, plan } = this;
    const label = `epoch ${state.epoch + 1}/${this.config.epochs}`;
    const draw = this.drawEpoch();
    const partial = state.partial ?? { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
    const sessionStart = Date.now();
    let sessionSeen = 0;
    this.progress.start(label, plan.stepsPerEpoch, state.step);
    while (state.step < plan.stepsPerEpoch) {
      sessionSeen += await this.step(draw, partial);
      this.progress.update(state.step, {
        loss: partial.lossSum / partial.seen,
        accuracy: partial.correct / partial.seen,
        imagesPerSecond: sessionSeen / Math.max((Date.now() - sessionStart) / 1000, 1e-3),
      });
      // Let the Ctrl-C handler and the progress bar's timer run.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.options.shouldStop?.() && state.step < plan.stepsPerEpoch) {
        this.progress.stop();
        partial.seconds += (Date.now() - sessionStart) / 1000;
        state.partial = partial;
        await this.save();
        return false;
      }
    }
    this.progress.stop();
    await this.endEpoch(label, partial, partial.seconds + (Date.now() - sessionStart) / 1000, draw.nextRng);
    return true;
  }

  /** Everything random in an epoch comes from the RNG state saved at its start. */
  private drawEpoch(): EpochDraw {
    const rng = Rng.fromState(this.state.epochRng);
    const order = rng.permutation(this.plan.trainCount);
    const augmentation = this.spec.augment ? sampleZoomShift(this.plan.trainCount, rng) : undefined;
    return { order, augmentation, nextRng: rng.getState() };
  }

  /** One optimisation step on the next batch; returns the batch's size. */
  private async step(draw: EpochDraw, partial: PartialEpoch): Promise<number> {
    const { state, config, plan } = this;
    const begin = state.step * config.batchSize;
    const end = Math.min(begin + config.batchSize, plan.trainCount);
    const { xs, ys } = trainingBatch(
      this.options.data.train,
      draw.order.subarray(begin, end),
      draw.augmentation?.slice(begin, end),
      config,
    );
    let result;
    try {
      result = await this.runner.step(xs, ys);
    } finally {
      tf.dispose([xs, ys]);
    }
    if (!Number.isFinite(result.loss)) {
      this.progress.stop();
      throw new UserError(
        `loss became ${result.loss} at epoch ${state.epoch + 1}, step ${state.step + 1} of ${plan.stepsPerEpoch}; ` +
          `training stopped. ${this.keptMessage()}`,
      );
    }
    partial.lossSum += result.loss * (end - begin);
    partial.correct += result.correct;
    partial.seen += end - begin;
    state.step += 1;
    return end - begin;
  }

  /** Validates, records and logs the finished epoch, then saves its offset snapshot and checkpoint. */
  private async endEpoch(label: string, partial: PartialEpoch, seconds: number, nextRng: RngState): Promise<void> {
    const { state } = this;
    const record: EpochRecord = {
      epoch: state.epoch + 1,
      loss: partial.lossSum / partial.seen,
      accuracy: partial.correct / partial.seen,
      val: await this.validate(),
      seconds,
      imagesPerSecond: this.plan.trainCount / seconds,
      backend: String(state.backend.name),
    };
    this.log(epochLine(label, record, this.plan.valCount));
    state.metrics.push(record);
    state.epoch += 1;
    state.step = 0;
    state.partial = null;
    state.epochRng = nextRng;
    // For the per-epoch pictures (a no-op without offset layers); before the checkpoint, so a resume rewrites it.
    await saveOffsetSnapshot(this.config.out, state.epoch, this.model);
    await this.save();
  }

  private async validate(): Promise<EpochRecord['val']> {
    const val: EpochRecord['val'] = {};
    for (const set of this.plan.valSets) {
      const result = await evaluate(this.model, set);
      if (!Number.isFinite(result.loss)) {
        // BatchNorm normalises each training batch by its own statistics, so a diverged model can keep a finite
        // training loss; validation, with the moving statistics, is where it shows.
        const steps = this.plan.stepsPerEpoch;
        throw new UserError(
          `validation loss is ${result.loss} after epoch ${this.state.epoch + 1} (step ${steps} of ${steps}); ` +
            `training stopped. ${this.keptMessage()}`,
        );
      }
      val[set.variant] = { loss: result.loss, accuracy: result.accuracy };
    }
    return val;
  }

  /** Writes the run's checkpoint (named after its progress), refusing weights that are no longer finite. */
  private async save(): Promise<void> {
    const { model, optimizer, state } = this;
    const sums = tf.tidy(() => tf.stack(model.weights.map((w) => tf.sum(w.read()))));
    const finite = Array.from(await sums.data(), Number.isFinite);
    sums.dispose();
    const broken = model.weights.find((_, i) => !finite[i]);
    if (broken !== undefined) {
      throw new UserError(`weight '${broken.originalName}' is no longer finite ${position(state)}; not saving it. ${this.keptMessage()}`);
    }
    state.adam = await adamScalars(optimizer);
    state.savedAt = new Date().toISOString();
    const optimizerWeights = await optimizer.getWeights();
    try {
      this.checkpointDir = await saveCheckpoint(this.config.out, {
        name: checkpointName(state.epoch, state.step),
        model,
        optimizerWeights,
        state,
        metrics: stageMetrics(state),
      });
    } finally {
      // getWeights() makes a fresh tensor for the iteration count; the rest are the optimizer's own.
      tf.dispose(optimizerWeights.filter((w) => !(w.tensor instanceof tf.Variable)).map((w) => w.tensor));
    }
  }

  private keptMessage(): string {
    return `The last good checkpoint (${this.checkpointDir ?? 'none yet'}) is kept; try a lower --lr`;
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

function epochLine(label: string, r: EpochRecord, valCount: number): string {
  const val = Object.entries(r.val)
    .map(([variant, v]) => `val ${variant} (${valCount}): loss ${v.loss.toFixed(4)}, acc ${formatPercent(v.accuracy)}`)
    .join(' | ');
  return `${label}: loss ${r.loss.toFixed(4)}, acc ${formatPercent(r.accuracy)} | ${val} | ${formatDuration(r.seconds)}, ${r.imagesPerSecond.toFixed(0)} img/s`;
}
