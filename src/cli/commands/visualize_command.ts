/** `deformconv visualize`: pictures of what the offsets learned, the scaled digits and the training curves. */
import * as fs from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { loadMnistSplit } from '../../data/mnist';
import { UserError } from '../../errors';
import { cnnUnitGrid } from '../../tracing/offsets';
import { writePictures } from '../../experiment/write_pictures';
import { PICTURE_FILES, Unit } from '../../reporting/figures';
import { STAGE_SPECS } from '../../training/config';
import { startBackend } from '../backend';
import { dataDirOption, nonNegativeInt } from '../flags';

interface VisualizeFlags {
  deform?: string;
  regular?: string;
  index: number;
  unit?: Unit;
  out: string;
  dataDir: string;
}

/** "row,col" of a conv22 unit. */
function parseUnit(value: string): Unit {
  const match = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(value);
  const { rows, cols } = cnnUnitGrid();
  if (match === null) throw new InvalidArgumentError(`Expected row,col (e.g. 3,3) of conv22's ${rows}x${cols} output.`);
  const unit = { row: Number(match[1]), col: Number(match[2]) };
  if (unit.row >= rows || unit.col >= cols)
    throw new InvalidArgumentError(`Must be within conv22's ${rows}x${cols} output (0..${rows - 1}).`);
  return unit;
}

export function visualizeCommand(): Command {
  return new Command('visualize')
    .description(
      `draw ${Object.values(PICTURE_FILES).join(', ')}: the sampling locations and offset fields of the deformable CNN on a ` +
        'test digit, the per-epoch animation, the scaled test digits and the training curves (for a --deform-type dcn/dcnv2 ' +
        'checkpoint, the sampling locations of its per-tap offsets, without the offset field)',
    )
    .option(
      '--deform <dir>',
      `deformable-CNN checkpoint, any --deform-type (default ${STAGE_SPECS.deform.defaults.out}, skipped if absent)`,
    )
    .option(
      '--regular <dir>',
      `regular-CNN checkpoint, for its predictions and curves (default ${STAGE_SPECS.regular.defaults.out}, skipped if absent)`,
    )
    .option('--index <n>', 'the test digit to draw the offsets on', nonNegativeInt, 0)
    .option('--unit <row,col>', "the conv22 unit to trace (default: the unit nearest the digit's ink)", parseUnit)
    .option('--out <dir>', 'where the pictures go', 'results')
    .addOption(dataDirOption())
    .action(async (flags: VisualizeFlags, command: Command) => {
      const chosen = (given: string | undefined, fallback: string): string | undefined =>
        given ?? (fs.existsSync(fallback) ? fallback : undefined);
      const deform = chosen(flags.deform, STAGE_SPECS.deform.defaults.out);
      const regular = chosen(flags.regular, STAGE_SPECS.regular.defaults.out);
      await startBackend(command);
      const test = await loadMnistSplit('test', { dataDir: flags.dataDir });
      const log = (line: string): void => {
        process.stderr.write(`${line}\n`);
      };
      if (deform === undefined)
        log(`no deformable checkpoint (--deform, or ${STAGE_SPECS.deform.defaults.out}): offset pictures not drawn`);
      const written = await writePictures({ out: flags.out, test, deform, regular, index: flags.index, unit: flags.unit, log });
      if (Object.keys(written).length === 0) throw new UserError('nothing to draw');
      for (const file of Object.values(written)) process.stdout.write(`${file}\n`);
    });
}
