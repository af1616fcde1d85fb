/**
 * Writes src/kernels/wasm/simd/winograd_tiles.wat: the 2-D transforms of Winograd
 * F(m x m, 3 x 3) for one tile and four channels, as straight-line WebAssembly, for the
 * tile sizes kernels.wat offers. V8 does not inline wasm calls, and a call per 1-D transform
 * made the transforms three times slower, so each 2-D transform is one function, generated
 * here from the algorithm's matrices (scripts/winograd/cook_toom.ts), with the sums that
 * pairs of rows or columns share computed once. build_simd_kernels.ts writes this file and
 * assembles it into one module with kernels.wat.
 *
 * tests/wasm_simd_kernels.test.ts fails while the committed file and this generator disagree.
 */
import * as path from 'node:path';
import { packageRoot } from '../src/version';
import { MinimalFilter, Rational, equal, isZero, minimalFilter, neg, rational, transpose } from './winograd/cook_toom';

export const WINOGRAD_WAT_FILE = path.join(packageRoot(), 'src', 'kernels', 'wasm', 'simd', 'winograd_tiles.wat');

/**
 * The tile sizes and their interpolation points (and infinity): F(4x4, 3x3) on 0, 1, -1, 2, -2
 * (Lavin and Gray's); F(5x5, 3x3) adds 1/2, the point with the least error in float32 we found
 * (2e-6 of the sum of |terms| on the models' shapes, as F(4x4)'s).
 */
export const WINOGRAD_VARIANTS: { m: number; points: Rational[] }[] = [
  { m: 4, points: [0, 1, -1, 2, -2].map((p) => rational(p)) },
  { m: 5, points: [rational(0), rational(1), rational(-1), rational(2), rational(-2), rational(1, 2)] },
];

/** A WebAssembly expression of type v128 (four float32 lanes). */
type V = string;

/**
 * Straight-line code: named locals and the instructions that set them. Constants and
 * addresses live in locals set once at the top (a v128.const is 18 bytes, a local.get 2).
 */
class Code {
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
function linearMap(matrix: Rational[][]): (code: Code, x: V[]) => V[] {
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
    const out: V[] = rows.map((row) => combination(code, terms(row, () => true)));
    const paired = new Set<number>();
    rows.forEach((row, p) => {
      const q = rows.findIndex((other, i) => i > p && !paired.has(i) && !paired.has(p) && pairing(row, other) !== null);
      if (q < 0) return;
      const same = pairing(row, rows[q]) as boolean[];
      const e = code.temp(combination(code, terms(row, (c) => same[c])));
      const o = code.temp(combination(code, terms(row, (c) => !same[c])));
      [out[p], out[q]] = [`(f32x4.add ${e} ${o})`, `(f32x4.sub ${e} ${o})`];
      paired.add(p).add(q);
    });
    return out;
  };
}

/** L X L^T for the block X (rows of expressions): `map` along every row, then every column. */
function transform2D(code: Code, block: V[][], map: (code: Code, x: V[]) => V[]): V[][] {
  const rows = block.map((row, r) => map(code, row).map((e, j) => code.bind(`r${r}_${j}`, e)));
  const columns = rows[0].map((_, j) => map(code, rows.map((row) => row[j])).map((e, i) => code.bind(`c${i}_${j}`, e)));
  return columns[0].map((_, i) => columns.map((column) => column[i]));
}

const i32 = (n: number): string => `(i32.const ${n})`;

/** Address of element (r, c) of a strided block at $base ($src or $dst): $base + r $rs + c $cs, from prologue locals. */
function at(code: Code, base: '$src' | '$dst', r: number, c: number): string {
  const row = code.once(`row${r}`, `(i32.add (local.get ${base}) (i32.mul (local.get $rs) ${i32(r)}))`);
  const col = code.once(`col${c}`, `(i32.mul (local.get $cs) ${i32(c)})`);
  return `(i32.add ${row} ${col})`;
}

/** Whether element (r, c) of the window is inside the image: bit r of $rows and bit c of $cols. */
function inside(code: Code, r: number, c: number): string {
  const row = code.once(`inside${r}`, `(select (local.get $cols) ${i32(0)} (i32.and (local.get $rows) ${i32(1 << r)}))`);
  return `(i32.and ${row} ${i32(1 << c)})`;
}

/** Byte address of point p's plane entry at $offset (the table holds the planes' addresses). */
const plane = (p: number): string => `(i32.add (i32.load offset=${4 * p} (local.get $table)) (local.get $offset))`;

/** A block's reads: what `read` returns for each element, given the code it will be part of. */
type Read = (code: Code) => V[][];

function readBlock(size: number, masked: boolean): Read {
  return (code) =>
    Array.from({ length: size }, (_, r) =>
      Array.from({ length: size }, (_, c) =>
        masked
          ? `(if (result v128) ${inside(code, r, c)} (then (v128.load ${at(code, '$src', r, c)})) (else ${code.constant('0')}))`
          : `(v128.load ${at(code, '$src', r, c)})`,
      ),
    );
}

function readPlanes(n: number): Read {
  return () => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => `(v128.load ${plane(n * i + j)})`));
}

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, k) => items.slice(k * size, (k + 1) * size));
}

