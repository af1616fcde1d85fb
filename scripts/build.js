#!/usr/bin/env node
/**
 * `npm run build` (and `prepare`, so `npm ci` and the first `npx deformconv` in a clone):
 * TypeScript to dist/src + dist/scripts (CommonJS, declarations) and dist/esm (ES
 * modules), the type check of src/web, and the demo page into dist/web.
 *
 * It never deletes dist/ and never truncates a file another process may be loading:
 * - when nothing the build reads has changed since the last build (a hash of src/,
 *   scripts/, the tsconfigs, package.json and package-lock.json, stored in
 *   dist/.build.json with the list of outputs, which must all be there), it does nothing:
 *   that is what keeps `npx deformconv` in a clone at Node's start-up time, since npm runs
 *   `prepare` when it links the clone into its npx cache;
 * - otherwise every output is written beside its final name and renamed over it (a
 *   reader sees the old file or the new one, whole), files whose content is unchanged
 *   are not touched, and only outputs that no current source produces any more are
 *   removed (a renamed or deleted module's old .js);
 * - a type error stops the build before anything is written.
 *
 * Plain JavaScript, since it runs before anything is compiled. `--force` rebuilds even
 * when up to date. Exit status 1 on a type error or a failed step.
 */
'use strict';
const { createHash, randomBytes } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, '.build.json');
/** What the outputs depend on, besides node_modules (pinned by package-lock.json). */
const INPUT_DIRS = ['src', 'scripts'];
const INPUT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.esm.json', 'tsconfig.web.json'];
/** The projects tsc builds, in order; the web one only type-checks (noEmit). */
const PROJECTS = ['tsconfig.json', 'tsconfig.esm.json', 'tsconfig.web.json'];
/** Folders under dist/ whose files are all outputs of this build (pruned of stale ones). */
const OWNED = ['src', 'esm', 'scripts', 'web'];

const rel = (file) => path.relative(ROOT, file).split(path.sep).join('/');

function walk(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** sha256 over the inputs' paths and contents, in a fixed order. */
function inputsHash() {
  const files = [
    ...INPUT_DIRS.flatMap((d) => walk(path.join(ROOT, d))),
    ...INPUT_FILES.map((f) => path.join(ROOT, f)).filter((f) => fs.existsSync(f)),
  ];
  const hash = createHash('sha256');
  hash.update(fs.readFileSync(__filename)); // this script's own rules
  for (const file of files.map(rel).sort()) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(ROOT, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function readStamp() {
  try {
    return JSON.parse(fs.readFileSync(STAMP, 'utf8'));
  } catch {
    return null;
  }
}

/** Whether the last build's stamp matches these inputs and every output it listed is there, at its size. */
function upToDate(hash) {
  const stamp = readStamp();
  if (!stamp || stamp.inputs !== hash || !stamp.outputs || typeof stamp.outputs !== 'object') return false;
  for (const [file, size] of Object.entries(stamp.outputs)) {
    let stat;
    try {
      stat = fs.statSync(path.join(ROOT, file));
    } catch {
      return false;
    }
    if (stat.size !== size) return false;
  }
  return true;
}

/** Writes `data` to `file` through a temporary file renamed over it; leaves an identical file alone. */
function writeAtomic(file, data) {
  const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    if (fs.readFileSync(file).equals(buffer)) return;
  } catch {
    // not there yet
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, buffer);
  fs.renameSync(tmp, file);
}

/** Type-checks one tsconfig project and emits it through writeAtomic; the files it emitted (absolute). */
function compile(ts, project) {
  const configPath = path.join(ROOT, project);
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail([d], ts) },
  );
  if (parsed.errors.length) fail(parsed.errors, ts);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, projectReferences: parsed.projectReferences });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error)) fail(diagnostics, ts);
  const emitted = [];
  if (parsed.options.noEmit) return emitted;
  const result = program.emit(undefined, (fileName, text) => {
    writeAtomic(fileName, text);
    emitted.push(path.resolve(fileName));
  });
  if (result.emitSkipped || result.diagnostics.length) fail(result.diagnostics, ts);
  return emitted;
}

function fail(diagnostics, ts) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' };
  const text = process.stderr.isTTY ? ts.formatDiagnosticsWithColorAndContext(diagnostics, host) : ts.formatDiagnostics(diagnostics, host);
  process.stderr.write(text);
  process.stderr.write('build: type errors; nothing written\n');
  process.exit(1);
}

function main() {
  const force = process.argv.includes('--force');
  const started = Date.now();
  const hash = inputsHash();
  if (!force && upToDate(hash)) {
    process.stdout.write('build: dist/ is up to date\n');
    return;
  }
  const ts = require('typescript');
  const outputs = new Set();
  for (const project of PROJECTS) for (const file of compile(ts, project)) outputs.add(file);

  // The demo page: scripts/web/build_web.ts, compiled just now, stages it and renames it into dist/web.
  const web = spawnSync(process.execPath, [path.join(DIST, 'scripts', 'web', 'build_web.js')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (web.status !== 0) {
    process.stderr.write(`build: node dist/scripts/web/build_web.js exited ${web.status ?? web.signal}\n`);
    process.exit(1);
  }
  for (const line of web.stdout.split('\n').filter(Boolean)) outputs.add(path.resolve(ROOT, line));

  // Stale outputs: files under the build's own folders that nothing produced this time.
  let removed = 0;
  for (const dir of OWNED) {
    for (const file of walk(path.join(DIST, dir))) {
      if (!outputs.has(file)) {
        fs.rmSync(file, { force: true });
        removed++;
      }
    }
  }
  const sizes = {};
  for (const file of [...outputs].sort()) sizes[rel(file)] = fs.statSync(file).size;
  writeAtomic(STAMP, `${JSON.stringify({ inputs: hash, outputs: sizes }, null, 1)}\n`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`build: ${outputs.size} files in dist/ (${removed} stale removed), ${seconds} s\n`);
}

main();
