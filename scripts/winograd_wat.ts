/**
 * Writes src/kernels/wasm/simd/winograd_tiles.wat: the 2-D transforms of Winograd
 * F(4x4, 3x3) for one tile and four channels, as straight-line WebAssembly. V8 does not
 * inline wasm calls, and a call per 1-D transform made the transforms three times slower,
 * so each 2-D transform is one function, generated here from the 1-D transforms below
 * (Lavin and Gray's matrices, 2016, factored by hand). kernels.wat's loops call them;
 * build_simd_kernels.ts writes this file and assembles both into one module.
 *
 * tests/wasm_simd_kernels.test.ts fails while the committed file and this generator disagree.
 */
import * as path from 'node:path';
import { packageRoot } from '../src/version';

export const WINOGRAD_WAT_FILE = path.join(packageRoot(), 'src', 'kernels', 'wasm', 'simd', 'winograd_tiles.wat');

/** A WebAssembly expression of type v128 (four float32 lanes). */
type V = string;

/** Straight-line code: named v128 locals and the instructions that set them. */
class Code {
  readonly lines: string[] = [];
  readonly locals = new Set<string>();
  private temps = 0;

  /** Binds `expr` to local `name`; the local's value as an expression. */
  bind(name: string, expr: V): V {
    this.locals.add(name);
    this.lines.push(`(local.set $${name} ${expr})`);
    return `(local.get $${name})`;
  }

  /** Binds `expr` to a fresh temporary (an intermediate used twice). */
  temp(expr: V): V {
    return this.bind(`t${this.temps++}`, expr);
  }
}

const add = (a: V, b: V): V => `(f32x4.add ${a} ${b})`;
const sub = (a: V, b: V): V => `(f32x4.sub ${a} ${b})`;
/** k as WebAssembly writes a float32 exactly (1/6 and the like in hexadecimal). */
function floatText(k: number): string {
  return Number.isInteger(k * 64) ? String(k) : `${k < 0 ? '-' : ''}0x${Math.fround(Math.abs(k)).toString(16)}`;
}
const mul = (a: V, k: number): V => `(f32x4.mul ${a} (v128.const f32x4 ${Array(4).fill(floatText(k)).join(' ')}))`;
const SIXTH = 1 / 6;

/** A 1-D transform: input vector in, output vector out (expressions). */
type Transform = (code: Code, x: V[]) => V[];

/** B^T d: 6 -> 6. */
const inputTransform: Transform = (code, [d0, d1, d2, d3, d4, d5]) => {
  const a = code.temp(sub(d4, d2));
  const b = code.temp(mul(sub(d3, d1), 2));
  return [
    add(sub(mul(d0, 4), mul(d2, 5)), d4),
    sub(add(d3, d4), mul(add(d1, d2), 4)),
    add(sub(d4, d3), mul(sub(d1, d2), 4)),
    add(a, b),
    sub(a, b),
    add(sub(mul(d1, 4), mul(d3, 5)), d5),
  ];
};

/** A^T m: 6 -> 4. */
const outputTransform: Transform = (code, [m0, m1, m2, m3, m4, m5]) => {
  const p12 = code.temp(add(m1, m2));
  const m12 = code.temp(sub(m1, m2));
  const p34 = code.temp(add(m3, m4));
  const m34 = code.temp(sub(m3, m4));
  return [add(add(m0, p12), p34), add(m12, mul(m34, 2)), add(p12, mul(p34, 4)), add(add(m12, mul(m34, 8)), m5)];
};

/** A y: 4 -> 6, the transpose of A^T (the output gradient's transform). */
const outputGradientTransform: Transform = (code, [y0, y1, y2, y3]) => {
  const e = code.temp(add(y0, y2));
  const o = code.temp(add(y1, y3));
  const e4 = code.temp(add(y0, mul(y2, 4)));
  const o4 = code.temp(add(mul(y1, 2), mul(y3, 8)));
  return [y0, add(e, o), sub(e, o), add(e4, o4), sub(e4, o4), y3];
};

