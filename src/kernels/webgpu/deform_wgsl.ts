/**
 * The deformable programs in WGSL, as tfjs-backend-webgpu compiles them: tfjs declares
 * the buffers, the accessors (getX(b, r, c, ch) and so on), getCoordsFromIndex and
 * setOutputAtIndex, and calls `main` with each invocation's flat index. The programs
 * are the webgl ones (deform_glsl.ts), statement for statement.
 */
import { DeformProgram, ProgramCall, shaderConstants } from '../gpu/deform_gpu';

/** Interpolation along one axis: corners i, w = (their weights, their derivatives); see deform_glsl.ts. */
const AXIS = `struct Axis { i: vec2<i32>, w: vec4<f32> }
struct Point { b: i32, r: Axis, c: Axis, m: f32 }`;

const AXIS_AT = {
  clip: `fn axisAt(c: f32, last: i32) -> Axis {
  let l = f32(last);
  let inside = c >= 0. && c <= l;
  let k = select(select(0., l, c > l), c, inside);
  let f = floor(k);
  let d = select(0., 1., inside);
  let lo = i32(f);
  return Axis(vec2<i32>(lo, min(lo + 1, last)), vec4<f32>(1. - (k - f), k - f, -d, d));
}`,
  zero: `fn axisAt(c: f32, last: i32) -> Axis {
  if (!(c > -1. && c < f32(last + 1))) { return Axis(vec2<i32>(0), vec4<f32>(0.)); }
  let f = floor(c);
  let a = select(0., 1., f >= 0.);
  let b = select(0., 1., f < f32(last));
  let lo = i32(f);
  return Axis(vec2<i32>(max(lo, 0), min(lo + 1, last)), vec4<f32>(a * (1. - (c - f)), b * (c - f), -a, b));
}`,
};

function tapAt(hasMask: boolean): string {
  return `fn tapAt(n: i32, g: i32, t: i32) -> Point {
  let b = n / (OUT_H * OUT_W);
  let i = n / OUT_W % OUT_H;
  let j = n % OUT_W;
  let gt = g * TAPS + t;
  return Point(b,
    axisAt(f32(i * STRIDE_H - PAD_T + t / K_W * DIL_H) + getOffsets(b, i, j, 2 * gt), IN_H - 1),
    axisAt(f32(j * STRIDE_W - PAD_L + t % K_W * DIL_W) + getOffsets(b, i, j, 2 * gt + 1), IN_W - 1),
    ${hasMask ? 'getMask(b, i, j, gt)' : '1.'});
}`;
}

const INTERP = `fn interp(p: Point, ch: i32) -> vec3<f32> {
  let v = vec4<f32>(getX(p.b, p.r.i.x, p.c.i.x, ch), getX(p.b, p.r.i.x, p.c.i.y, ch), getX(p.b, p.r.i.y, p.c.i.x, ch), getX(p.b, p.r.i.y, p.c.i.y, ch));
  let r = p.r.w;
  let c = p.c.w;
  let lo = vec2<f32>(c.x * v.x + c.y * v.y, c.z * v.x + c.w * v.y);
  let hi = vec2<f32>(c.x * v.z + c.y * v.w, c.z * v.z + c.w * v.w);
  return vec3<f32>(r.x * lo.x + r.y * hi.x, r.z * lo.x + r.w * hi.x, r.x * lo.y + r.y * hi.y);
}`;

function tapGradient(perTap: number, pick: string, scale: string): string {
  return `fn main(index: i32) {
  if (index >= OUTPUT_SIZE) { return; }
  let o = getCoordsFromIndex(index);
  let gt = o.w / ${perTap};
  let g = gt / TAPS;
  let t = gt % TAPS;
  let n = (o.x * OUT_H + o.y) * OUT_W + o.z;
  let p = tapAt(n, g, t);
  var sum = 0.;
  for (var ch = g * GROUP_C; ch < (g + 1) * GROUP_C; ch++) {
    let s = interp(p, ch);
    sum += getDColumns(n, t * IN_C + ch) * ${pick};
  }
  setOutputAtIndex(index, ${scale} * sum);
}`;
}

const MAINS: Record<DeformProgram, string> = {
  columns: `fn main(index: i32) {
  if (index >= OUTPUT_SIZE) { return; }
  let o = getCoordsFromIndex(index);
  let ch = o.y % IN_C;
  let p = tapAt(o.x, ch / GROUP_C, o.y / IN_C);
  setOutputAtIndex(index, p.m * interp(p, ch).x);
}`,
  offsetsGrad: tapGradient(2, 'select(s.z, s.y, o.w % 2 == 0)', 'p.m'),
  maskGrad: tapGradient(1, 's.x', '1.'),
  // One invocation per sample (element of dColumns), adding its four corners' shares to dx.
  // WGSL has no float atomics: a compare-exchange loop on the float's bits adds exactly.
  inputGrad: `fn addAt(at: i32, amount: f32) {
  if (amount == 0.) { return; }
  var old = atomicLoad(&result[at]);
  loop {
    let swap = atomicCompareExchangeWeak(&result[at], old, bitcast<i32>(bitcast<f32>(old) + amount));
    if (swap.exchanged) { break; }
    old = swap.old_value;
  }
}
fn main(e: i32) {
  if (e >= SAMPLES) { return; }
  let n = e / (TAPS * IN_C);
  let col = e % (TAPS * IN_C);
  let ch = col % IN_C;
  let p = tapAt(n, ch / GROUP_C, col / IN_C);
  let g = p.m * getDColumns(n, col);
  let lo = (p.b * IN_H + p.r.i.x) * IN_W;
  let hi = (p.b * IN_H + p.r.i.y) * IN_W;
  addAt((lo + p.c.i.x) * IN_C + ch, g * p.r.w.x * p.c.w.x);
  addAt((lo + p.c.i.y) * IN_C + ch, g * p.r.w.x * p.c.w.y);
  addAt((hi + p.c.i.x) * IN_C + ch, g * p.r.w.y * p.c.w.x);
  addAt((hi + p.c.i.y) * IN_C + ch, g * p.r.w.y * p.c.w.y);
}`,
};

/**
 * A program's source (tfjs's getUserCode): `invocations` bounds the flat index, as
 * OUTPUT_SIZE for a gather and SAMPLES for the scatter.
 */
export function wgslSource(call: ProgramCall, invocations: number): string {
  const bound = call.program === 'inputGrad' ? 'SAMPLES' : 'OUTPUT_SIZE';
  const constants = [...shaderConstants(call.geometry), [bound, invocations] as const].map(([name, value]) => `const ${name} = ${value};`);
  return [
    ...constants,
    AXIS,
    AXIS_AT[call.border],
    tapAt('mask' in call.inputs),
    call.program === 'inputGrad' ? '' : INTERP,
    MAINS[call.program],
  ].join('\n');
}
