/**
 * AdamUpdate's programs in WGSL (see webgpu_program.ts), one per output: tfjs runs a
 * program into one output only. Each recomputes what it needs of the others (a few
 * flops), with the same float32 operations, in the same order, as tfjs's AdamOptimizer:
 *   m' = m * beta1 + g * (1 - beta1),   v' = v * beta2 + g^2 * (1 - beta2),
 *   value' = (m' / correction1) / (sqrt(v' / correction2) + epsilon) * -learningRate + value.
 */

/** AdamUpdate's outputs, in its order. */
export const ADAM_OUTPUTS = ['newValue', 'newM', 'newV'] as const;
/** One of AdamUpdate's outputs. */
export type AdamOutput = (typeof ADAM_OUTPUTS)[number];

const NEW_M = 'fn newM(i: i32) -> f32 { return m[i] * uniforms.beta1 + gradient[i] * uniforms.oneMinusBeta1; }';
const NEW_V = 'fn newV(i: i32) -> f32 { return v[i] * uniforms.beta2 + gradient[i] * gradient[i] * uniforms.oneMinusBeta2; }';
const NEW_VALUE = `fn newValue(i: i32) -> f32 {
  return newM(i) / correction1[0] / (sqrt(newV(i) / correction2[0]) + uniforms.epsilon) * uniforms.negLearningRate + value[i];
}`;

/** What each output's program reads: its inputs, and the functions of the source. */
const NEEDS: Record<AdamOutput, { inputs: string[]; functions: string[] }> = {
  newM: { inputs: ['m', 'gradient'], functions: [NEW_M] },
  newV: { inputs: ['v', 'gradient'], functions: [NEW_V] },
  newValue: { inputs: ['value', 'm', 'v', 'gradient', 'correction1', 'correction2'], functions: [NEW_M, NEW_V, NEW_VALUE] },
};

/**
 * The inputs an output's program binds, by AdamUpdate's input names: only those it
 * reads, since tfjs's pipelines lay out the bindings a shader uses.
 */
export function adamInputNames(output: AdamOutput): readonly string[] {
  return NEEDS[output].inputs;
}

/** The source of one output's program. */
export function adamSource(output: AdamOutput): string {
  return `${NEEDS[output].functions.join('\n')}
fn main(index: i32) {
  if (index < uniforms.size) { setOutputAtIndex(index, ${output}(index)); }
}`;
}
