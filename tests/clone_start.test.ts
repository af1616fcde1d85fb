/**
 * A clone starts at once: `npx deformconv` in a clone makes npm link the clone into its
 * npx cache and run the root package's `prepare` (`npm run build`) there. So the build
 * must not delete dist/ (other processes may be loading it: the demo, a training run, a
 * second `npx deformconv`), and must do nothing when dist/ is up to date; then
 * `npx deformconv --help` costs Node's start-up and nothing more.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const BUILD = path.join(ROOT, 'scripts', 'build.js');
/** Generous beside the ~1 s these take on the 2-core development machine; the rebuild they replace took 14-39 s. */
const FAST_S = 8;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** The environment without npm's script variables (npm test sets npm_config_*), plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return { ...env, ...extra };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, shell: process.platform === 'win32' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

/** Every file under dist/ with its inode and modification time: what a delete or a rewrite changes. */
function snapshot(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const stat = fs.statSync(full, { bigint: true });
        out.set(path.relative(DIST, full), `${stat.ino}:${stat.mtimeNs}`);
      }
    }
  };
  walk(DIST);
  return out;
}

/** Files of `before` that are gone or were rewritten in `after`. */
function touched(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...before].filter(([file, id]) => after.get(file) !== id).map(([file]) => file);
}

const ok = (r: Run) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

describe('the build script', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    bin: Record<string, string>;
  };

  beforeAll(async () => {
    // Brings dist/ up to date first (a no-op after npm ci), so what follows measures the no-op.
    const first = await run(process.execPath, [BUILD]);
    expect(first.code, ok(first)).toBe(0);
  }, 300_000);

  it('is scripts/build.js, run by prepare (npm ci), and no npm script removes dist/', () => {
    expect(pkg.scripts.build).toBe('node scripts/build.js');
    expect(pkg.scripts.prepare).toBe('npm run build');
    for (const [name, script] of Object.entries(pkg.scripts)) {
      expect(script, name).not.toMatch(/rmSync|rimraf|\brm\s+-\w*r|\bdel\b/);
    }
    // Nor does the build script or the demo page's: they remove single stale files only.
    for (const file of ['scripts/build.js', 'scripts/web/build_web.ts']) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      expect(text, file).not.toMatch(/rmSync\(\s*(DIST|outDir|['"`]dist['"`])/);
    }
  });

  it(`up to date: does nothing, rewrites nothing, in under ${FAST_S} s`, async () => {
    const before = snapshot();
    const again = await run(process.execPath, [BUILD]);
    expect(again.code, ok(again)).toBe(0);
    expect(again.stdout).toMatch(/dist\/ is up to date/);
    expect(touched(before, snapshot())).toEqual([]);
    console.log(`node scripts/build.js, up to date: ${again.seconds.toFixed(2)} s`);
    expect(again.seconds).toBeLessThan(FAST_S);
  });

  it('a forced rebuild leaves unchanged files as they are (same inode) and removes only stale outputs', async () => {
    const stale = path.join(DIST, 'src', 'clone_start_test_stale.js');
    fs.writeFileSync(stale, '// an output whose source is gone\n');
    const before = snapshot();
    before.delete(path.relative(DIST, stale));
    const forced = await run(process.execPath, [BUILD, '--force']);
    expect(forced.code, ok(forced)).toBe(0);
    expect(fs.existsSync(stale)).toBe(false);
    expect(forced.stdout).toMatch(/1 stale removed/);
    // Only the stamp may change: every output was already what this build writes.
    const after = snapshot();
    expect(touched(before, after).filter((file) => file !== '.build.json')).toEqual([]);
    const stamp = JSON.parse(fs.readFileSync(path.join(DIST, '.build.json'), 'utf8')) as { outputs: Record<string, number> };
    for (const file of [pkg.bin.deformconv, 'dist/src/index.js', 'dist/esm/index.js', 'dist/web/page.js', 'dist/web/index.html']) {
      expect(Object.keys(stamp.outputs), file).toContain(file);
    }
  }, 300_000);
});

describe('npx deformconv in this clone', () => {
  // A fresh npm cache: the first npx links the clone into it and runs `prepare`, as on a new machine.
  const cache = mkdtempSync(path.join(tmpdir(), 'deformconv-npx-cache-'));
  const env = cleanEnv({
    npm_config_cache: cache,
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  });
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  it(`--help, first and second call: the help, dist/ untouched, each under ${FAST_S} s`, async () => {
    const before = snapshot();
    for (const call of ['first', 'second']) {
      const help = await run('npx', ['--no-install', 'deformconv', '--help'], env);
      expect(help.code, ok(help)).toBe(0);
      expect(help.stdout).toMatch(/^Usage: deformconv /);
      console.log(`npx deformconv --help, ${call} call (fresh npm cache): ${help.seconds.toFixed(2)} s`);
      expect(help.seconds, call).toBeLessThan(FAST_S);
    }
    expect(touched(before, snapshot())).toEqual([]);
  }, 120_000);
});