/** G g: 3 -> 6. */
const filterTransform: Transform = (code, [g0, g1, g2]) => {
  const s = code.temp(add(g0, g2));
  const e = code.temp(add(mul(g0, SIXTH / 4), mul(g2, SIXTH)));
  const o = code.temp(mul(g1, SIXTH / 2));
  return [mul(g0, 0.25), mul(add(s, g1), -SIXTH), mul(sub(s, g1), -SIXTH), add(e, o), sub(e, o), g2];
};

/** G^T u: 6 -> 3, the transpose of G (the filter gradient's transform). */
const filterGradientTransform: Transform = (code, [u0, u1, u2, u3, u4, u5]) => {
  const p12 = code.temp(add(u1, u2));
  const p34 = code.temp(add(u3, u4));
  return [
    add(sub(mul(u0, 0.25), mul(p12, SIXTH)), mul(p34, SIXTH / 4)),
    add(mul(sub(u2, u1), SIXTH), mul(sub(u3, u4), SIXTH / 2)),
    add(mul(sub(p34, p12), SIXTH), u5),
  ];
};

/** L X L^T for the block X (rows of expressions): `transform` along every row, then every column. */
function transform2D(code: Code, block: V[][], transform: Transform): V[][] {
  const rows = block.map((row, r) => transform(code, row).map((e, j) => code.bind(`r${r}_${j}`, e)));
  const columns = rows[0].map((_, j) => transform(code, rows.map((row) => row[j])).map((e, i) => code.bind(`c${i}_${j}`, e)));
  return columns[0].map((_, i) => columns.map((column) => column[i]));
}

const i32 = (n: number): string => `(i32.const ${n})`;
/** Address of element (r, c) of a strided block at $base ($src or $dst): $base + r $rs + c $cs. */
const at = (base: string, r: number, c: number): string =>
  `(i32.add (i32.add (local.get ${base}) (i32.mul (local.get $rs) ${i32(r)})) (i32.mul (local.get $cs) ${i32(c)}))`;
/** Whether element (r, c) of the window is inside the image: bit r of $rows and bit c of $cols. */
const inside = (r: number, c: number): string =>
  `(i32.and (i32.and (i32.shr_u (local.get $rows) ${i32(r)}) (i32.shr_u (local.get $cols) ${i32(c)})) ${i32(1)})`;
/** Byte address of point p's plane entry at $offset (the table holds the 36 planes' addresses). */
const plane = (p: number): string => `(i32.add (i32.load offset=${4 * p} (local.get $table)) (local.get $offset))`;

function readBlock(size: number, masked: boolean): V[][] {
  return Array.from({ length: size }, (_, r) =>
    Array.from({ length: size }, (_, c) =>
      masked
        ? `(if (result v128) ${inside(r, c)} (then (v128.load ${at('$src', r, c)})) (else (v128.const i32x4 0 0 0 0)))`
        : `(v128.load ${at('$src', r, c)})`,
    ),
  );
}

function readPlanes(): V[][] {
  return Array.from({ length: 6 }, (_, i) => Array.from({ length: 6 }, (_, j) => `(v128.load ${plane(6 * i + j)})`));
}

/** One function: its signature, its reads (a block of expressions) and what it does with the result. */
function func(name: string, params: string, read: V[][], transform: Transform, write: (code: Code, result: V[][]) => void): string {
  const code = new Code();
  const loaded = read.map((row, r) => row.map((e, c) => code.bind(`x${r}_${c}`, e)));
  write(code, transform2D(code, loaded, transform));
  const locals = [...code.locals].map((l) => `(local $${l} v128)`);
  return [`  (func $${name} ${params}`, ...chunks(locals, 8).map((l) => `    ${l.join(' ')}`), ...code.lines.map((l) => `    ${l}`)].join('\n') + ')';
}

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, k) => items.slice(k * size, (k + 1) * size));
}

