/**
 * A small seeded random number generator whose whole state is four 32-bit words,
 * so a training run can save it in a checkpoint and resume the exact same stream.
 *
 * Algorithm: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), seeded
 * through splitmix32 so that nearby seeds give unrelated streams.
 */

import { InvalidInputError } from '../errors';

/** The serialisable state of an {@link Rng}: four unsigned 32-bit integers. */
export type RngState = [number, number, number, number];

/**
 * A seeded generator (sfc32, seeded through splitmix32) whose whole state is four 32-bit
 * words (getState/setState/fromState), so a checkpoint can save it and a resumed run
 * draws the same numbers as an uninterrupted one. Not cryptographic.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is any integer (it is reduced to 32 bits). */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) {
      throw new InvalidInputError(`random seed must be an integer, got ${seed}`);
    }
    let s = seed >>> 0;
    const splitmix32 = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix32();
    this.b = splitmix32();
    this.c = splitmix32();
    this.d = splitmix32();
    // The first outputs of sfc32 are weakly mixed; its author discards a few.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A generator that continues exactly where the one that produced `state` stood. */
  static fromState(state: readonly number[]): Rng {
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }

  /** The current state, to save and later hand to fromState or setState. */
  getState(): RngState {
    return [this.a, this.b, this.c, this.d];
  }

  /** Continues from a state getState returned; throws InvalidInputError on anything else. */
  setState(state: readonly number[]): void {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw new InvalidInputError(`random state must be four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    [this.a, this.b, this.c, this.d] = state as RngState;
  }

  /** The next raw output: an unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A double uniform in [0, 1) with 53 random bits. */
  next(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A double uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** An integer uniform in [0, n). */
  intBelow(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.intBelow(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return this.shuffle(order);
  }
}
