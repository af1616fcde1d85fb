/** `deformconv finetune-deform`: fine-tune the offset layers of the deformable CNN on scaled MNIST. */
import { Command } from 'commander';
import { addFineTuneOptions, addTrainingOptions, runTrainingCommand, TrainingFlags } from '../training';

export function finetuneDeformCommand(): Command {
  return addFineTuneOptions(
    addTrainingOptions(
      new Command('finetune-deform').description(
        'build the deformable CNN from a regular checkpoint, freeze conv11-conv22 and fc1, and fine-tune the offsets ' +
          '(and BatchNorm unless --freeze-bn) on freshly scale-augmented MNIST every epoch',
      ),
      'deform',
    ),
  ).action((flags: TrainingFlags, command: Command) => runTrainingCommand('deform', flags, command));
}
