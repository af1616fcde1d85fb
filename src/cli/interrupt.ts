/**
 * Ctrl-C (and SIGTERM) for long commands: the first signal asks the running job to stop
 * at the next safe point (it saves a checkpoint and returns); a second one quits at once,
 * which is safe too because checkpoints are written atomically.
 */

const SIGNAL_EXIT_CODES: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

export interface Interruptible<T> {
  result: T;
  /** The exit code the signal asks for (130 for SIGINT), if one arrived. */
  signalExitCode: number | undefined;
}

export async function runInterruptible<T>(job: (shouldStop: () => boolean) => Promise<T>): Promise<Interruptible<T>> {
  let received: string | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received !== undefined) {
      process.stderr.write(`\n${signal} again: quitting now (the last checkpoint is intact)\n`);
      process.exit(SIGNAL_EXIT_CODES[signal] ?? 130);
    }
    received = signal;
    process.stderr.write(`\n${signal}: stopping after the current step and saving a checkpoint (press Ctrl-C again to quit at once)\n`);
  };
  const signals = Object.keys(SIGNAL_EXIT_CODES) as NodeJS.Signals[];
  for (const signal of signals) process.on(signal, onSignal);
  try {
    const result = await job(() => received !== undefined);
    return { result, signalExitCode: received === undefined ? undefined : SIGNAL_EXIT_CODES[received] };
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}
