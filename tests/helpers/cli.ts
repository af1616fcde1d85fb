/**
 * The compiled CLI (dist/, built by `npm ci` through `prepare`) as a user runs it, for the
 * fault suite: runs that collect everything printed, and live runs a test can signal.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { PACKAGE_DATA } from './packages';

export const CLI = path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

export interface CliRun {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Another copy of the compiled CLI's main.js (default: this checkout's). */
  cli?: string;
}

/** A running CLI process: what it printed so far, a wait for a pattern, and its end. */
export class LiveCli {
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;
  readonly done: Promise<CliRun>;
  private readonly waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];

  constructor(args: string[], options: CliOptions = {}) {
    // DEBUG would add stack traces, and an inherited backend choice would change what runs.
    const { DEBUG: _debug, DEFORMCONV_BACKEND: _backend, ...base } = process.env;
    this.child = spawn(process.execPath, [options.cli ?? CLI, ...args], { cwd: options.cwd, env: { ...base, ...options.env } });
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      this.wake();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      this.wake();
    });
    this.done = new Promise((resolve) =>
      this.child.on('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  /** Resolves once stdout or stderr matches `pattern` (rejects if the process ends first). */
  waitFor(pattern: RegExp): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ pattern, resolve });
      this.wake();
      void this.done.then((run) => reject(new Error(`exited (${run.code ?? run.signal}) before printing ${pattern}:\n${run.stderr}`)));
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.pattern.test(this.stdout) || waiter.pattern.test(this.stderr)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}

/** Runs the CLI to its end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return new LiveCli(args, options).done;
}

/** Everything the user saw. */
export function output(run: CliRun): string {
  return `${run.stderr}${run.stdout}`;
}

/** The failure is exactly one `error: ` line on stderr matching `pattern`, no stack trace, and the exit code `code`. */
export function expectOneLineError(run: CliRun, code: number, pattern: RegExp): void {
  expect(run.code, output(run)).toBe(code);
  const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('error: '));
  expect(errorLines, run.stderr).toHaveLength(1);
  expect(errorLines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/^\s+at /m);
}

/**
 * A data directory whose mnist/ holds links to the package's files: `replace` swaps some
 * of them for the given contents (bad files), written as real files.
 */
export function dataDirWith(dir: string, replace: Record<string, Uint8Array> = {}): string {
  const mnist = path.join(dir, 'mnist');
  fs.mkdirSync(mnist, { recursive: true });
  for (const name of fs.readdirSync(PACKAGE_DATA)) {
    if (name in replace) fs.writeFileSync(path.join(mnist, name), replace[name]);
    else fs.symlinkSync(path.join(PACKAGE_DATA, name), path.join(mnist, name));
  }
  return dir;
}
