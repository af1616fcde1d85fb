/**
 * What a training run saves: the state in every checkpoint (state.json) and the metrics
 * file beside the checkpoints (<out>/metrics.json), which pictures and the report read.
 * This module owns both formats.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RngState } from '../augment/random';
import { BackendRecord } from '../backend/select';
import { UserError } from '../errors';
import { TestVariant } from '../evaluation/evaluate';
import { AdamScalars } from '../optimizers/adam';
import { METRICS_FILE } from './checkpoint';
import { Stage, TrainConfig } from './config';

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
export interface PartialEpoch {
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

/** The fixed scaled test set a run was validated and evaluated on. */
export interface ScaledTestRecord {
  seed: number;
  interpolation: string;
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
  backend: BackendRecord;
  source: SourceRecord | null;
  scaledTest: ScaledTestRecord;
  savedAt: string;
}

/** <out>/metrics.json: the run's settings and its per-epoch history. */
export interface StageMetrics {
  stage: Stage;
  config: TrainConfig;
  completedEpochs: number;
  backend: BackendRecord;
  source: SourceRecord | null;
  scaledTest: ScaledTestRecord;
  epochs: EpochRecord[];
}

/** The metrics file of a training state. */
export function stageMetrics(state: TrainingState): StageMetrics {
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

/** Reads <dir>/metrics.json of a training run. */
export function readStageMetrics(dir: string): StageMetrics {
  const file = path.join(dir, METRICS_FILE);
  let parsed: StageMetrics;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as StageMetrics;
  } catch (err) {
    throw new UserError(`cannot read training metrics ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed.epochs)) throw new UserError(`${file} has no "epochs" list (is it a training metrics file?)`);
  return parsed;
}
