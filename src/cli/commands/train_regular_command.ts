/** `deformconv train-regular`: train the regular CNN on plain MNIST. */
import { Command } from 'commander';
import { addTrainingOptions, runTrainingCommand, TrainingFlags } from '../training';

export function trainRegularCommand(): Command {
  return addTrainingOptions(
    new Command('train-regular').description(
      'train the regular CNN on plain MNIST (Adam, shuffled every epoch); a checkpoint at every epoch, Ctrl-C saves and exits 130',
    ),
    'regular',
  ).action((flags: TrainingFlags, command: Command) => runTrainingCommand('regular', flags, command));
}
