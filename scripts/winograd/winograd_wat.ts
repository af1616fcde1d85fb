/**
 * Writes src/kernels/wasm/simd/winograd_tiles.wat: the 2-D transforms of the Winograd
 * algorithms for 3x3 convolutions for one tile and four channels, as WebAssembly, one
 * function per transform and algorithm ("variant"). V8 does not inline wasm calls, and a call
 * per 1-D transform made the transforms three times slower, so small tiles get straight-line
 * functions; the 15x15 window of the stride-2 algorithm gets two loops (along its rows, then
 * along the rows of the result, through $scratch), 15 times less code. The matrices come from
 * scripts/winograd/cook_toom.ts, the arithmetic from scripts/winograd/linear_code.ts.
 * scripts/build_kernels.ts (`npm run build:kernels`) writes this file and assembles it into
 * conv_kernels.wat's module; tests/generated_files.test.ts fails while the committed file and
 * this generator disagree.
 */
import * as path from 'node:path';
import { packageRoot } from '../../src/version';
import { MinimalFilter, Rational, equal, minimalFilter, rational, stridedFilter, transpose } from './cook_toom';
import { Code, V, linearMap } from './linear_code';

export const WINOGRAD_WAT_FILE = path.join(packageRoot(), 'src', 'kernels', 'wasm', 'simd', 'winograd_tiles.wat');

const POINTS_4 = [0, 1, -1, 2, -2].map((p) => rational(p));

/** An algorithm: stride, outputs per tile side m, its per-axis matrices, and whether its functions loop. */
export interface WinogradVariant {
  stride: number;
  m: number;
  filter: MinimalFilter;
  looped: boolean;
}

/**
 * In table order (kernels.wat passes the index): F(4x4, 3x3) on the points 0, 1, -1, 2, -2
 * (Lavin and Gray's); F(5x5, 3x3) adds 1/2, the point with the least float32 error we found
 * (2e-6 of the sum of |terms|, as F(4x4)'s); stride 2 as 7x7 tiles of the polyphase algorithm
 * on F(7, 2) with 0, 1, -1, 2, -2, 1/2, -1/2 (stridedFilter; 2.5e-6).
 */
export const WINOGRAD_VARIANTS: WinogradVariant[] = [
  { stride: 1, m: 4, filter: minimalFilter(POINTS_4, 4, 3), looped: false },
  { stride: 1, m: 5, filter: minimalFilter([...POINTS_4, rational(1, 2)], 5, 3), looped: false },
  { stride: 2, m: 7, filter: stridedFilter(minimalFilter([...POINTS_4, rational(1, 2), rational(-1, 2)], 7, 2)), looped: true },
];

/** Points per axis: the window's size. */
const side = (f: MinimalFilter): number => f.bt.length;

/**
 * G without its trailing rows equal to the last kept one. Points whose rows of G agree share a
 * filter plane (conv_kernels.ts, filterPlaneOf), so the filter transform writes the kept rows'
 * points only (a stride-2 algorithm: 81 of 225), and its gradient reads only those, where
 * each shared plane's sum sits.
 */
function distinctG(f: MinimalFilter): Rational[][] {
  const same = (a: Rational[], b: Rational[]): boolean => a.every((x, k) => equal(x, b[k]));
  let kept = f.g.length;
  while (kept > 1 && same(f.g[kept - 1], f.g[kept - 2])) kept -= 1;
  return f.g.slice(0, kept);
}

const i32 = (n: number): string => `(i32.const ${n})`;

/** Where a block comes from: element (r, c) with both known, or row r (a runtime index) then its element c. */
interface Source {
  size: number;
  element(code: Code, r: number, c: number): V;
  row(code: Code, r: string): (c: number) => V;
}

/** Where a block goes: element (i, j) with both known, or column j (a runtime index) then its element i. */
interface Destination {
  put(code: Code, i: number, j: number, v: V): void;
  column(code: Code, j: string): (i: number, v: V) => void;
}

