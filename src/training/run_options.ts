/**
 * The options every long run shares (a training stage, `reproduce`, `report`): how it
 * talks to the person watching, how it is stopped, and which backend it records.
 */
import * as tf from '@tensorflow/tfjs';
import { BackendDescription, backendRecord, BackendRecord } from '../backend/select';

/** How a long run reports progress, is stopped, and records its backend. */
export interface RunOptions {
  /** What runs the math, as useBackend() described it (recorded in the metrics). */
  backend?: BackendDescription;
  /** Where status lines go (default: stderr). */
  log?: (line: string) => void;
  /** Polled between steps: true stops the run after saving a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
  /** A live progress bar (default: when stderr is a terminal). */
  progress?: boolean;
}

/** The run's log function: the one given, else a line on stderr. */
export function runLog(options: RunOptions): (line: string) => void {
  return options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
}

/** The backend the run records: useBackend()'s description if given, else tfjs's current backend name. */
export function runBackend(options: RunOptions): BackendRecord {
  return options.backend ? backendRecord(options.backend) : { name: tf.getBackend() };
}
