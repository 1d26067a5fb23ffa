// The public library API of tlkit: what the README documents, nothing else.
// Internals stay importable from their own files as `tlkit/internal/<path>` (e.g.
// `tlkit/internal/onnx/export`), without any promise of stability.

// Train, then use what was trained.
export { train, type TrainHooks } from './workflows/train.js';
export { lrFind, type LrFindOptionsInput, type LrFindHooks, type LrFindResult } from './workflows/lrFind.js';
export type { LrSuggestions, Suggestion } from './fit/lrSuggestions.js';
export {
  TRAIN_DEFAULTS,
  type TrainOptions,
  type TrainOptionsInput,
  type TrainResult,
  type TrainMode,
  type OptimizerName,
  type HeadPooling,
  type HeadActivation,
  type HeadEngine,
} from './workflows/options.js';
export {
  loadClassifier,
  Classifier,
  type ClassifierInput,
  type ClassifierOptions,
  type ClassifierPrediction,
  type ClassProbability,
  type PredictOptions,
  type MultiLabelPrediction,
} from './inference/classifier.js';
export { evaluateRun } from './inference/evaluate.js';
export type { TtaOptions, TtaSetting } from './inference/tta.js';
export type { Evaluation, RunEvaluation, TtaRecord, FileResult } from './run/evaluation.js';
export type { MultiLabelMetrics, ClassMetrics } from './run/multiLabelMetrics.js';
export type { RunMeta, HeadSpec, OnnxBaseRecord } from './run/meta.js';
export type { HistoryData, EpochLogs } from './run/history.js';

// Pretrained conv bases, Keras's applications.
export { vgg16, vgg16Architecture } from './applications/vgg16.js';
export { mobilenet, mobilenetArchitecture, type MobileNetArgs } from './applications/mobilenet.js';
export { mobilenetV2, mobilenetV2Architecture, type MobileNetV2Args } from './applications/mobilenetV2.js';
export { resnet50 } from './applications/resnet50.js';
export { efficientnetB0 } from './applications/efficientnet.js';
export { convnextTiny } from './applications/convnext.js';
export { FAMILIES, FAMILY_NAMES, type Family, type FamilyName, type ApplicationArgs, type InputShape } from './applications/index.js';
export { preprocessInput, type PreprocessMode } from './applications/preprocess.js';
export { loadBase, type ConvBase, type LoadBaseOptions } from './applications/loadBase.js';
export { modelSummary, summarizeModel, formatSummary, type ModelSummary } from './report/summary.js';

// Data, augmentation, features.
export { imageDatasetFromDirectory, type ImageDataset, type ImageDatasetOptions, type Batch, type LabelMode } from './data/imageDataset.js';
export { checkDataset, formatCheckReport, type CheckReport, type CheckOptions, type Severity } from './data/checkData.js';
export {
  RandomFlip,
  RandomRotation,
  RandomZoom,
  type RandomFlipArgs,
  type RandomRotationArgs,
  type RandomZoomArgs,
} from './augment/index.js';
export { extractFeatures, type ExtractOptions, type ExtractResult } from './features/extract.js';
export { loadOnnxFeatureBase, type FeatureBase, type OnnxFeatureBase } from './features/frozenBase.js';
export type { Precision, CalibrationRecord, QuantError } from './ort/int8.js';
export { loadSplitFeatures } from './features/cache.js';
export type { FeatureSplit } from './features/splits.js';

// A map of the dataset (UMAP of the pooled features) and its outliers.
export { mapFeatures, type DatasetMap, type MapOptions, type MapPoint, type MapProgress } from './explore/datasetMap.js';
export { writeDatasetMap, type MapFiles } from './explore/mapFiles.js';

// Keras callbacks for any tfjs model.fit.
export {
  ModelCheckpoint,
  EarlyStopping,
  CSVLogger,
  ProgressLogger,
  HistoryRecorder,
  TerminateOnNaN,
  type ModelCheckpointArgs,
  type EarlyStoppingArgs,
  type CSVLoggerArgs,
  type ProgressLoggerArgs,
  type HistoryRecorderArgs,
} from './fit/callbacks/index.js';

// The compute backend (wasm by default, with tlkit's gradient kernels).
export { initBackend, type BackendName } from './tfjs/backend.js';
