/**
 * deformconv: deformable convolution for TensorFlow.js.
 * The library entry: everything a user imports from 'deformconv'.
 */
export { DeformconvError, UserError, EnvironmentError } from './errors';
