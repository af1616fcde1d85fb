/**
 * The deformable programs in GLSL ES 3.00, as tfjs-backend-webgl compiles them: the
 * gathers are fragment programs over tfjs's input accessors (getX(b, r, c, ch) and so
 * on); the scatter is a vertex shader whose own accessors read plain textures
 * (webgl_scatter.ts). Both build on the same sample point: `tapAt`.
 */
import { DeformProgram, ProgramCall, shaderConstants } from '../gpu/deform_gpu';

/**
 * Interpolation along one axis: corners i = (floor, floor + 1) clamped into the axis,
 * w = (their weights, their derivatives), as kernels/typed/bilinear.ts's AxisTaps; lo,
 * the floor itself (-1 to size - 1, where the scatter puts the corners).
 */
const AXIS = `struct Axis { ivec2 i; vec4 w; int lo; };
struct Point { int b; Axis r; Axis c; float m; };`;

const AXIS_AT = {
  clip: `Axis axisAt(float c, int last) {
  float l = float(last);
  bool inside = c >= 0. && c <= l;
  float k = inside ? c : c > l ? l : 0.;
  float f = floor(k), d = inside ? 1. : 0.;
  int lo = int(f);
  return Axis(ivec2(lo, min(lo + 1, last)), vec4(1. - (k - f), k - f, -d, d), lo);
}`,
  zero: `Axis axisAt(float c, int last) {
  if (!(c > -1. && c < float(last + 1))) return Axis(ivec2(0), vec4(0.), 0);
  float f = floor(c), a = f >= 0. ? 1. : 0., b = f < float(last) ? 1. : 0.;
  int lo = int(f);
  return Axis(ivec2(max(lo, 0), min(lo + 1, last)), vec4(a * (1. - (c - f)), b * (c - f), -a, b), lo);
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
 * The scatter's layout of dx: one image plane per (batch, channel), planes side by side
 * in slots of (H + 1) x (W + 1) texels, `perRow` slots a row, the image at the slot's
 * (1, 1) and a texel of margin before it, and one more row and column at the end, so that
 * every 2x2 block of a sample's corners (rows and columns floor - 1 ... size) lies in the
 * texture, its centre at least a texel inside.
 */
export interface PlaneLayout {
  perRow: number;
  rows: number;
  columns: number;
}

/** GLSL for the texel (column, row) of pixel (r, c) of plane p, in `layout`. */
function planeTexel(layout: PlaneLayout, p: string, r: string, c: string): string {
  return `ivec2((${p}) % ${layout.perRow} * (IN_W + 1) + 1 + ${c}, (${p}) / ${layout.perRow} * (IN_H + 1) + 1 + ${r})`;
}

/**
 * The scatter's vertex: sample gl_VertexID (an element of dColumns) as a 2x2 point on its
 * four corners' texels, with their shares, or off screen when every share is zero.
 */
function scatterMain(layout: PlaneLayout): string {
  return `flat out vec4 shares;
flat out ivec2 origin;
void main() {
  int n = gl_VertexID / (TAPS * IN_C), col = gl_VertexID % (TAPS * IN_C), ch = col % IN_C;
  Point p = tapAt(n, ch / GROUP_C, col / IN_C);
  vec4 r = p.r.w, c = p.c.w;
  shares = p.m * getDColumns(n, col) * vec4(r.x * c.x, r.x * c.y, r.y * c.x, r.y * c.y);
  origin = ${planeTexel(layout, 'p.b * IN_C + ch', 'p.r.lo', 'p.c.lo')};
  gl_PointSize = 2.;
  gl_Position = shares == vec4(0.) ? vec4(2., 2., 0., 1.) : vec4(vec2(origin + 1) / vec2(${layout.columns}, ${layout.rows}) * 2. - 1., 0., 1.);
}`;
}

/** The fragment shader of the scatter: its corner's share, added by blending. */
export const SCATTER_FRAGMENT = `#version 300 es
precision highp float;
precision highp int;
flat in vec4 shares;
flat in ivec2 origin;
out vec4 color;
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy) - origin;
  float share = at.y == 0 ? (at.x == 0 ? shares.x : shares.y) : (at.x == 0 ? shares.z : shares.w);
  if (share == 0.) discard;
  color = vec4(share, 0., 0., 0.);
}`;

function constants(call: ProgramCall): string {
  return shaderConstants(call.geometry)
    .map(([name, value]) => `const int ${name} = ${value};`)
    .join('\n');
}

function declarations(call: ProgramCall): string {
  return [constants(call), AXIS, AXIS_AT[call.border], tapAt('mask' in call.inputs)].join('\n');
}

/** A gather program's source (tfjs's userCode: its accessors and setOutput come before it). */
export function gatherSource(call: ProgramCall): string {
  if (call.program === 'inputGrad') throw new Error('inputGrad is a scatter');
  return [declarations(call), INTERP, GATHER_MAINS[call.program]].join('\n');
}

/**
 * The scatter's vertex shader, whole: `accessors` (getDColumns, getOffsets, getMask over
 * plain textures) before the shared code.
 */
export function scatterVertexSource(call: ProgramCall, accessors: string, layout: PlaneLayout): string {
  return ['#version 300 es\nprecision highp float;\nprecision highp int;', accessors, declarations(call), scatterMain(layout)].join('\n');
}

/** The tfjs program that reads dx, NHWC, out of the scatter's planes (input `planes`). */
export function planesToNhwcSource(call: ProgramCall, layout: PlaneLayout): string {
  return `${constants(call)}
void main() {
  ivec4 o = getOutputCoords();
  ivec2 texel = ${planeTexel(layout, 'o.x * IN_C + o.w', 'o.y', 'o.z')};
  setOutput(getPlanes(texel.y, texel.x));
}`;
}
