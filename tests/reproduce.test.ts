/**
 * The experiment end to end through the compiled CLI (dist/, built by `npm ci`/`npm run build`).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let tmp: string;
let dataDir: string;

const env = { ...process.env, DEFORMCONV_BACKEND: '' };

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, '--backend', 'wasm', ...args], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function digest(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function latestWeights(out: string): string {
  const latest = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).latest as string;
  return digest(path.join(out, latest, 'weights.bin'));
}

/** Resolves with the exit code once `child` exits. */
function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deformconv-reproduce-'));
  dataDir = path.join(tmp, 'data');
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('reproduce --preset smoke', () => {
  it('downloads, trains, fine-tunes, evaluates, prints the table and writes results/metrics.json', () => {
    const r = cli(['reproduce', '--preset', 'smoke', '--out', tmp, '--data-dir', dataDir]);
    expect(r.stderr).toContain('backend: wasm');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\| Test accuracy \| Regular CNN \| Deformable CNN \| Reference regular \| Reference deformable \|$/m);
    expect(r.stdout).toMatch(/^\| Regular MNIST \| \d+\.\d\d% \| \d+\.\d\d% \| 98\.74% \| 97\.27% \|$/m);
    expect(r.stdout).toMatch(/^\| Scaled MNIST \| \d+\.\d\d% \| \d+\.\d\d% \| 57\.01% \| 92\.55% \|$/m);
    expect(r.stderr).toMatch(/epoch 1\/1: loss \d+\.\d+, acc .* \| val plain \(100\)/);
    expect(r.stderr).toMatch(/epoch 1\/1: loss \d+\.\d+, acc .* \| val scaled \(100\)/);

    const metrics = JSON.parse(fs.readFileSync(path.join(tmp, 'results', 'metrics.json'), 'utf8'));
    expect(metrics.preset).toBe('smoke');
    expect(metrics.backend.name).toBe('wasm');
    expect(metrics.scaledTest).toEqual({ seed: 20170306, interpolation: 'nearest', count: 200 });
    for (const model of ['regular', 'deform']) {
      for (const variant of ['plain', 'scaled']) {
        expect(metrics.results[model][variant]).toBeGreaterThanOrEqual(0);
        expect(metrics.results[model][variant]).toBeLessThanOrEqual(1);
      }
      expect(metrics.stages[model].epochs).toHaveLength(1);
    }
    expect(metrics.stages.deform.config).toMatchObject({ stage: 'deform', limit: 64, interpolation: 'nearest', freezeBn: false });
    for (const stage of ['regular', 'deform']) {
      expect(fs.existsSync(path.join(tmp, 'checkpoints', stage, 'checkpoint.json'))).toBe(true);
      expect(fs.existsSync(path.join(tmp, 'checkpoints', stage, 'metrics.json'))).toBe(true);
    }
  });

  it('eval of those checkpoints gives the same numbers (--json)', () => {
    const r = cli([
      'eval',
      '--regular',
      path.join(tmp, 'checkpoints', 'regular'),
      '--deform',
      path.join(tmp, 'checkpoints', 'deform'),
      '--limit',
      '200',
      '--json',
      '--data-dir',
      dataDir,
    ]);
    expect(r.status).toBe(0);
    const metrics = JSON.parse(fs.readFileSync(path.join(tmp, 'results', 'metrics.json'), 'utf8'));
    expect(JSON.parse(r.stdout)).toEqual(metrics.results);
  });

  it('eval --scaled-seed and --interpolation draw another scaled test set; the plain figures stay', () => {
    const checkpoints = ['--regular', path.join(tmp, 'checkpoints', 'regular'), '--deform', path.join(tmp, 'checkpoints', 'deform')];
    const metrics = JSON.parse(fs.readFileSync(path.join(tmp, 'results', 'metrics.json'), 'utf8'));
    const table = cli([
      'eval',
      ...checkpoints,
      '--limit',
      '200',
      '--scaled-seed',
      '7',
      '--interpolation',
      'bilinear',
      '--data-dir',
      dataDir,
    ]);
    expect(table.status).toBe(0);
    expect(table.stdout).toContain('(seed 7, bilinear)');
    const scaled = ['7', '8', '9'].map((seed) => {
      const r = cli(['eval', ...checkpoints, '--limit', '200', '--scaled-seed', seed, '--json', '--data-dir', dataDir]);
      expect(r.status).toBe(0);
      const report = JSON.parse(r.stdout);
      for (const model of ['regular', 'deform']) expect(report[model].plain).toBe(metrics.results[model].plain);
      return `${report.regular.scaled} ${report.deform.scaled}`;
    });
    expect(new Set([...scaled, `${metrics.results.regular.scaled} ${metrics.results.deform.scaled}`]).size).toBeGreaterThan(1);
  });

  it('refuses to redo finished work without --resume, and --resume keeps it', () => {
    const again = cli(['reproduce', '--preset', 'smoke', '--out', tmp, '--data-dir', dataDir]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^error: .*already holds a checkpoint \(epoch-0001\); pass --resume/m);
    expect(again.stderr).not.toMatch(/\n\s+at /);
    const weights = latestWeights(path.join(tmp, 'checkpoints', 'deform'));
    const resumed = cli(['reproduce', '--preset', 'smoke', '--out', tmp, '--data-dir', dataDir, '--resume']);
    expect(resumed.status).toBe(0);
    expect(latestWeights(path.join(tmp, 'checkpoints', 'deform'))).toBe(weights);
  });
});

describe('Ctrl-C during train-regular', () => {
  it('saves, says how to resume, exits 130; the resumed run equals an uninterrupted one', async () => {
    const flags = ['--epochs', '2', '--limit', '256', '--val-limit', '50', '--data-dir', dataDir];
    const out = path.join(tmp, 'interrupted');
    const child = spawn(process.execPath, [CLI, '--backend', 'wasm', 'train-regular', ...flags, '--out', out], { env });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const before = stderr;
      stderr += chunk.toString();
      if (!before.includes('epoch 1/2:') && stderr.includes('epoch 1/2:')) child.kill('SIGINT');
    });
    expect(await exited(child)).toBe(130);
    expect(stderr).toContain('SIGINT: stopping after the current step and saving a checkpoint');
    expect(stderr).toMatch(/^interrupted at .*; checkpoint: .*interrupted\/epoch-000\d/m);
    const hint = stderr.match(/^resume with: (.*)$/m);
    expect(hint?.[1]).toBe(`deformconv --backend wasm train-regular --out ${out} --data-dir ${dataDir} --resume`);

    const resumed = cli(['train-regular', '--out', out, '--data-dir', dataDir, '--resume']);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toMatch(/^regular training complete: 2 epochs, plain validation accuracy/m);

    const straight = path.join(tmp, 'straight');
    expect(cli(['train-regular', ...flags, '--out', straight]).status).toBe(0);
    expect(latestWeights(out)).toBe(latestWeights(straight));
  });
});
