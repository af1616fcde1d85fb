/**
 * `deformconv/experiment`: the browser-safe half of the scaled-MNIST experiment, what a
 * program calls to run it its own way: the two CNNs, the zoom-and-shift augmentation,
 * evaluation, the sampling-location tracer and the SVG figures. Nothing here touches
 * files, worker threads or native modules; `deformconv/node` adds those (MNIST files,
 * training, reproduce, PNG/GIF pictures). Every name is listed in docs/API.md.
 */
export { buildRegularCnn, buildDeformCnn } from './models/cnn';
export type { CnnOptions, DeformType } from './models/cnn';
export { transferRegularWeights } from './models/from_regular';
export { zoomShift } from './augment/zoom_shift';
export type { ZoomShiftParams, ZoomShiftOptions, Interpolation } from './augment/zoom_shift';
export type { MnistSplit, MnistSplitName, MnistData } from './data/mnist_split';
export { evaluate, evalSet } from './evaluation/evaluate';
export type { EvalSet, EvalResult, TestVariant, ScaledTest } from './evaluation/evaluate';
export { traceSamplingLocations, toImage, imageScale } from './tracing/tracer';
export type { OffsetField, TapOffsetField, TraceLayer, SamplePoint, SamplingTrace } from './tracing/tracer';
export { readOffsets, readOffsetsAsync, cnnTraceLayers } from './tracing/offsets';
export type { OffsetFields, TapOffsetFields, OffsetReadout } from './tracing/offsets';
export type { Figure } from './reporting/svg';
export { samplingFigure } from './reporting/sampling_figure';
export type { SamplingFigureOptions, TraceRow, TracePanel } from './reporting/sampling_figure';
export { arrowFieldFigure } from './reporting/arrow_field';
export type { ArrowFieldOptions, FieldRow, FieldPanel } from './reporting/arrow_field';
export { samplesGridFigure } from './reporting/samples_grid';
export type { SamplesGridOptions, DigitRow, LabelledDigit } from './reporting/samples_grid';
export { curvesFigure } from './reporting/curves';
export type { CurvesOptions, CurveStage, CurveSeries, CurvePoint } from './reporting/curves';
