/**
 * Winograd's minimal filtering algorithms F(m, r), exactly: the matrices A^T, G and B^T of
 * y = A^T [(G g) . (B^T d)] (m outputs of an r-tap correlation from m + r - 1 inputs), built
 * from the interpolation points by the Cook-Toom construction (Lavin and Gray, 2016;
 * Barabasz et al., 2018), in exact rational arithmetic.
 */

/** An exact rational number: integers small enough for doubles, denominator positive, lowest terms. */
export interface Rational {
  num: number;
  den: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? Math.abs(a) : gcd(b, a % b));

/** num / den in lowest terms. */
export function rational(num: number, den = 1): Rational {
  if (den === 0) throw new Error('rational: zero denominator');
  const g = gcd(num, den) * Math.sign(den);
  return { num: num / g + 0, den: den / g };
}

export const ZERO = rational(0);
export const ONE = rational(1);
export const add = (a: Rational, b: Rational): Rational => rational(a.num * b.den + b.num * a.den, a.den * b.den);
export const sub = (a: Rational, b: Rational): Rational => rational(a.num * b.den - b.num * a.den, a.den * b.den);
export const mul = (a: Rational, b: Rational): Rational => rational(a.num * b.num, a.den * b.den);
export const div = (a: Rational, b: Rational): Rational => rational(a.num * b.den, a.den * b.num);
export const neg = (a: Rational): Rational => rational(-a.num, a.den);
export const equal = (a: Rational, b: Rational): boolean => a.num === b.num && a.den === b.den;
export const isZero = (a: Rational): boolean => a.num === 0;

/** A minimal filtering algorithm F(m, r): at is m x n, g is n x r, bt is n x n (n = m + r - 1). */
export interface MinimalFilter {
  m: number;
  r: number;
  at: Rational[][];
  g: Rational[][];
  bt: Rational[][];
}

const power = (a: Rational, k: number): Rational => (k === 0 ? ONE : mul(a, power(a, k - 1)));

export function transpose<T>(matrix: T[][]): T[][] {
  return matrix[0].map((_, c) => matrix.map((row) => row[c]));
}

/** The unique solution of the consistent system a x = b (Gaussian elimination; throws if there is none). */
function solve(a: Rational[][], b: Rational[]): Rational[] {
  const rows = a.map((row, i) => [...row, b[i]]);
  const n = a[0].length;
  for (let col = 0; col < n; col++) {
    const pivot = rows.findIndex((row, i) => i >= col && !isZero(row[col]));
    if (pivot < 0) throw new Error('solve: singular system');
    [rows[col], rows[pivot]] = [rows[pivot], rows[col]];
    const p = rows[col][col];
    rows[col] = rows[col].map((v) => div(v, p));
    rows.forEach((row, i) => {
      if (i === col || isZero(row[col])) return;
      const f = row[col];
      rows[i] = row.map((v, j) => sub(v, mul(f, rows[col][j])));
    });
  }
  if (rows.slice(n).some((row) => !isZero(row[n]))) throw new Error('solve: inconsistent system');
  return rows.slice(0, n).map((row) => row[n]);
}

/**
 * F(m, r) on the finite points `points` (m + r - 2 of them) and infinity: A^T[i][j] = a_j^i,
 * G[j][k] = a_j^k / prod over l != j of (a_j - a_l), the point at infinity taking the last
 * output and the last tap; B^T is what makes A^T [(G g) . (B^T d)] the correlation, solved for.
 */
export function minimalFilter(points: Rational[], m: number, r: number): MinimalFilter {
  const n = m + r - 1;
  if (points.length !== n - 1) throw new Error(`F(${m}, ${r}) takes ${n - 1} finite points`);
  const at = Array.from({ length: m }, (_, i) => [...points.map((a) => power(a, i)), i === m - 1 ? ONE : ZERO]);
  const g = points.map((a, j) => {
    const f = points.reduce((p, b, l) => (l === j ? p : mul(p, sub(a, b))), ONE);
    return Array.from({ length: r }, (_, k) => div(power(a, k), f));
  });
  g.push(Array.from({ length: r }, (_, k) => (k === r - 1 ? ONE : ZERO)));
  // Column l of B^T: sum over j of A^T[i][j] G[j][k] B^T[j][l] = [l == i + k], for every output i and tap k.
  const system: { i: number; k: number; coefficients: Rational[] }[] = [];
  for (let i = 0; i < m; i++) for (let k = 0; k < r; k++) system.push({ i, k, coefficients: at[i].map((v, j) => mul(v, g[j][k])) });
  const columns = Array.from({ length: n }, (_, l) =>
    solve(
      system.map((e) => e.coefficients),
      system.map((e) => (l === e.i + e.k ? ONE : ZERO)),
    ),
  );
  return { m, r, at, g, bt: transpose(columns) };
}

/**
 * The stride-2 3-tap filter y_i = d_{2i} g_0 + d_{2i+1} g_1 + d_{2i+2} g_2 as one minimal-style
 * algorithm on its 2m + 1 inputs: the even inputs through F(m, 2) (taps g_0, g_2), the odd ones
 * multiplied by g_1 directly. Points 0..m are F(m, 2)'s, points m + 1..2m the odd inputs; so
 * A^T is m x (2m + 1), G (2m + 1) x 3 and B^T (2m + 1) x (2m + 1), as for a stride-1 algorithm.
 */
export function stridedFilter(even: MinimalFilter): MinimalFilter {
  const { m } = even;
  const n = 2 * m + 1;
  const at = even.at.map((row, i) => [...row, ...Array.from({ length: m }, (_, k) => (k === i ? ONE : ZERO))]);
  const g = [...even.g.map(([g0, g2]) => [g0, ZERO, g2]), ...Array.from({ length: m }, () => [ZERO, ONE, ZERO])];
  const bt = Array.from({ length: n }, (_, p) =>
    Array.from({ length: n }, (_, q) => {
      if (p <= m) return q % 2 === 0 ? even.bt[p][q / 2] : ZERO;
      return q === 2 * (p - m) - 1 ? ONE : ZERO;
    }),
  );
  return { m, r: 3, at, g, bt };
}