const toPlanes = (code: Code, result: V[][]): void =>
  result.flat().forEach((v, p) => code.lines.push(`(v128.store ${plane(p)} ${v})`));

/** The lanes of `v` to $a, $a + $lane, $a + 2 $lane, $a + 3 $lane. */
function storeLanes(code: Code, v: V): void {
  for (let k = 0; k < 4; k++) {
    const address = k === 0 ? '(local.get $a)' : `(i32.add (local.get $a) (i32.mul (local.get $lane) ${i32(k)}))`;
    code.lines.push(`(f32.store ${address} (f32x4.extract_lane ${k} ${v}))`);
  }
}

/** Lane k of each point's vector $lane bytes after lane k - 1 (planes laid out [channels, tiles]). */
const toPlaneLanes = (code: Code, result: V[][]): void =>
  result.flat().forEach((v, p) => {
    code.lines.push(`(local.set $a ${plane(p)})`);
    storeLanes(code, v);
  });

/** max(v + $bias, $floor) to each element inside the image ($dst, strides $cs, $rs, masks $rows, $cols). */
const toImage = (code: Code, result: V[][]): void =>
  result.forEach((row, r) =>
    row.forEach((v, c) => {
      const address = at('$dst', r, c);
      code.lines.push(`(if ${inside(r, c)} (then (v128.store ${address} (f32x4.max (f32x4.add ${v} (local.get $bias)) (local.get $floor)))))`);
    }),
  );

/** Lane k of element (r, c) to $dst + r $rs + c $cs + k $lane (a block transposed on the way). */
const toBlockLanes = (code: Code, result: V[][]): void =>
  result.forEach((row, r) =>
    row.forEach((v, c) => {
      code.lines.push(`(local.set $a ${at('$dst', r, c)})`);
      storeLanes(code, v);
    }),
  );

const STRIDED = '(param $src i32) (param $cs i32) (param $rs i32)';
const MASKS = '(param $rows i32) (param $cols i32)';
const PLANES = '(param $table i32) (param $offset i32)';
const LANES = '(param $lane i32) (local $a i32)';

/** The generated file's text. */
export function winogradWat(): string {
  const functions = [
    func('inputTile', `${STRIDED} ${MASKS} ${PLANES}`, readBlock(6, true), inputTransform, toPlanes),
    func('outputGradientTileLanes', `${STRIDED} ${MASKS} ${PLANES} ${LANES}`, readBlock(4, true), outputGradientTransform, toPlaneLanes),
    func('filterTile', `${STRIDED} ${PLANES}`, readBlock(3, false), filterTransform, toPlanes),
    func(
      'outputTile',
      `${PLANES} (param $dst i32) (param $cs i32) (param $rs i32) ${MASKS} (param $bias v128) (param $floor v128)`,
      readPlanes(),
      outputTransform,
      toImage,
    ),
    func(
      'filterGradientTileLanes',
      `${PLANES} (param $dst i32) (param $cs i32) (param $rs i32) ${LANES}`,
      readPlanes(),
      filterGradientTransform,
      toBlockLanes,
    ),
  ];
  return [
    ';; Generated by scripts/winograd_wat.ts: do not edit. The 2-D transforms of Winograd F(4x4, 3x3)',
    ';; for one tile and four channels (kernels.wat calls them): a block read from memory (rows $rs and',
    ';; elements $cs bytes apart; where masked, bit r of $rows and bit c of $cols say what lies inside',
    ';; the image, zero elsewhere) or from the 36 planes of $table at byte $offset; transformed along',
    ';; rows, then columns; written to the planes or to memory (with "Lanes", each vector\'s four lanes',
    ';; $lane bytes apart: a layout transposed on the way).',
    ...functions,
    '',
  ].join('\n');
}
