// Public library API of tlkit (each area adds its export lines here).
export { exportToOnnx, buildOnnxModel, type ExportOptions } from './engine/onnx/export.js';
export { OrtModel, type OrtModelOptions, type OrtOutput } from './engine/ortRunner.js';
export { extractFeatures, type ExtractOptions, type ExtractResult, type ExtractedSplit, type ExtractProgress, type FrozenBase } from './train/extract.js';
export { loadSplitFeatures, readManifest, type Manifest, type SplitMeta, type SplitFeatures } from './train/featureCache.js';
export { readNpy, writeNpy, encodeNpy, decodeNpy, NpyStreamWriter } from './train/npy.js';
export { imageDatasetFromDirectory, indexDirectory, type ImageDataset, type ImageDatasetOptions, type Batch, type LabelMode } from './data/imageDataset.js';
export { resolveDataDir, listClassDirs, listImageFiles, type DataDir, type SplitName } from './data/splits.js';
export { decodeImage, decodeImageInto, decodeRgb, BadImageError, IMAGE_EXTENSIONS, type DecodeOptions, type RgbImage } from './data/decode.js';
export { checkDataset, formatCheckReport, type CheckReport, type CheckOptions, type Problem, type ProblemKind } from './data/checkData.js';
export { RandomFlip, RandomRotation, RandomZoom, randomFlip, randomRotation, randomZoom, Rng, applyProjective, type RandomFlipArgs, type RandomRotationArgs, type RandomZoomArgs, type FillMode } from './augment/index.js';
export { augmentPreview } from './augment/preview.js';