const masked = (code: Code, valid: string, address: string): V =>
  `(if (result v128) ${valid} (then (v128.load ${address})) (else ${code.constant('0')}))`;

/** Column c's offset, c $cs bytes. */
const columnOffset = (code: Code, c: number): string => code.once(`col${c}`, `(i32.mul (local.get $cs) ${i32(c)})`);
/** Row r's address, r $rs bytes past $image. */
const rowAddress = (code: Code, r: number): string =>
  code.once(`row${r}`, `(i32.add (local.get $image) (i32.mul (local.get $rs) ${i32(r)}))`);
/** Row r's mask of columns inside the image: $cols if bit r of $rows is set, else none. */
const rowInside = (r: string): string => `(select (local.get $cols) ${i32(0)} (i32.and (i32.shr_u (local.get $rows) ${r}) ${i32(1)}))`;

/** An image block at $image (rows $rs, elements $cs bytes apart); where masked, zero outside bits $rows x $cols. */
function image(size: number, withMasks: boolean): Source {
  return {
    size,
    element: (code, r, c) => {
      const address = `(i32.add ${rowAddress(code, r)} ${columnOffset(code, c)})`;
      return withMasks
        ? masked(code, `(i32.and ${code.once(`inside${r}`, rowInside(i32(r)))} ${i32(1 << c)})`, address)
        : `(v128.load ${address})`;
    },
    row: (code, r) => {
      const base = code.bind('rowAt', `(i32.add (local.get $image) (i32.mul (local.get $rs) ${r}))`, 'i32');
      const inside = withMasks ? code.bind('rowInside', rowInside(r), 'i32') : '';
      return (c) => {
        const address = `(i32.add ${base} ${columnOffset(code, c)})`;
        return withMasks ? masked(code, `(i32.and ${inside} ${i32(1 << c)})`, address) : `(v128.load ${address})`;
      };
    },
  };
}

/** Point (i, j) of n x n planes: its plane's address (entry n i + j of $table) plus $offset. */
const planeAt = (entry: string, offset: number): string => `(i32.add (i32.load offset=${4 * offset} ${entry}) (local.get $offset))`;

function planes(n: number): Source & Destination {
  return {
    size: n,
    element: (_code, i, j) => `(v128.load ${planeAt('(local.get $table)', n * i + j)})`,
    row: (code, i) => {
      const entries = code.bind('rowEntries', `(i32.add (local.get $table) (i32.mul ${i} ${i32(4 * n)}))`, 'i32');
      return (j) => `(v128.load ${planeAt(entries, j)})`;
    },
    put: (code, i, j, v) => code.lines.push(`(v128.store ${planeAt('(local.get $table)', n * i + j)} ${v})`),
    column: (code, j) => {
      const entries = code.bind('columnEntries', `(i32.add (local.get $table) (i32.shl ${j} ${i32(2)}))`, 'i32');
      return (i, v) => code.lines.push(`(v128.store ${planeAt(entries, n * i)} ${v})`);
    },
  };
}

/**
 * An image block at $image: each element inside bits $rows x $cols becomes max(v + $bias, $floor)
 * ('epilogue') or has v added ('accumulate'); every element becomes v ('plain').
 */
function imageOut(mode: 'epilogue' | 'accumulate' | 'plain'): Destination {
  const write = (code: Code, address: string, valid: string, v: V): void => {
    if (mode === 'plain') {
      code.lines.push(`(v128.store ${address} ${v})`);
    } else if (mode === 'epilogue') {
      code.lines.push(`(if ${valid} (then (v128.store ${address} (f32x4.max (f32x4.add ${v} (local.get $bias)) (local.get $floor)))))`);
    } else {
      code.lines.push(
        `(if ${valid} (then (local.set $at ${address}) (v128.store (local.get $at) (f32x4.add (v128.load (local.get $at)) ${v}))))`,
      );
      code.i32('at');
    }
  };
  const bit = (mask: string, k: number | string): string =>
    `(i32.and (i32.shr_u (local.get ${mask}) ${typeof k === 'number' ? i32(k) : k}) ${i32(1)})`;
  return {
    put: (code, i, j, v) =>
      write(code, `(i32.add ${rowAddress(code, i)} ${columnOffset(code, j)})`, `(i32.and ${bit('$rows', i)} ${bit('$cols', j)})`, v),
    column: (code, j) => {
      const offset = code.bind('columnAt', `(i32.mul (local.get $cs) ${j})`, 'i32');
      const inside = mode === 'plain' ? '' : code.bind('columnInside', bit('$cols', j), 'i32');
      return (i, v) => write(code, `(i32.add ${rowAddress(code, i)} ${offset})`, `(i32.and ${bit('$rows', i)} ${inside})`, v);
    },
  };
}

