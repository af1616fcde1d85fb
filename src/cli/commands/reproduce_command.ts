/** `deformconv reproduce`: the whole experiment: data, train, fine-tune, evaluate, table, results/metrics.json. */
import { Command, Option } from 'commander';
import { Preset, PRESET_SPECS, PRESETS, reproduce, ReproduceResult } from '../../experiment/reproduce';
import { startBackend } from '../backend';
import { dataDirOption, intInRange, nonNegativeInt, positiveInt } from '../flags';
import { runInterruptible } from '../interrupt';
import { downloadReporter } from '../download_progress';
import { resumeCommand } from '../training';

interface ReproduceFlags {
  preset: Preset;
  out: string;
  dataDir: string;
  seed?: number;
  threads?: number;
  limit?: number;
  valLimit?: number;
  testLimit?: number;
  resume: boolean;
}

/** Says where the run stopped and the command that resumes it, with the same flags. */
function reportInterrupted(result: ReproduceResult, flags: ReproduceFlags, command: Command): void {
  const stage = result.interruptedStage;
  process.stderr.write(`interrupted${stage ? ` during the ${stage} stage; checkpoint in ${result.checkpoints[stage]}` : ''}\n`);
  const extra = [`--preset ${flags.preset}`];
  if (flags.seed !== undefined) extra.push(`--seed ${flags.seed}`);
  for (const [flag, value] of [
    ['--threads', flags.threads],
    ['--limit', flags.limit],
    ['--val-limit', flags.valLimit],
    ['--test-limit', flags.testLimit],
  ] as const) {
    if (value !== undefined) extra.push(`${flag} ${value}`);
  }
  process.stderr.write(`resume with: ${resumeCommand('reproduce', flags.out, flags.dataDir, command, extra.join(' '))}\n`);
}

export function reproduceCommand(): Command {
  return new Command('reproduce')
    .description(
      'run the whole experiment: download if needed, train, fine-tune, evaluate, print the table, write <out>/results/metrics.json',
    )
    .addOption(
      new Option('--preset <name>', PRESETS.map((p) => `${p}: ${PRESET_SPECS[p].description}`).join('; '))
        .choices(PRESETS)
        .default('quick'),
    )
    .option('--out <dir>', 'where checkpoints/ and results/ go', '.')
    .addOption(dataDirOption())
    .option('--seed <n>', 'seed of both stages (default 1)', nonNegativeInt)
    .option(
      '--threads <n>',
      "data-parallel replicas of both stages, instead of the preset's (paper: all cores, quick: 2, smoke: 1; on wasm and cpu, other backends run 1)",
      intInRange(1, 64),
    )
    .option('--limit <n>', "train each stage on the first N training images, instead of the preset's", positiveInt)
    .option('--val-limit <n>', "validate each epoch on the first N test images, instead of the preset's", positiveInt)
    .option('--test-limit <n>', "evaluate on the first N test images, instead of the preset's (smoke: 200, else all)", positiveInt)
    .option('--resume', 'continue the checkpoints under --out (finished stages are kept)', false)
    .action(async (flags: ReproduceFlags, command: Command) => {
      const backend = await startBackend(command);
      const { result, signalExitCode } = await runInterruptible((shouldStop) =>
        reproduce({
          preset: flags.preset,
          out: flags.out,
          dataDir: flags.dataDir,
          seed: flags.seed,
          threads: flags.threads,
          limit: flags.limit,
          valLimit: flags.valLimit,
          testLimit: flags.testLimit,
          resume: flags.resume,
          backend,
          shouldStop,
          downloadReporter: downloadReporter(),
        }),
      );
      if (result.status === 'interrupted') {
        reportInterrupted(result, flags, command);
        process.exitCode = signalExitCode ?? 130;
        return;
      }
      process.stdout.write(`${result.table}\n`);
    });
}
