/**
 * adamUpdate: one Adam step of one variable as a single kernel, on backends that register
 * it (wasm). tfjs's AdamOptimizer spends about a dozen elementwise ops per variable and
 * step; on wasm their dispatch costs more than their arithmetic.
 *
 * Inputs: value, m, v, gradient (one shape), correction1 = 1 - beta1^t and
 * correction2 = 1 - beta2^t (float32 scalars); attrs beta1, beta2, epsilon, learningRate.
 * Outputs: [newValue, newM, newV], computed with the same float32 operations, in the same
 * order, as tfjs's AdamOptimizer.
 */
export const ADAM_UPDATE = 'AdamUpdate';

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
}