/** L X L^T, straight-line: along every row, then every column. */
function unrolled(code: Code, source: Source, matrix: Rational[][], destination: Destination): void {
  const map = linearMap(matrix);
  const n = source.size;
  const block = Array.from({ length: n }, (_, r) =>
    Array.from({ length: n }, (_, c) => code.bind(`x${r}_${c}`, source.element(code, r, c))),
  );
  const rows = block.map((row, r) => map(code, row).map((e, j) => code.bind(`r${r}_${j}`, e)));
  rows[0].forEach((_, j) =>
    map(
      code,
      rows.map((row) => row[j]),
    ).forEach((e, i) => destination.put(code, i, j, code.bind(`c${i}_${j}`, e))),
  );
}

/** `body(index)` for index in [0, count), as a loop over the i32 local `name`. */
function loop(code: Code, name: string, count: number, body: (index: string) => void): void {
  const index = code.i32(name);
  code.lines.push(
    `(local.set $${name} ${i32(0)})`,
    `(block $${name}_done (loop $each_${name}`,
    `(br_if $${name}_done (i32.ge_u ${index} ${i32(count)}))`,
  );
  body(index);
  code.lines.push(`(local.set $${name} (i32.add ${index} ${i32(1)}))`, `(br $each_${name})))`);
}

/**
 * L X L^T in two loops: row r of the block along L into column r of the scratch block
 * ($scratch, [outputs][rows] vectors), then row j of that along L into column j of the result.
 */
function looped(code: Code, source: Source, matrix: Rational[][], destination: Destination): void {
  const map = linearMap(matrix);
  const [inputs, outputs] = [matrix[0].length, matrix.length];
  loop(code, 'r', inputs, (r) => {
    const element = source.row(code, r);
    const x = Array.from({ length: inputs }, (_, c) => code.bind(`x${c}`, element(c)));
    const at = code.bind('scratchAt', `(i32.add (local.get $scratch) (i32.shl ${r} ${i32(4)}))`, 'i32');
    map(code, x).forEach((e, j) => code.lines.push(`(v128.store offset=${16 * inputs * j} ${at} ${e})`));
  });
  loop(code, 'j', outputs, (j) => {
    const at = code.bind('scratchAt', `(i32.add (local.get $scratch) (i32.mul ${j} ${i32(16 * inputs)}))`, 'i32');
    const x = Array.from({ length: inputs }, (_, r) => code.bind(`x${r}`, `(v128.load offset=${16 * r} ${at})`));
    const write = destination.column(code, j);
    map(code, x).forEach((e, i) => write(i, code.bind(`y${i}`, e)));
  });
}

/**
 * Every tile function's parameters: the image side ($image, strides, masks), the planes ($table,
 * $offset), the output's epilogue ($bias, $floor), and $scratch; each kind uses what it needs.
 */
const PARAMS =
  '(param $image i32) (param $cs i32) (param $rs i32) (param $rows i32) (param $cols i32) (param $table i32) (param $offset i32) ' +
  '(param $bias v128) (param $floor v128) (param $scratch i32)';

/** A kind of tile function: for an algorithm, what it reads, its matrix, where it writes. */
interface Kind {
  name: string;
  source: (f: MinimalFilter) => Source;
  matrix: (f: MinimalFilter) => Rational[][];
  destination: (f: MinimalFilter) => Destination;
  /** Only for these strides (others get a stub that traps). */
  strides?: number[];
}

