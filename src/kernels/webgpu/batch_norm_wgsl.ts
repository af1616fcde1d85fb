/**
 * batchNormTraining's programs in WGSL (see webgpu_program.ts for what tfjs declares
 * around them). x and dy are read flat, as [rows, channels]; uniforms.rows,
 * uniforms.channels and uniforms.epsilon come with every program.
 *
 * - A column sum makes one [channels] output: one workgroup per channel, each invocation
 *   summing every WORKGROUP_SIZE-th row, then a tree reduction in workgroup memory.
 * - A channel map is one invocation per output element, c its channel: y and dx (x's
 *   shape) and dx's coefficients ([3, channels]), as ../typed/batch_norm.ts computes them.
 */
import { WORKGROUP_SIZE } from './webgpu_program';

/** The column sums, by the output each makes. */
export type ColumnSum = 'mean' | 'variance' | 'dOffset' | 'dScale';
/** The elementwise passes, by the output each makes. */
export type ChannelMap = 'y' | 'coefficients' | 'dx';

const HELPERS = `fn at(r: i32, c: i32) -> i32 { return r * uniforms.channels + c; }
fn rstd(variance: f32) -> f32 { return 1. / sqrt(variance + uniforms.epsilon); }`;

/** Each sum's term (a function body) at row r, channel c, and how the channel's `total` becomes the output. */
const SUMS: Record<ColumnSum, { term: string; finish: string }> = {
  mean: { term: 'return x[at(r, c)];', finish: 'total / f32(uniforms.rows)' },
  // Squared deviations from the mean, not E[x^2] - mean^2, which cancels.
  variance: { term: 'let d = x[at(r, c)] - mean[c]; return d * d;', finish: 'total / f32(uniforms.rows)' },
  dOffset: { term: 'return dy[at(r, c)];', finish: 'total' },
  dScale: { term: 'return dy[at(r, c)] * (x[at(r, c)] - mean[c]);', finish: 'rstd(variance[c]) * total' },
};

/** The source of one column sum. */
export function columnSumSource(sum: ColumnSum): string {
  const { term, finish } = SUMS[sum];
  return `${HELPERS}
var<workgroup> partial: array<f32, ${WORKGROUP_SIZE}>;
fn term(r: i32, c: i32) -> f32 { ${term} }
fn main(index: i32) {
  let c = index / ${WORKGROUP_SIZE};
  let lane = index % ${WORKGROUP_SIZE};
  var sum = 0.;
  for (var r = lane; r < uniforms.rows; r += ${WORKGROUP_SIZE}) { sum += term(r, c); }
  partial[lane] = sum;
  for (var width = ${WORKGROUP_SIZE / 2}; width > 0; width /= 2) {
    workgroupBarrier();
    if (lane < width) { partial[lane] += partial[lane + width]; }
  }
  if (lane == 0) {
    let total = partial[0];
    setOutputAtIndex(c, ${finish});
  }
}`;
}

const MAPS: Record<ChannelMap, string> = {
  // y = x * gain + shift, gain = scale / sqrt(variance + epsilon), shift = offset - mean * gain.
  y: `let gain = scale[c] / sqrt(variance[c] + uniforms.epsilon);
  return x[index] * gain + (offset[c] - mean[c] * gain);`,
  // [3, channels]: k1, k2 and shift of dx = dy * k1 + shift + x * k2 (../typed/batch_norm.ts's
  // gradientCoefficients), apart from dx's pass because one pass reading all nine inputs
  // would bind more storage buffers than WebGPU's default limit (8). k2 wants
  // scale * rstd^3 * sum(dy * xc), and dScale holds rstd * sum(dy * xc).
  coefficients: `let r = rstd(variance[c]);
  let n = f32(uniforms.rows);
  let k2 = (-scale[c] * r * r * dScale[c] + 2. * dVariance[c]) / n;
  let k3 = (-scale[c] * r * dOffset[c] + dMean[c]) / n;
  let k = index / uniforms.channels;
  return select(select(k3 - mean[c] * k2, k2, k == 1), scale[c] * r, k == 0);`,
  dx: `let channels = uniforms.channels;
  return dy[index] * coefficients[c] + coefficients[2 * channels + c] + x[index] * coefficients[channels + c];`,
};

/** The source of one channel map. */
export function channelMapSource(map: ChannelMap): string {
  return `${HELPERS}
fn element(index: i32, c: i32) -> f32 {
  ${MAPS[map]}
}
fn main(index: i32) {
  if (index < uniforms.size) { setOutputAtIndex(index, element(index, index % uniforms.channels)); }
}`;
}
