/**
 * `eval`: the accuracy of trained checkpoints on the plain and the scaled test set.
 */

import { MnistSplit } from '../data/mnist_split';
import { UserError } from '../errors';
import { loadTrainedModel } from '../training/train';
import { evaluateModel, ScaledTest } from '../evaluation/evaluate';
import { AccuracyReport, ModelName } from '../evaluation/table';

/** Which checkpoints evaluateCheckpoints measures, on which test images. */
export interface EvaluateCheckpointsOptions {
  /** Checkpoint directory of each model to evaluate (train-regular / finetune-deform --out). */
  checkpoints: Partial<Record<ModelName, string>>;
  test: MnistSplit;
  /** Evaluate on the first N test images only (default all). */
  limit?: number;
  /** How the scaled test set is drawn (default: the fixed one every figure uses). */
  scaledTest?: ScaledTest;
  /** Polled between models: true stops early (what was measured is returned). */
  shouldStop?: () => boolean;
}

/** Accuracy of each checkpoint's model on plain and scaled test images. */
export async function evaluateCheckpoints(options: EvaluateCheckpointsOptions): Promise<AccuracyReport> {
  const report: AccuracyReport = {};
  for (const [name, dir] of Object.entries(options.checkpoints) as Array<[ModelName, string | undefined]>) {
    if (dir === undefined || options.shouldStop?.()) continue;
    const { model, state } = loadTrainedModel(dir);
    try {
      if (state.config.stage !== name) {
        throw new UserError(`--${name} ${dir} holds a ${state.config.stage} checkpoint, not a ${name} one`);
      }
      report[name] = await evaluateModel(model, options.test, options.limit, options.scaledTest);
      // Checkpoints from before --deform-type have none: they are 'seed' runs.
      const { deformType } = state.config;
      if (name === 'deform' && deformType && deformType !== 'seed') report.deformType = deformType;
    } finally {
      model.dispose();
    }
  }
  return report;
}
