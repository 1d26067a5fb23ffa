import type { LabelsTableOptions } from '../data/labelsTable.js';
import type { CalibrationRecord, Precision } from '../ort/int8.js';
import type { CalibrationCost } from './calibration.js';
import type { FeatureBase } from './frozenBase.js';

export interface ExtractProgress {
  split: string;
  /** Images done in this split / in the split. */
  done: number;
  total: number;
  /** Images done over all splits being extracted / their total. */
  doneAll: number;
  totalAll: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface ExtractOptions {
  /** A tfjs conv base, or an ONNX file (loadOnnxFeatureBase). */
  base: FeatureBase;
  /** Data folder: the book's layout (train/ validation/ test/ with class folders) or class folders directly. */
  data: string;
  /** Labels from a table over `data` (its images anywhere under it) instead of class folders. */
  table?: LabelsTableOptions;
  /** Multi-label even when no table row has several labels: labels.npy holds multi-hot rows. */
  multiLabel?: boolean;
  /** Output folder for features (see featureCache.ts for the layout). */
  out: string;
  /** [height, width]; default the base's image size. */
  imageSize?: [number, number];
  /** Images per ONNX Runtime call. Default 8. */
  batchSize?: number;
  skipBadImages?: boolean;
  /** Cut a tfjs base after this layer (a frozen prefix); default the whole base. An ONNX base is cut when loaded. */
  upTo?: string;
  /** Splits to extract; default every split the data folder has. */
  splits?: string[];
  /** A shard: extract only the files whose path relative to the data folder it keeps (meta.json records their listing positions). */
  subset?: (relativePath: string) => boolean;
  /** Only say whether every split in `out` is cached and current (`cacheHit`): extract and write nothing. */
  checkOnly?: boolean;
  /** Intra-op threads for ONNX Runtime; default all cores. */
  threads?: number;
  /** 'fp32' (default) or 'int8': the base quantized, calibrated on the training images (cached as calibration-int8.json in `out`). */
  precision?: Precision;
  /** int8: how many training images calibrate the activations (default 32). */
  calibrationImages?: number;
  onProgress?: (p: ExtractProgress) => void;
  /**
   * Aborting it stops extraction after the current batch (Ctrl-C in train): extractFeatures
   * then rejects with ExtractionInterrupted. The splits finished before are cached; the
   * split in progress is not written.
   */
  signal?: AbortSignal;
  /** Lines about the int8 calibration (its progress, the int8-vs-fp32 error, a warning when large). */
  log?: (line: string) => void;
}

export interface ExtractedSplit {
  split: string;
  dir: string;
  features: string;
  labels: string;
  meta: string;
  count: number;
  featureShape: number[];
  cacheHit: boolean;
  skipped: string[];
}

export interface ExtractResult {
  out: string;
  manifest: string;
  classNames: string[];
  /** True when every split came from the cache. */
  cacheHit: boolean;
  splits: ExtractedSplit[];
  /** Seconds spent running the network (0 on a full cache hit). */
  inferenceSeconds: number;
  imagesExtracted: number;
  precision: Precision;
  /** int8: the calibration the features were computed with, when known. */
  calibration?: CalibrationRecord;
  /** int8: what the calibration cost, when this call computed it (included in the extraction's time). */
  calibrationCost?: CalibrationCost;
}
