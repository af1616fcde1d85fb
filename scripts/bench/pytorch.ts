/**
 * PyTorch's CPU build on the same machine, for the bench's ratios: runs
 * scripts/bench/bench_pytorch.py (the same two models and steps) with the first Python that
 * imports torch: $DEFORMCONV_PYTHON, else python3, else /usr/bin/python3. Without one the
 * bench still runs and says that the PyTorch column is absent.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/version';

/** One thread count's figures, in ms (bench_pytorch.py's names). */
export interface PytorchTimes {
  regular_train_ms: number;
  deform_finetune_ms: number;
  regular_forward_ms: number;
  deform_forward_ms: number;
  deform_forward_batch1_ms: number;
}

export interface PytorchResult {
  torch: string;
  python: string;
  /** By thread count. */
  threads: Record<string, PytorchTimes>;
}

const SCRIPT = path.join(packageRoot(), 'scripts', 'bench', 'bench_pytorch.py');

function pythonWithTorch(): string | null {
  const candidates = [process.env.DEFORMCONV_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  return candidates.find((python) => spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) ?? null;
}

/** PyTorch's figures for each thread count, or why there are none. */
export function benchPytorch(threads: number[], batch: number, rounds: number, burst: number): PytorchResult | { absent: string } {
  // The GPU kit (scripts/gpu_kit/main.ts) leaves the script out: it needs no Python.
  if (!fs.existsSync(SCRIPT)) return { absent: `no ${path.relative(packageRoot(), SCRIPT)} here` };
  const python = pythonWithTorch();
  if (python === null) return { absent: 'no Python with torch (python3, /usr/bin/python3 or $DEFORMCONV_PYTHON)' };
  const args = [SCRIPT, '--threads', threads.join(','), '--batch', String(batch), '--rounds', String(rounds), '--burst', String(burst)];
  const run = spawnSync(python, args, { encoding: 'utf8', timeout: 30 * 60 * 1000 });
  if (run.status !== 0) return { absent: `bench_pytorch.py failed: ${(run.stderr || run.error?.message || '').trim().split('\n').pop()}` };
  const parsed = JSON.parse(run.stdout) as Omit<PytorchResult, 'python'>;
  return { ...parsed, python };
}
