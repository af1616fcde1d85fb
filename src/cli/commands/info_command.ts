/** `deformconv info`: what this installation can do: backends, versions, data, checkpoints. */
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Command, Option } from 'commander';
import { autoPick, BackendChoice, backendDetails, BackendProbe, probeBackends } from '../../backend/select';
import { checkFile, FileStatus, MNIST_FILES } from '../../data/checksums';
import { downloadCommandFor, mnistDir } from '../../data/mnist';
import { deformconvVersion } from '../../version';
import { dataDirOption } from '../flags';

const DEFAULT_CHECKPOINTS_DIR = 'checkpoints';
/** How deep under the checkpoints directory to look for model.json. */
const CHECKPOINT_SEARCH_DEPTH = 3;

interface InfoFlags {
  dataDir: string;
  checkpointsDir: string;
  json: boolean;
}

export interface Info {
  versions: { deformconv: string; node: string; tfjs: string };
  backends: BackendProbe[];
  /** What --backend auto picks here. */
  autoPicks: string | null;
  /** The current --backend / DEFORMCONV_BACKEND setting. */
  requested: BackendChoice;
  data: { dir: string; status: 'verified' | 'missing' | 'incomplete'; files: { name: string; status: FileStatus }[] };
  checkpoints: { dir: string; found: string[] };
}

export function infoCommand(): Command {
  return new Command('info')
    .description('show the backends available (and which auto picks), versions, MNIST data status and checkpoints found')
    .addOption(dataDirOption())
    .addOption(
      new Option('--checkpoints-dir <dir>', 'where to look for saved models (directories holding model.json)').default(
        DEFAULT_CHECKPOINTS_DIR,
      ),
    )
    .option('--json', 'print the information as JSON', false)
    .action(async (flags: InfoFlags, command: Command) => {
      const info = await gatherInfo(flags, command.optsWithGlobals<{ backend: BackendChoice }>().backend);
      process.stdout.write(flags.json ? `${JSON.stringify(info, null, 2)}\n` : formatInfo(info));
    });
}

async function gatherInfo(flags: InfoFlags, requested: BackendChoice): Promise<Info> {
  const backends = await probeBackends();
  const dir = mnistDir(flags.dataDir);
  const files = await Promise.all(
    MNIST_FILES.map(async (file) => ({ name: file.name, status: await checkFile(path.join(dir, file.name), file) })),
  );
  const verified = files.filter((file) => file.status === 'verified').length;
  const missing = files.filter((file) => file.status === 'missing').length;
  return {
    versions: { deformconv: deformconvVersion(), node: process.versions.node, tfjs: tf.version.tfjs },
    backends,
    autoPicks: autoPick(backends),
    requested,
    data: { dir, status: verified === files.length ? 'verified' : missing === files.length ? 'missing' : 'incomplete', files },
    checkpoints: { dir: flags.checkpointsDir, found: await findCheckpoints(flags.checkpointsDir) },
  };
}

function formatInfo(info: Info): string {
  const lines = [`deformconv ${info.versions.deformconv} (node ${info.versions.node}, @tensorflow/tfjs ${info.versions.tfjs})`];
  const requested = info.requested === 'auto' ? '' : `; --backend/DEFORMCONV_BACKEND asks for ${info.requested}`;
  lines.push(`backends (auto picks ${info.autoPicks ?? 'none'}${requested}):`);
  for (const probe of info.backends) {
    const detail = probe.description !== undefined ? backendDetails(probe.description) : probe.problem;
    lines.push(`  ${probe.name.padEnd(15)} ${probe.available ? 'available' : 'not available'}: ${detail}`);
  }
  const advice = info.data.status === 'verified' ? '' : ` (run ${downloadCommandFor(path.dirname(info.data.dir))})`;
  lines.push(`data in ${info.data.dir}: ${info.data.status}${advice}`);
  for (const file of info.data.files) lines.push(`  ${file.name.padEnd(24)} ${file.status}`);
  lines.push(`checkpoints in ${info.checkpoints.dir}:${info.checkpoints.found.length === 0 ? ' none' : ''}`);
  for (const found of info.checkpoints.found) lines.push(`  ${found}`);
  return `${lines.join('\n')}\n`;
}

/** Directories (relative to `root`) that hold a model.json, sorted; none if `root` does not exist. */
async function findCheckpoints(root: string, relative = '', depth = 0): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path.join(root, relative), { withFileTypes: true });
  } catch {
    return [];
  }
  const found = entries.some((entry) => entry.isFile() && entry.name === 'model.json') ? [relative === '' ? '.' : relative] : [];
  if (depth < CHECKPOINT_SEARCH_DEPTH) {
    for (const entry of entries.filter((e) => e.isDirectory())) {
      found.push(...(await findCheckpoints(root, path.join(relative, entry.name), depth + 1)));
    }
  }
  return found.sort();
}
