/**
 * Straight-line WebAssembly for linear maps with rational coefficients, on v128 values (four
 * float32 lanes): the code the Winograd transforms are generated as (scripts/winograd/winograd_wat.ts).
 */
import { Rational, equal, isZero, neg, rational, transpose } from './cook_toom';

/** A WebAssembly expression of type v128 (four float32 lanes). */
export type V = string;

/**
 * Straight-line code: named locals and the instructions that set them. Constants and
 * addresses live in locals set once at the top (a v128.const is 18 bytes, a local.get 2).
 */
export class Code {
  readonly lines: string[] = [];
  readonly prologue: string[] = [];
  readonly locals = new Map<string, 'v128' | 'i32'>();
  private readonly constants = new Map<string, string>();
  private temps = 0;

  /** Binds `expr` to local `name`; the local's value as an expression. */
  bind(name: string, expr: string, type: 'v128' | 'i32' = 'v128', where: string[] = this.lines): string {
    this.locals.set(name, type);
    where.push(`(local.set $${name} ${expr})`);
    return `(local.get $${name})`;
  }

  /** An i32 local for loop variables and per-row addresses (declared, set by the caller). */
  i32(name: string): string {
    this.locals.set(name, 'i32');
    return `(local.get $${name})`;
  }

  /** Binds `expr` to a fresh temporary (an intermediate used twice). */
  temp(expr: V): V {
    return this.bind(`t${this.temps++}`, expr);
  }

  /** A four-lane constant, from a local set in the prologue. */
  constant(text: string): V {
    let name = this.constants.get(text);
    if (name === undefined) {
      name = `k${this.constants.size}`;
      this.constants.set(text, name);
      this.bind(name, `(v128.const f32x4 ${Array(4).fill(text).join(' ')})`, 'v128', this.prologue);
    }
    return `(local.get $${name})`;
  }

  /** An i32 computed once, in the prologue. */
  once(name: string, expr: string): string {
    return this.locals.has(name) ? `(local.get $${name})` : this.bind(name, expr, 'i32', this.prologue);
  }
}

/** k as WebAssembly writes a float32: exactly when it is one (1/6 as the nearest, in hexadecimal). */
function floatText({ num, den }: Rational): string {
  const k = num / den;
  return Number.isInteger(Math.log2(den)) ? String(k) : `${k < 0 ? '-' : ''}0x${Math.fround(Math.abs(k)).toString(16)}`;
}

const ONE = rational(1);

/** sum of c * x over the terms (coefficients non-zero): multiplications only where |c| != 1. */
function combination(code: Code, terms: [Rational, V][]): V {
  const first = terms.findIndex(([c]) => c.num > 0);
  const ordered = first < 0 ? terms : [terms[first], ...terms.filter((_, i) => i !== first)];
  const scaled = (c: Rational, x: V): V => (equal(c, ONE) ? x : `(f32x4.mul ${x} ${code.constant(floatText(c))})`);
  return ordered.reduce((sum: V | null, [c, x]) => {
    if (sum === null) return c.num > 0 ? scaled(c, x) : `(f32x4.neg ${scaled(neg(c), x)})`;
    return c.num > 0 ? `(f32x4.add ${sum} ${scaled(c, x)})` : `(f32x4.sub ${sum} ${scaled(neg(c), x)})`;
  }, null) as V;
}

/** Whether b is a or -a entry by entry, with some entries equal and some opposite (both non-zero). */
function pairing(a: Rational[], b: Rational[]): boolean[] | null {
  const same = a.map((v, i) => equal(v, b[i]));
  const opposite = a.map((v, i) => !isZero(v) && equal(v, neg(b[i])));
  if (!a.every((_, i) => same[i] || opposite[i])) return null;
  const nonZeroSame = same.some((s, i) => s && !isZero(a[i]));
  return nonZeroSame && opposite.some(Boolean) ? same : null;
}

/**
 * x -> M x for the matrix M, as expressions. Columns p, q that every row weighs alike or
 * opposite (points a and -a) contribute x_p + x_q or x_p - x_q, computed once; then rows p, q
 * that are alike on some columns and opposite on the others share those two partial sums.
 */
export function linearMap(matrix: Rational[][]): (code: Code, x: V[]) => V[] {
  return (code, x) => {
    let columns: [Rational[], V][] = transpose(matrix).map((col, c) => [col, x[c]]);
    for (let p = 0; p < columns.length; p++) {
      const q = columns.findIndex(([col], i) => i > p && pairing(columns[p][0], col) !== null);
      if (q < 0) continue;
      const same = pairing(columns[p][0], columns[q][0]) as boolean[];
      const plus = code.temp(`(f32x4.add ${columns[p][1]} ${columns[q][1]})`);
      const minus = code.temp(`(f32x4.sub ${columns[p][1]} ${columns[q][1]})`);
      const [col] = columns[p];
      columns[p] = [col.map((v, i) => (same[i] ? v : rational(0))), plus];
      columns[q] = [col.map((v, i) => (same[i] ? rational(0) : v)), minus];
    }
    columns = columns.filter(([col]) => col.some((v) => !isZero(v)));
    const rows = transpose(columns.map(([col]) => col));
    const terms = (row: Rational[], keep: (c: number) => boolean): [Rational, V][] =>
      row.flatMap((v, c) => (isZero(v) || !keep(c) ? [] : [[v, columns[c][1]] as [Rational, V]]));
    const out: V[] = rows.map((row) =>
      combination(
        code,
        terms(row, () => true),
      ),
    );
    const paired = new Set<number>();
    rows.forEach((row, p) => {
      const q = rows.findIndex((other, i) => i > p && !paired.has(i) && !paired.has(p) && pairing(row, other) !== null);
      if (q < 0) return;
      const same = pairing(row, rows[q]) as boolean[];
      const e = code.temp(
        combination(
          code,
          terms(row, (c) => same[c]),
        ),
      );
      const o = code.temp(
        combination(
          code,
          terms(row, (c) => !same[c]),
        ),
      );
      [out[p], out[q]] = [`(f32x4.add ${e} ${o})`, `(f32x4.sub ${e} ${o})`];
      paired.add(p).add(q);
    });
    return out;
  };
}
