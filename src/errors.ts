/**
 * Errors the CLI reports as one line (no stack trace) with a meaningful exit code.
 * Anything else that escapes is a bug and is shown with its stack under --verbose.
 */
export class DeformconvError extends Error {
  constructor(message: string, readonly exitCode: number) {
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
