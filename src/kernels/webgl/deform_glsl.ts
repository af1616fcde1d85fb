/**
 * The deformable programs in GLSL ES 3.00, as tfjs-backend-webgl compiles them: the
 * gathers are fragment programs over tfjs's input accessors (getX(b, r, c, ch) and so
 * on); the scatter is a vertex shader whose own accessors read plain textures
 * (webgl_scatter.ts). Both build on the same sample point: `tapAt`.
 */
import { DeformProgram, ProgramCall, shaderConstants } from '../gpu/deform_gpu';

/**
 * Interpolation along one axis: corners i = (floor, floor + 1) clamped into the axis,
 * w = (their weights, their derivatives), as kernels/typed/bilinear.ts's AxisTaps.
 */
const AXIS = `struct Axis { ivec2 i; vec4 w; };
struct Point { int b; Axis r; Axis c; float m; };`;

const AXIS_AT = {
  clip: `Axis axisAt(float c, int last) {
  float l = float(last);
  bool inside = c >= 0. && c <= l;
  float k = inside ? c : c > l ? l : 0.;
  float f = floor(k), d = inside ? 1. : 0.;
  int lo = int(f);
  return Axis(ivec2(lo, min(lo + 1, last)), vec4(1. - (k - f), k - f, -d, d));
}`,
  zero: `Axis axisAt(float c, int last) {
  if (!(c > -1. && c < float(last + 1))) return Axis(ivec2(0), vec4(0.));
  float f = floor(c), a = f >= 0. ? 1. : 0., b = f < float(last) ? 1. : 0.;
  int lo = int(f);
  return Axis(ivec2(max(lo, 0), min(lo + 1, last)), vec4(a * (1. - (c - f)), b * (c - f), -a, b));
}`,
};

/** Tap t of offset group g at output position n: where it samples, and its mask. */
function tapAt(hasMask: boolean): string {
  return `Point tapAt(int n, int g, int t) {
  int b = n / (OUT_H * OUT_W), i = n / OUT_W % OUT_H, j = n % OUT_W, gt = g * TAPS + t;
  return Point(b,
    axisAt(float(i * STRIDE_H - PAD_T + t / K_W * DIL_H) + getOffsets(b, i, j, 2 * gt), IN_H - 1),
    axisAt(float(j * STRIDE_W - PAD_L + t % K_W * DIL_W) + getOffsets(b, i, j, 2 * gt + 1), IN_W - 1),
    ${hasMask ? 'getMask(b, i, j, gt)' : '1.'});
}`;
}

/** Channel ch of x at a point: (sample, d/drow, d/dcol), columns inside, rows outside. */
const INTERP = `vec3 interp(Point p, int ch) {
  vec4 v = vec4(getX(p.b, p.r.i.x, p.c.i.x, ch), getX(p.b, p.r.i.x, p.c.i.y, ch), getX(p.b, p.r.i.y, p.c.i.x, ch), getX(p.b, p.r.i.y, p.c.i.y, ch));
  vec4 r = p.r.w, c = p.c.w;
  vec2 lo = vec2(c.x * v.x + c.y * v.y, c.z * v.x + c.w * v.y), hi = vec2(c.x * v.z + c.y * v.w, c.z * v.z + c.w * v.w);
  return vec3(r.x * lo.x + r.y * hi.x, r.z * lo.x + r.w * hi.x, r.x * lo.y + r.y * hi.y);
}`;

/**
 * Sums over the group's channels of dColumns times a component of the interpolant, per
 * (tap, group) at (b, i, j): the offsets' gradient (d/drow, d/dcol, times the mask)
 * or the mask's (the sample).
 */
function tapGradient(perTap: number, pick: string, scale: string): string {
  return `void main() {
  ivec4 o = getOutputCoords();
  int gt = o.w / ${perTap}, g = gt / TAPS, t = gt % TAPS, n = (o.x * OUT_H + o.y) * OUT_W + o.z;
  Point p = tapAt(n, g, t);
  float sum = 0.;
  for (int ch = g * GROUP_C; ch < (g + 1) * GROUP_C; ch++) {
    vec3 s = interp(p, ch);
    sum += getDColumns(n, t * IN_C + ch) * ${pick};
  }
  setOutput(${scale} * sum);
}`;
}

const GATHER_MAINS: Record<Exclude<DeformProgram, 'inputGrad'>, string> = {
  columns: `void main() {
  ivec2 o = getOutputCoords();
  int ch = o.y % IN_C;
  Point p = tapAt(o.x, ch / GROUP_C, o.y / IN_C);
  setOutput(p.m * interp(p, ch).x);
}`,
  offsetsGrad: tapGradient(2, '(o.w % 2 == 0 ? s.y : s.z)', 'p.m'),
  maskGrad: tapGradient(1, 's.x', '1.'),
};

/**
 * The scatter's vertex: corner gl_VertexID % 4 of sample gl_VertexID / 4 (an element of
 * dColumns), moved onto its pixel of dx (a texture `outWidth` texels wide) with its share
 * as `value`, or off screen when the share is zero.
 */
function scatterMain(outWidth: number, outHeight: number): string {
  return `flat out float value;
void main() {
  int e = gl_VertexID / 4, n = e / (TAPS * IN_C), col = e % (TAPS * IN_C), ch = col % IN_C;
  bool hiRow = gl_VertexID % 4 > 1, hiCol = gl_VertexID % 2 == 1;
  Point p = tapAt(n, ch / GROUP_C, col / IN_C);
  value = p.m * getDColumns(n, col) * (hiRow ? p.r.w.y : p.r.w.x) * (hiCol ? p.c.w.y : p.c.w.x);
  int target = ((p.b * IN_H + (hiRow ? p.r.i.y : p.r.i.x)) * IN_W + (hiCol ? p.c.i.y : p.c.i.x)) * IN_C + ch;
  vec2 texel = (vec2(target % ${outWidth}, target / ${outWidth}) + .5) / vec2(${outWidth}, ${outHeight});
  gl_PointSize = 1.;
  gl_Position = value == 0. ? vec4(2., 2., 0., 1.) : vec4(texel * 2. - 1., 0., 1.);
}`;
}

/** The fragment shader of the scatter: the vertex's share, added by blending. */
export const SCATTER_FRAGMENT = `#version 300 es
precision highp float;
flat in float value;
out vec4 color;
void main() { color = vec4(value, 0., 0., 0.); }`;

function declarations(call: ProgramCall): string {
  const constants = shaderConstants(call.geometry).map(([name, value]) => `const int ${name} = ${value};`);
  return [...constants, AXIS, AXIS_AT[call.border], tapAt('mask' in call.inputs)].join('\n');
}

/** A gather program's source (tfjs's userCode: its accessors and setOutput come before it). */
export function gatherSource(call: ProgramCall): string {
  if (call.program === 'inputGrad') throw new Error('inputGrad is a scatter');
  return [declarations(call), INTERP, GATHER_MAINS[call.program]].join('\n');
}

/**
 * The scatter's vertex shader, whole: `accessors` (getDColumns, getOffsets, getMask over
 * plain textures) before the shared code, dx's texture `outTexShape` [rows, columns].
 */
export function scatterVertexSource(call: ProgramCall, accessors: string, [outRows, outColumns]: number[]): string {
  return ['#version 300 es\nprecision highp float;\nprecision highp int;', accessors, declarations(call), scatterMain(outColumns, outRows)].join('\n');
}
