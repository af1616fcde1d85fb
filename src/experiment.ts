/**
 * `deformconv/experiment`: the browser-safe half of the scaled-MNIST experiment, the same
 * modules the CLI runs: the two CNNs, the zoom-and-shift augmentation, MNIST batches from
 * in-memory splits, evaluation, the sampling-location tracer and the SVG figures.
 * Nothing here touches files, worker threads or native modules; `deformconv/node` adds
 * those (data download, training loop, checkpoints, PNG/GIF rendering).
 */
export { buildRegularCnn, buildDeformCnn, setTrainable, forward, CONV_BLOCKS, OFFSET_LAYER_NAMES, BASE_LAYER_NAMES, INPUT_SHAPE, OFFSET_INIT_STDDEV, DEFORMED_CONV_NAMES, DEFORM_TYPES } from './models/cnn';
export type { CnnOptions, DeformType } from './models/cnn';
export { transferRegularWeights } from './models/from_regular';
export { transferWeights, namedWeights } from './models/transfer';
export type { TransferOptions } from './models/transfer';
export { zoomShift, sampleZoomShift, INTERPOLATIONS, SCALED_MNIST_RANGES } from './augment/zoom_shift';
export type { ZoomShiftParams, ZoomShiftOptions, ZoomShiftRanges, Interpolation } from './augment/zoom_shift';
export { Rng } from './augment/random';
export type { RngState } from './augment/random';
export { mnistBatch, imagesAsFloat, NUM_CLASSES, IMAGE_SIZE } from './data/mnist_split';
export { mnistSplit } from './data/mnist_split';
export type { MnistSplit, MnistSplitName, MnistData, MnistBatch, LabelEncoding, SplitFiles } from './data/mnist_split';
export { parseIdxImages, parseIdxLabels, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './data/idx';
export type { IdxImages, IdxLabels } from './data/idx';
export { evaluate, evaluateModel, evalSet, evalImages, scaledTestParams, countCorrect, SCALED_TEST_SEED, SCALED_TEST_INTERPOLATION, TEST_VARIANTS } from './evaluation/evaluate';
export type { EvalSet, EvalResult, TestVariant } from './evaluation/evaluate';
export { accuracyTable, REFERENCE_ACCURACY } from './evaluation/table';
export type { Accuracies, AccuracyReport, ModelName } from './evaluation/table';
export { traceSamplingLocations, offsetAt, toImage, imageScale, sameOutputSize, samePadBefore } from './tracing/tracer';
export type { OffsetField, TapOffsetField, TraceLayer, SamplePoint, SamplingTrace } from './tracing/tracer';
export { readOffsets, readOffsetsAsync, meanOffsetFields, tapOffsetFields, offsetLayers, deformConvLayers, modelDeformType, cnnTraceLayers, cnnUnitGrid, CHANNEL_COMBINATION } from './tracing/offsets';
export type { OffsetFields, TapOffsetFields, OffsetReadout } from './tracing/offsets';
export type { Figure } from './reporting/svg';
export { samplingFigure } from './reporting/sampling_figure';
export type { SamplingFigureOptions, TraceRow, TracePanel } from './reporting/sampling_figure';
export { arrowFieldFigure } from './reporting/arrow_field';
export type { ArrowFieldOptions, FieldRow, FieldPanel } from './reporting/arrow_field';
export { samplesGridFigure } from './reporting/samples_grid';
export type { SamplesGridOptions, DigitRow, LabelledDigit } from './reporting/samples_grid';
export { curvesFigure } from './reporting/curves';
export { offsetFigures, animationFrames, scaledSamplesFigure, trainingCurvesFigure, finetuneCurveLabel, unitOnInk, PICTURE_FILES, SAMPLE_COLUMNS } from './reporting/figures';
export type { OffsetFigureInput, EpochSnapshot, PictureName, Unit } from './reporting/figures';
export type { CurvesOptions, CurveStage, CurveSeries, CurvePoint } from './reporting/curves';