type Write = (code: Code, result: V[][]) => void;

const toPlanes: Write = (code, result) => result.flat().forEach((v, p) => code.lines.push(`(v128.store ${plane(p)} ${v})`));

/** max(v + $bias, $floor) to each element inside the image ($dst, strides $cs, $rs, masks $rows, $cols). */
const toImage: Write = (code, result) =>
  result.forEach((row, r) =>
    row.forEach((v, c) => {
      const value = `(f32x4.max (f32x4.add ${v} (local.get $bias)) (local.get $floor))`;
      code.lines.push(`(if ${inside(code, r, c)} (then (v128.store ${at(code, '$dst', r, c)} ${value})))`);
    }),
  );

/** Element (r, c) to $dst + r $rs + c $cs. */
const toBlock: Write = (code, result) =>
  result.forEach((row, r) => row.forEach((v, c) => code.lines.push(`(v128.store ${at(code, '$dst', r, c)} ${v})`)));

const STRIDED = '(param $src i32) (param $cs i32) (param $rs i32)';
const MASKS = '(param $rows i32) (param $cols i32)';
const PLANES = '(param $table i32) (param $offset i32)';
const TO_MEMORY = '(param $dst i32) (param $cs i32) (param $rs i32)';

/** The kinds of tile function, in table order: name, parameters, what it reads, its matrix, how it writes. */
const KINDS: { name: string; params: string; read: (f: MinimalFilter) => Read; matrix: (f: MinimalFilter) => Rational[][]; write: Write }[] = [
  { name: 'inputTile', params: `${STRIDED} ${MASKS} ${PLANES}`, read: (f) => readBlock(f.m + 2, true), matrix: (f) => f.bt, write: toPlanes },
  {
    name: 'outputGradientTile',
    params: `${STRIDED} ${MASKS} ${PLANES}`,
    read: (f) => readBlock(f.m, true),
    matrix: (f) => transpose(f.at),
    write: toPlanes,
  },
  { name: 'filterTile', params: `${STRIDED} ${PLANES}`, read: () => readBlock(3, false), matrix: (f) => f.g, write: toPlanes },
  {
    name: 'outputTile',
    params: `${PLANES} ${TO_MEMORY} ${MASKS} (param $bias v128) (param $floor v128)`,
    read: (f) => readPlanes(f.m + 2),
    matrix: (f) => f.at,
    write: toImage,
  },
  {
    name: 'filterGradientTile',
    params: `${PLANES} ${TO_MEMORY}`,
    read: (f) => readPlanes(f.m + 2),
    matrix: (f) => transpose(f.g),
    write: toBlock,
  },
];

/** One function: read a block, transform it along rows and columns, write it. */
function tileFunction(name: string, params: string, read: Read, matrix: Rational[][], write: Write): string {
  const code = new Code();
  const loaded = read(code).map((row, r) => row.map((e, c) => code.bind(`x${r}_${c}`, e)));
  write(code, transform2D(code, loaded, linearMap(matrix)));
  const locals = [...code.locals].map(([l, type]) => `(local $${l} ${type})`);
  const body = [...chunks(locals, 8).map((l) => l.join(' ')), ...code.prologue, ...code.lines];
  return [`  (func $${name} (type $${name.replace(/\d+$/, '')}) ${params}`, ...body.map((l) => `    ${l}`)].join('\n') + ')';
}

/** The generated file's text. */
export function winogradWat(): string {
  const filters = WINOGRAD_VARIANTS.map(({ m, points }) => minimalFilter(points, m, 3));
  const names = KINDS.flatMap((kind) => filters.map((f) => `$${kind.name}${f.m}`));
  const paramTypes = (params: string): string => (params.match(/\(param \$\w+ (i32|v128)\)/g) ?? []).map((p) => p.split(' ')[2].replace(')', '')).join(' ');
  return [
    ';; Generated by scripts/winograd_wat.ts: do not edit. The 2-D transforms of Winograd F(m x m, 3 x 3)',
    `;; for one tile and four channels, m = ${filters.map((f) => f.m).join(' or ')} (kernels.wat calls them through $winogradTiles: kind k,`,
    ';; tile size m at entry global $<kind>s + m - 4): a block read from memory (rows $rs and elements',
    ';; $cs bytes apart; where masked, bit r of $rows and bit c of $cols say what lies inside the image,',
    ';; zero elsewhere) or from the (m + 2)^2 planes of $table at byte $offset; transformed along rows,',
    ';; then columns; written to the planes or to memory.',
    ...KINDS.map((kind) => `  (type $${kind.name} (func (param ${paramTypes(kind.params)})))`),
    `  (table $winogradTiles ${names.length} funcref)`,
    `  (elem (table $winogradTiles) (i32.const 0) func ${names.join(' ')})`,
    ...KINDS.map((kind, k) => `  (global $${kind.name}s i32 (i32.const ${k * filters.length}))`),
    ...KINDS.flatMap((kind) => filters.map((f) => tileFunction(`${kind.name}${f.m}`, kind.params, kind.read(f), kind.matrix(f), kind.write))),
    '',
  ].join('\n');
}
