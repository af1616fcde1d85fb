/**
 * `deformconv/node`: the whole experiment for Node programs: everything in
 * `deformconv/experiment`, plus what needs Node: backend selection, loading the MNIST
 * files, the training loop (worker threads, checkpoints), `reproduce` (the CLI's
 * command of that name) and pictures written as PNG/GIF. Every name is listed in
 * docs/API.md.
 */
export * from './experiment';
export { useBackend } from './backend/select';
export type { BackendChoice, BackendDescription } from './backend/select';
export { loadMnist } from './data/mnist';
export type { LoadOptions } from './data/mnist';
export { train } from './training/train';
export type { TrainOptions, TrainResult } from './training/train';
export type { Stage, TrainConfig } from './training/config';
export type { TrainingState } from './training/state';
export { reproduce } from './experiment/reproduce';
export type { Preset, ReproduceOptions, ReproduceResult } from './experiment/reproduce';
export { writePng, writeGif } from './reporting/render_images';
