/** `deformconv demo`: the live web page of both models, served locally or written as static files. */
import { Command, Option } from 'commander';
import * as fs from 'node:fs';
import { buildDemoSite, checkDemoSources, demoMounts, DemoSources } from '../../demo/site';
import { startStaticServer } from '../../demo/static_server';
import { EnvironmentError } from '../../errors';
import { STAGE_SPECS } from '../../training/config';
import { dataDirOption, intInRange } from '../flags';

interface DemoFlags {
  regular?: string;
  deform?: string;
  port: number;
  host: string;
  build?: string;
  shippedDeform: 'deform' | 'dcnv2';
  dataDir: string;
}

const DEFAULT_PORT = 8080;
const SHIPPED = 'the model shipped with the package';

/** The checkpoint directory a role shows: the flag's, else the default one where it exists; undefined: the shipped model. */
function checkpointsOf(flags: DemoFlags, role: 'regular' | 'deform'): string | undefined {
  const fallback = STAGE_SPECS[role].defaults.out;
  return flags[role] ?? (fs.existsSync(fallback) ? fallback : undefined);
}

function modelLabel(sources: DemoSources, role: 'regular' | 'deform'): string {
  return sources[role] ?? `the shipped ${role === 'deform' ? sources.shippedDeform : role} model`;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'serve a web page where you draw or pick a digit, scale it, and watch the regular and the deformable CNN predict it live ' +
        'and where they look (on webgl, wasm, webgpu or cpu, in the browser); --build writes the same page as static files',
    )
    .option(
      '--regular <dir>',
      `regular-CNN checkpoint directory (default ${STAGE_SPECS.regular.defaults.out} if it exists, else ${SHIPPED})`,
    )
    .option(
      '--deform <dir>',
      `deformable-CNN checkpoint directory, any --deform-type (default ${STAGE_SPECS.deform.defaults.out} if it exists, else ${SHIPPED})`,
    )
    .option('--port <n>', 'port to listen on (0: any free one)', intInRange(0, 65535), DEFAULT_PORT)
    .option('--host <address>', 'address to listen on; the default serves this machine only', '127.0.0.1')
    .addOption(
      new Option('--shipped-deform <model>', 'which shipped deformable CNN shows without --deform: deform (seed offsets) or dcnv2')
        .choices(['deform', 'dcnv2'])
        .default('deform'),
    )
    .option('--build <dir>', 'instead of serving, write the page, both models and the test digits into a new directory for any static host')
    .addOption(dataDirOption())
    .action(async (flags: DemoFlags) => {
      const sources: DemoSources = {
        regular: checkpointsOf(flags, 'regular'),
        deform: checkpointsOf(flags, 'deform'),
        shippedDeform: flags.shippedDeform,
        dataDir: flags.dataDir,
      };
      if (flags.build !== undefined) {
        await buildDemoSite(sources, flags.build);
        process.stdout.write(`${flags.build}\n`);
        process.stderr.write(
          'a static site: serve it over HTTP with the headers Cross-Origin-Opener-Policy: same-origin and ' +
            "Cross-Origin-Embedder-Policy: require-corp (for the wasm backend's threads; it runs without them, single-threaded)\n",
        );
        return;
      }
      await checkDemoSources(sources);
      const server = await startStaticServer({ mounts: demoMounts(sources), host: flags.host, port: flags.port }).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE')
            throw new EnvironmentError(`port ${flags.port} on ${flags.host} is in use; pick another with --port`);
          if (err.code === 'EADDRNOTAVAIL') throw new EnvironmentError(`${flags.host} is not an address of this machine (--host)`);
          throw err;
        },
      );
      process.stdout.write(`${server.url}\n`);
      process.stderr.write(
        `serving the demo of ${modelLabel(sources, 'regular')} and ${modelLabel(sources, 'deform')}; ` +
          'open the address above in a browser (Ctrl-C stops)\n',
      );
      await new Promise<void>((resolve) => ['SIGINT', 'SIGTERM'].forEach((signal) => process.once(signal, () => resolve())));
      await server.close();
    });
}
