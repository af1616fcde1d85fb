/** `deformconv report`: the control experiment and results/REPORT.md, after `reproduce`. */
import { Command } from 'commander';
import { runReport } from '../../experiment/report';
import { startBackend } from '../backend';
import { dataDirOption, intInRange, nonNegativeInt } from '../flags';
import { runInterruptible } from '../interrupt';

interface ReportFlags {
  out: string;
  runs: number;
  index: number;
  dataDir: string;
}

/** More seeds than this would take days on a CPU; it is almost certainly a typo. */
const MAX_RUNS = 20;

export function reportCommand(): Command {
  return new Command('report')
    .description(
      "after reproduce: fine-tune the controls (BN-only regular CNN; deformable CNN with --freeze-bn) and the paper's " +
        'deformable convolution (--deform-type dcn and dcnv2) with the same recipe, evaluate all six models, draw the ' +
        'pictures and write <out>/results/REPORT.md',
    )
    .option('--out <dir>', "reproduce's --out (holds checkpoints/ and results/)", '.')
    .option('--runs <k>', 'repeat each fine-tune with K seeds and report mean and standard deviation', intInRange(1, MAX_RUNS), 1)
    .option('--index <n>', 'the test digit of the offset pictures', nonNegativeInt, 0)
    .addOption(dataDirOption())
    .action(async (flags: ReportFlags, command: Command) => {
      const backend = await startBackend(command);
      const { result, signalExitCode } = await runInterruptible((shouldStop) =>
        runReport({
          out: flags.out,
          runs: flags.runs,
          index: flags.index,
          dataDir: flags.dataDir,
          backend,
          shouldStop,
          command: `deformconv report${flags.runs > 1 ? ` --runs ${flags.runs}` : ''}`,
        }),
      );
      if (result.status === 'interrupted') {
        process.stderr.write(`interrupted; the runs trained so far are kept: rerun the same 'deformconv report' command to continue\n`);
        process.exitCode = signalExitCode ?? 130;
        return;
      }
      process.stdout.write(`${result.reportFile}\n`);
    });
}
