/**
 * The errors this package throws on purpose.
 *
 * The library (ops, layers, models, augmentation, tracer) throws InvalidInputError, a
 * plain Error whose message says in the library's terms what is wrong (a tensor's shape,
 * an argument's value). The command line and the Node-only experiment add exit codes:
 * UserError (bad input: a flag, a path, a file's contents) and EnvironmentError (what the
 * machine lacks). The CLI reports any of them as one line, with no stack trace.
 */

/** An argument the library cannot work with: a wrong shape, dtype, range or configuration. */
export class InvalidInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidInputError';
  }
}

/** Base of the command line's errors: one line on stderr and this exit code. */
export class DeformconvError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input from the user: a flag, a path, a file's contents. Exit code 1. */
export class UserError extends DeformconvError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** The environment cannot do what was asked: missing backend, missing data, no network. Exit code 2. */
export class EnvironmentError extends DeformconvError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A message's first non-blank line: what a one-line error quotes of a cause. */
export function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? text
  );
}
