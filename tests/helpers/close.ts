/** Where two arrays differ most, for assertions that name the element. */
export function worstError(actual: ArrayLike<number>, expected: ArrayLike<number>): { error: number; at: number } {
  let error = 0;
  let at = -1;
  for (let k = 0; k < actual.length; k++) {
    const e = Math.abs(actual[k] - expected[k]);
    // !(e <= error) also catches NaN.
    if (!(e <= error)) {
      error = e;
      at = k;
    }
  }
  return { error, at };
}
