/**
 * Flag parsers and options shared by the subcommands. A parser throws commander's
 * InvalidArgumentError, which commander reports as one line naming the flag, e.g.
 * "error: option '--epochs <n>' argument '0' is invalid. Must be at least 1." (exit 1).
 */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DATA_DIR } from '../data/mnist';

const MAX_INT = 2 ** 31 - 1;

/** A parser for integers in [min, max], written as plain digits. */
export function intInRange(min: number, max: number): (value: string) => number {
  return (value: string) => {
    if (!/^[+-]?\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected an integer.');
    const n = Number(value);
    if (n < min) throw new InvalidArgumentError(`Must be at least ${min}.`);
    if (n > max) throw new InvalidArgumentError(`Must be at most ${max}.`);
    return n;
  };
}

/** A parser for finite numbers in (minExclusive, max]. */
export function floatInRange(minExclusive: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n)) throw new InvalidArgumentError('Expected a number.');
    if (n <= minExclusive) throw new InvalidArgumentError(`Must be greater than ${minExclusive}.`);
    if (n > max) throw new InvalidArgumentError(`Must be at most ${max}.`);
    return n;
  };
}

/** 1, 2, ... (epochs, batch sizes, counts). */
export const positiveInt = intInRange(1, MAX_INT);
/** 0, 1, ... (seeds, indices). */
export const nonNegativeInt = intInRange(0, MAX_INT);
/** Any finite number above 0 up to 1e9 (rates, seconds). */
export const positiveFloat = floatInRange(0, 1e9);

/** For a repeatable flag: collects every occurrence, in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** --data-dir, for every command that reads or writes MNIST. */
export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'data directory; MNIST lives in <dir>/mnist/').default(DEFAULT_DATA_DIR);
}
