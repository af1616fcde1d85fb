/**
 * `deformconv/node`: the whole experiment for Node programs: everything in
 * `deformconv/experiment`, plus what needs Node: backend selection, MNIST files (download,
 * checksums, IDX parsing), the training loop with its worker threads and checkpoints,
 * pictures rendered to PNG/GIF with sharp, and the orchestration behind the CLI's
 * `reproduce`, `report` and `eval`.
 */
export * from './experiment';
export { DeformconvError, UserError, EnvironmentError } from './errors';
export { deformconvVersion } from './version';
export { useBackend, probeBackends, autoPick, parseBackendChoice, formatBackend, backendDetails, backendRecord, BACKEND_CHOICES, BACKEND_ENV_VAR, BACKEND_PACKAGES, AUTO_ORDER } from './backend/select';
export type { BackendChoice, BackendName, BackendDescription, BackendProbe, BackendRecord } from './backend/select';
export { loadMnist, loadMnistSplit, mnistDir, downloadCommandFor, DEFAULT_DATA_DIR } from './data/mnist';
export type { LoadOptions } from './data/mnist';
export { readIdxImages, readIdxLabels } from './data/idx_files';
export { MNIST_FILES, mnistFile, checkFile, sha256OfFile } from './data/checksums';
export type { MnistFile, FileStatus } from './data/checksums';
export { downloadMnist, fetchFromMirrors, normalizeMirror, mnistPackageDir, DEFAULT_MIRRORS, DOWNLOAD_DEFAULTS, DATA_SOURCES, SILENT_REPORTER } from './data/download';
export type { DataSource, DownloadOptions, DownloadReporter, DownloadResult, DownloadedFile } from './data/download';
export { createStepRunner, shardSizes } from './training/parallel/step_runner';
export type { StepRunner, StepRunnerOptions, StepRunResult } from './training/parallel/step_runner';
export { train, trainRegular, finetuneDeform, buildStageModel, loadTrainedModel } from './training/train';
export type { TrainOptions, TrainResult } from './training/train';
export { stageMetrics, readStageMetrics } from './training/state';
export type { TrainingState, EpochRecord, PartialEpoch, SourceRecord, ScaledTestRecord, StageMetrics } from './training/state';
export { runLog, runBackend } from './training/run_options';
export type { RunOptions } from './training/run_options';
export { STAGES, STAGE_SPECS, resolveConfig, resumeConfig, CHANGEABLE_ON_RESUME, DEFAULT_SEED, DEFAULT_BATCH_SIZE, CONTROLS } from './training/config';
export type { Stage, StageSpec, TrainConfig, Control } from './training/config';
export { saveCheckpoint, readCheckpoint, latestCheckpointName } from './training/checkpoint';
export type { CheckpointContents, LoadedCheckpoint } from './training/checkpoint';
export { saveOffsetSnapshot, listOffsetSnapshots, loadOffsetSnapshot, SNAPSHOT_DIR } from './training/offset_snapshots';
export type { OffsetSnapshot } from './training/offset_snapshots';
export { renderPng, renderGif, writePng, writeGif } from './reporting/render_images';
export { writePictures, finetuneCurve, epochSnapshots } from './experiment/write_pictures';
export type { WritePicturesOptions, WrittenPictures } from './experiment/write_pictures';
export { reportMarkdown, controlFindings, dcnFindings, summarize, REPORT_VARIANTS } from './reporting/report_markdown';
export type { ReportData, ReportVariant, RunResult, Summary } from './reporting/report_markdown';
export { reproduce, PRESETS, PRESET_SPECS } from './experiment/reproduce';
export type { Preset, PresetSpec, ReproduceOptions, ReproduceResult } from './experiment/reproduce';
export { runReport, REPORT_FILE } from './experiment/report';
export type { ReportOptions, ReportResult } from './experiment/report';
export { evaluateCheckpoints } from './experiment/evaluate_checkpoints';
export type { EvaluateCheckpointsOptions } from './experiment/evaluate_checkpoints';