/** The kinds, in table order. */
const KINDS: Kind[] = [
  { name: 'inputTile', source: (f) => image(side(f), true), matrix: (f) => f.bt, destination: (f) => planes(side(f)) },
  {
    name: 'outputGradientTile',
    source: (f) => image(f.m, true),
    matrix: (f) => transpose(f.at),
    destination: (f) => planes(side(f)),
  },
  { name: 'filterTile', source: () => image(3, false), matrix: distinctG, destination: (f) => planes(side(f)) },
  {
    name: 'outputTile',
    source: (f) => planes(side(f)),
    matrix: (f) => f.at,
    destination: () => imageOut('epilogue'),
  },
  {
    name: 'filterGradientTile',
    source: (f) => planes(side(f)),
    matrix: (f) => transpose(distinctG(f)),
    destination: () => imageOut('plain'),
  },
  // The adjoint of inputTile: B dv B^T added into the input gradient's window (windows overlap).
  {
    name: 'inputGradientTile',
    source: (f) => planes(side(f)),
    matrix: (f) => transpose(f.bt),
    destination: () => imageOut('accumulate'),
    strides: [2],
  },
];

function functionText(name: string, code: Code): string {
  const locals = [...code.locals].map(([l, type]) => `(local $${l} ${type})`);
  const localLines = Array.from({ length: Math.ceil(locals.length / 8) }, (_, k) => locals.slice(8 * k, 8 * k + 8).join(' '));
  const body = [...localLines, ...code.prologue, ...code.lines];
  return [`  (func $${name} (type $tile) ${PARAMS}`, ...body.map((l) => `    ${l}`)].join('\n') + ')';
}

function tileFunction(kind: Kind, variant: WinogradVariant, index: number): string {
  const name = `${kind.name}${index}`;
  const code = new Code();
  if (kind.strides && !kind.strides.includes(variant.stride)) {
    code.lines.push('(unreachable)');
  } else {
    const emit = variant.looped ? looped : unrolled;
    emit(code, kind.source(variant.filter), kind.matrix(variant.filter), kind.destination(variant.filter));
  }
  return functionText(name, code);
}

const paramTypes = (params: string): string =>
  (params.match(/\(param \$\w+ (i32|v128)\)/g) ?? []).map((p) => p.split(' ')[2].replace(')', '')).join(' ');

/** The generated file's text. */
export function winogradWat(): string {
  const variants = WINOGRAD_VARIANTS;
  const names = KINDS.flatMap((kind) => variants.map((_, v) => `$${kind.name}${v}`));
  const described = variants.map((v, i) => `${i}: stride ${v.stride}, ${v.m}x${v.m} tiles${v.looped ? ' (looped)' : ''}`).join('; ');
  return [
    ';; Generated by `npm run build:kernels` (scripts/winograd/winograd_wat.ts): do not edit.',
    ';; The 2-D transforms of Winograd algorithms for 3x3 convolutions, for one tile and four',
    ';; channels; conv_kernels.wat calls them through the table',
    `;; $winogradTiles, kind k of variant v at global $<kind>s + v (${described}).`,
    ';; Each reads a block from memory (rows $rs and elements $cs bytes apart; where masked, bit r of',
    ';; $rows and bit c of $cols say what lies inside the image, zero elsewhere) or from the planes of',
    ';; $table at byte $offset, transforms it along rows, then columns, and writes it to the planes or',
    ';; to memory. $scratch: 16 x (window size)^2 bytes, for the looped ones.',
    `  (type $tile (func (param ${paramTypes(PARAMS)})))`,
    `  (table $winogradTiles ${names.length} funcref)`,
    `  (elem (table $winogradTiles) (i32.const 0) func ${names.join(' ')})`,
    ...KINDS.map((kind, k) => `  (global $${kind.name}s i32 (i32.const ${k * variants.length}))`),
    ...KINDS.flatMap((kind) => variants.map((variant, v) => tileFunction(kind, variant, v))),
    '',
  ].join('\n');
}
