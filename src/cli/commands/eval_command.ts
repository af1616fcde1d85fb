/** `deformconv eval`: accuracy of saved models on plain and scaled MNIST, beside the reference's. */
import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { loadMnistSplit } from '../../data/mnist';
import { UserError } from '../../errors';
import { evaluateCheckpoints } from '../../experiment/evaluate_checkpoints';
import { Interpolation, INTERPOLATIONS } from '../../augment/zoom_shift';
import { DEFAULT_SCALED_TEST } from '../../evaluation/evaluate';
import { accuracyTable, ModelName } from '../../evaluation/table';
import { STAGE_SPECS } from '../../training/config';
import { startBackend } from '../backend';
import { dataDirOption, positiveInt } from '../flags';

interface EvalFlags {
  regular?: string;
  deform?: string;
  json: boolean;
  limit?: number;
  scaledSeed: number;
  interpolation: Interpolation;
  dataDir: string;
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('accuracy of the saved models on the plain and the scaled test set (fixed seed), beside the reference table')
    .option('--regular <dir>', `regular-CNN checkpoint (default ${STAGE_SPECS.regular.defaults.out}, skipped if absent)`)
    .option('--deform <dir>', `deformable-CNN checkpoint (default ${STAGE_SPECS.deform.defaults.out}, skipped if absent)`)
    .option(
      '--json',
      'print {"regular":{"plain":a,"scaled":b},"deform":{...}} (fractions; plus "deformType" for a dcn/dcnv2 model) instead of the table',
      false,
    )
    .option('--limit <n>', 'evaluate on the first N test images only (default all 10,000)', positiveInt)
    .option(
      '--scaled-seed <n>',
      'draw the scaled test set from another seed, to see how much the scaled figure moves with the draw (the reference redrew it at every evaluation)',
      positiveInt,
      DEFAULT_SCALED_TEST.seed,
    )
    .addOption(
      new Option('--interpolation <mode>', 'resampling of the scaled test set')
        .choices(INTERPOLATIONS)
        .default(DEFAULT_SCALED_TEST.interpolation),
    )
    .addOption(dataDirOption())
    .action(async (flags: EvalFlags, command: Command) => {
      const checkpoints: Partial<Record<ModelName, string>> = {};
      for (const name of ['regular', 'deform'] as const) {
        const given = flags[name];
        const fallback = STAGE_SPECS[name].defaults.out;
        if (given !== undefined) checkpoints[name] = given;
        else if (fs.existsSync(fallback)) checkpoints[name] = fallback;
      }
      if (Object.keys(checkpoints).length === 0) {
        throw new UserError(
          `no checkpoints to evaluate: neither ${STAGE_SPECS.regular.defaults.out} nor ${STAGE_SPECS.deform.defaults.out} exists; ` +
            'pass --regular and/or --deform',
        );
      }
      await startBackend(command);
      const test = await loadMnistSplit('test', { dataDir: flags.dataDir });
      const scaledTest = { seed: flags.scaledSeed, interpolation: flags.interpolation };
      const report = await evaluateCheckpoints({ checkpoints, test, limit: flags.limit, scaledTest });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
        return;
      }
      const count = flags.limit ?? test.count;
      process.stdout.write(
        `${accuracyTable(report)}\n\nScaled MNIST: the first ${count} test digits, each zoomed and shifted once ` +
          `(seed ${scaledTest.seed}, ${scaledTest.interpolation}). Protocol: docs/EXPERIMENT.md.\n`,
      );
    });
}
