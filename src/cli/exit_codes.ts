/**
 * How the CLI reports a failure: one line on stderr and an exit code (1 bad input,
 * 2 environment); the stack trace only under --verbose or DEBUG=deformconv.
 */
import { explainGpuFailure } from '../backend/webgpu_node';
import { DeformconvError, InvalidInputError } from '../errors';

/** The exit code of an error this package throws on purpose; undefined for anything else. */
function exitCodeOf(err: unknown): number | undefined {
  if (err instanceof DeformconvError) return err.exitCode;
  // The library's own errors reach the CLI when a file's contents are wrong (a checkpoint's weights, say): bad input.
  if (err instanceof InvalidInputError) return 1;
  return undefined;
}

/** True when DEBUG (comma or space separated, as the `debug` package reads it) names deformconv. */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.DEBUG ?? '').split(/[\s,]+/).some((name) => name === '*' || name === 'deformconv' || name === 'deformconv:*');
}

/** Writes the error to stderr and returns the exit code. */
export function reportError(failure: unknown, verbose: boolean): number {
  const err = explainGpuFailure(failure);
  const exitCode = exitCodeOf(err);
  const known = exitCode !== undefined;
  const message = err instanceof Error ? err.message : String(err);
  const line =
    message
      .split('\n')
      .find((text) => text.trim() !== '')
      ?.trim() ?? 'unknown error';
  const hint = known || verbose ? '' : ' (unexpected error; run with --verbose for the stack trace)';
  process.stderr.write(`error: ${line}${hint}\n`);
  if (verbose && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  return exitCode ?? 1;
}
