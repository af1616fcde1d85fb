/**
 * Argument checks shared by the ops and the layers above them, so that each check, and
 * its message, is written once.
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';

/** A value as an error message names it: a tensor by its shape, anything else by its type. */
export function describe(value: unknown): string {
  return value instanceof tf.Tensor ? `shape [${(value as tf.Tensor).shape.join(', ')}]` : typeof value;
}

/** Throws InvalidInputError, prefixed `${op}: `, unless `value` is a float32 tensor of rank `rank`. */
export function checkTensor(op: string, name: string, value: unknown, rank: number): asserts value is tf.Tensor {
  if (!(value instanceof tf.Tensor) || value.rank !== rank) {
    throw new InvalidInputError(`${op}: ${name} must be a rank-${rank} tensor, got ${describe(value)}`);
  }
  if (value.dtype !== 'float32') {
    throw new InvalidInputError(`${op}: ${name} must be float32, got ${value.dtype} (${describe(value)})`);
  }
}

/**
 * A (height, width) pair from one number for both or a pair (undefined: [1, 1]); throws
 * InvalidInputError, prefixed `${where}: `, unless both are positive integers.
 */
export function positivePair(where: string, name: string, value: number | [number, number] | undefined): [number, number] {
  const pair = value === undefined ? [1, 1] : typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new InvalidInputError(`${where}: ${name} must be a positive integer or a pair of them, got ${JSON.stringify(value)}`);
  }
  return [pair[0], pair[1]];
}
