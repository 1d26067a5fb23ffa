import { existsSync, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { initBackend } from '../tfjs/backend.js';
import { encodeModel } from '../onnx/proto.js';
import { writeDirAtomic, writeFileAtomic } from '../io/atomicWrite.js';
import type { RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { readRun } from '../run/runDir.js';
import { runOnnxModel } from '../run/runOnnx.js';
import { tlkitVersion } from '../version.js';
import { fileSystemIO, MODEL_JSON, readModelJson } from '../weights/tfjsFiles.js';
import { browserPage, TFJS_DIR } from './browserPage.js';
import { tfjsFiles } from './tfjsBundles.js';
import { tfjsLicense } from './tfjsLicense.js';
import { EXPORT_FORMATS, type ExportFormat, type ExportMetadata } from './metadata.js';
import { type Agreement, measureAgreement, SKIPPED_AGREEMENT } from './agreement.js';
import { encodingCounts, encodingOf, quantizeWeights, type QuantizeMode } from './quantize.js';
import { agreementImages } from './validationImages.js';
import { teachableMachineMetadata, teachableMachineModel, TM_FEED_NOTE, TM_TFJS_VERSION, tmReadsQuantization } from './teachableMachine.js';

// Kept here too: callers import the formats with exportRun.
export { EXPORT_FORMATS, type ExportFormat };

export const METADATA_JSON = 'metadata.json';
export const ONNX_FILE = 'model.onnx';
export const PAGE_FILE = 'index.html';
export const KERAS_FILE = 'model.h5';

/** The one resize that reproduces `tlkit predict`'s pixels in tfjs (bilinear, half-pixel centres, no corner alignment). */
export const RESIZE_RULE = 'tf.image.resizeBilinear(tf.browser.fromPixels(img), [height, width], false, true)';

export interface ExportOptions {
  format: ExportFormat;
  out: string;
  quantize?: QuantizeMode;
  /** A run trained on an ONNX base: where that file is now, when it moved (format onnx). */
  base?: string;
  /** Where the quantized export's agreement is measured: a data folder (its validation/), instead of the run's recorded one. */
  data?: string;
  /** Progress of that measurement (images done of total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * A quantized export without its agreement check (16-38 s on the MobileNet run): metadata.json
   * then records `agreement: { measured: false, skipped: true, reason }`.
   */
  skipAgreement?: boolean;
}

export interface ExportResult {
  out: string;
  format: ExportFormat;
  files: string[];
  /** Bytes of the exported model (model.json + weights, or model.onnx). */
  modelBytes: number;
  /** Bytes of the run's own model/ folder. */
  runModelBytes: number;
  metadata: ExportMetadata;
  /** A quantized export's agreement with the unquantized model (null: not quantized). */
  agreement: Agreement | null;
}

/** Bytes of a tfjs model folder: model.json plus every weight shard it lists. */
export function tfjsModelBytes(dir: string): number {
  const json = path.join(dir, MODEL_JSON);
  if (!existsSync(json)) return 0;
  let total = statSync(json).size;
  const manifest = (JSON.parse(readFileSync(json, 'utf8')) as tf.io.ModelJSON).weightsManifest ?? [];
  for (const g of manifest) for (const p of g.paths) total += existsSync(path.join(dir, p)) ? statSync(path.join(dir, p)).size : 0;
  return total;
}

function outputOf(meta: RunMeta): ExportMetadata['output'] {
  if (meta.labelMode === 'multi-label')
    return {
      kind: 'sigmoid',
      units: meta.classes.length,
      meaning:
        'one independent probability per label, in the order of labels (they need not sum to 1): an image gets every label whose probability is >= its threshold (thresholds), possibly none',
    };
  return meta.labelMode === 'binary'
    ? {
        kind: 'sigmoid',
        units: 1,
        meaning: `one value: the probability of '${meta.classes[1]}' (labels[1]); '${meta.classes[0]}' is 1 - it`,
      }
    : meta.knn
      ? {
          kind: 'softmax',
          units: meta.classes.length,
          meaning: `one probability per label, in the order of labels: the weighted votes of the ${meta.knn.k} stored images nearest by cosine similarity (weight max(similarity, 0) + 1e-6), over their sum`,
        }
      : { kind: 'softmax', units: meta.classes.length, meaning: 'one probability per label, in the order of labels' };
}

/** A multi-label run's thresholds, one per class; a run without them (or with the wrong count) cannot be exported faithfully. */
function multiLabelFields(meta: RunMeta, runDir: string): Pick<ExportMetadata, 'thresholds' | 'thresholdSource'> {
  if (meta.labelMode !== 'multi-label') return {};
  const t = meta.thresholds;
  if (!Array.isArray(t) || t.length !== meta.classes.length || !t.every((x) => typeof x === 'number' && x > 0 && x < 1)) {
    throw new UserError(
      `${runDir}'s meta.json is a multi-label run without one threshold (0 < t < 1) per class (${meta.classes.length} classes, thresholds ${JSON.stringify(t ?? null)}): training stopped before it chose them. Train again (or resume) to finish the run.`,
    );
  }
  return { thresholds: [...t], thresholdSource: meta.thresholdSource ?? 'validation-f1' };
}

/** What the Teachable Machine export of a multi-label run says (exit 2). */
export const TM_MULTI_LABEL =
  "Teachable Machine's format has no multi-label form (its package reads one softmax: one label an image); export --format onnx|tfjs|keras instead, which carry the thresholds and one sigmoid probability per label.";

export function exportMetadata(
  meta: RunMeta,
  format: ExportFormat,
  quantize: QuantizeMode | undefined,
  runDir = 'the run',
): ExportMetadata {
  const [h, w] = meta.imageSize;
  const tm = format === 'tm';
  return {
    exportedBy: 'tlkit',
    tlkitVersion: tlkitVersion(),
    format,
    labels: meta.classes,
    imageSize: [h, w],
    input: { layout: 'NHWC', shape: [null, h, w, 3], dtype: 'float32', scale: tm ? 1 / 127 : 1, offset: tm ? -1 : 0, colors: 'RGB' },
    preprocessing: { mode: meta.preprocessing, insideModel: true },
    resize: {
      rule: RESIZE_RULE,
      method: 'bilinear',
      alignCorners: false,
      halfPixelCenters: true,
      exifOrientation: 'apply',
      note:
        `Resize the whole image (no crop) to ${h}x${w} with exactly this rule to get tlkit predict's probabilities; ` +
        'a canvas drawImage resize gives other pixels (measured: up to 0.227 in probability). Browsers apply EXIF orientation when they draw an <img> or ImageBitmap, as tlkit does by default.',
      ...(tm ? { teachableMachine: TM_FEED_NOTE } : {}),
    },
    output: tm
      ? { kind: 'softmax', units: meta.classes.length, meaning: 'one probability per label, in the order of labels' }
      : outputOf(meta),
    // tm turns a binary sigmoid into two softmax probabilities (teachableMachineModel)
    labelMode: tm ? 'categorical' : meta.labelMode,
    ...multiLabelFields(meta, runDir),
    quantization: quantize ?? null,
    agreement: null,
    run: {
      base: meta.base,
      baseFamily: meta.baseFamily,
      mode: meta.mode,
      head: meta.head,
      // counted from 1, as `tlkit train` prints "Best epoch N" (meta.json counts from 0, as Keras does)
      bestEpoch: meta.bestEpoch + 1,
      bestValLoss: meta.bestValLoss,
    },
    exportedAt: new Date().toISOString(),
  };
}

/** The folder --out may be: missing, empty, or an earlier tlkit export (replaced whole). */
function checkOut(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError(`--out ${out} is an existing file. Give a folder path (it is created).`);
  const entries = readdirSync(out);
  if (entries.length === 0) return;
  const metaFile = path.join(out, METADATA_JSON);
  let earlier = false;
  try {
    const m = JSON.parse(readFileSync(metaFile, 'utf8')) as { exportedBy?: string; userMetadata?: { tlkit?: unknown } };
    earlier = m.exportedBy === 'tlkit' || m.userMetadata?.tlkit !== undefined;
  } catch {
    earlier = false;
  }
  if (!earlier) {
    throw new UserError(
      `--out ${out} already holds files (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}) and is not an earlier tlkit export. Give a new or empty folder.`,
    );
  }
}

async function artifactsOf(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      captured = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  return captured as tf.io.ModelArtifacts;
}

/** The quantized weights' agreement with the unquantized ones on the run's validation images, or why it was not measured. */
async function agreementOf(
  reference: tf.io.ModelArtifacts,
  quantized: tf.io.ModelArtifacts,
  meta: RunMeta,
  metadata: ExportMetadata,
  opts: ExportOptions,
): Promise<Agreement> {
  const images = agreementImages(meta, opts.data);
  if ('reason' in images) return { measured: false, reason: images.reason };
  try {
    return await measureAgreement(reference, quantized, {
      ...images,
      labels: meta.classes,
      thresholds: metadata.thresholds,
      imageSize: meta.imageSize,
      scale: metadata.input.scale,
      offset: metadata.input.offset,
      onProgress: opts.onProgress,
    });
  } catch (e) {
    return { measured: false, reason: `measuring it failed: ${(e as Error).message}` };
  }
}

/**
 * The tfjs model (model.json + weights.bin) in `dir`, its weights quantized when asked; a
 * quantized model's agreement with the unquantized one measured on the run's validation images.
 */
async function saveTfjs(
  artifacts: tf.io.ModelArtifacts,
  dir: string,
  meta: RunMeta,
  metadata: ExportMetadata,
  opts: ExportOptions,
): Promise<Agreement | null> {
  let agreement: Agreement | null = null;
  let saved = artifacts;
  if (opts.quantize) {
    const mode = opts.quantize;
    const data = artifacts.weightData;
    const joined = Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : (data as ArrayBuffer);
    // the tensors uint8 leaves at 16 bits: float16 (relative precision), uint16 for Teachable Machine's tfjs 1.3.1
    const wide = metadata.format === 'tm' ? 'uint16' : 'float16';
    const q = quantizeWeights(artifacts.weightSpecs ?? [], joined, (_spec, values) => encodingOf(mode, values, wide));
    saved = { ...artifacts, weightSpecs: q.specs, weightData: q.data };
    metadata.weightEncodings = encodingCounts(q.specs);
    agreement = opts.skipAgreement
      ? { ...SKIPPED_AGREEMENT }
      : await agreementOf({ ...artifacts, weightData: joined }, saved, meta, metadata, opts);
  }
  const io = fileSystemIO(dir) as Required<Pick<tf.io.IOHandler, 'save'>>;
  await io.save({ ...saved, generatedBy: `tlkit ${tlkitVersion()}` });
  return agreement;
}

/**
 * `tlkit export`: the run's model for another consumer, in a folder of its own.
 * - tfjs: model.json + weights.bin (tf.loadLayersModel), metadata.json, index.html (a page that runs it)
 * - onnx: model.onnx (preprocessing + base + head, NHWC RGB 0..255 in, metadata in its metadata_props) + metadata.json
 * - tm:   Teachable Machine's model.json + weights.bin + metadata.json (@teachablemachine/image), index.html
 * - keras: model.h5, a legacy Keras HDF5 model (model_config + model_weights) for `keras.models.load_model` + metadata.json
 * `quantize` stores the tfjs weights as float16, uint16 or uint8 (tfjs-converter's encodings; uint8 keeps
 * at 16 bits the tensors it would not hold well: encodingOf) and measures the agreement with the unquantized
 * model on the run's validation images (`agreement`, also in metadata.json).
 */
export async function exportRun(runDir: string, opts: ExportOptions): Promise<ExportResult> {
  const { format, out, quantize } = opts;
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UserError(`--format must be one of ${EXPORT_FORMATS.join(', ')}, got '${format}'. Pass e.g. --format tfjs.`);
  }
  if (quantize && (format === 'onnx' || format === 'keras')) {
    throw new UserError(
      `--quantize applies to the tfjs weights (--format tfjs or tm); the ${format === 'onnx' ? 'ONNX' : 'Keras .h5'} export keeps float32. Leave --quantize out, or export --format tfjs.`,
    );
  }
  if (format === 'tm' && !tmReadsQuantization(quantize)) {
    throw new UserError(
      `--quantize ${quantize} cannot be read by Teachable Machine's package (it runs TensorFlow.js ${TM_TFJS_VERSION}, which decodes float32, uint16 and uint8 weights, not float16). Use --quantize uint8 or uint16 with --format tm, or --format tfjs for float16.`,
    );
  }
  if (opts.data !== undefined && !quantize) {
    throw new UserError(
      "--data names the images a quantized export is checked on; without --quantize the weights are the run's and there is nothing to check. Drop --data, or add --quantize.",
    );
  }
  if (opts.skipAgreement && !quantize) {
    throw new UserError(
      "--skip-agreement skips a quantized export's check against the unquantized model; without --quantize the weights are the run's and nothing is checked. Drop --skip-agreement, or add --quantize.",
    );
  }
  if (opts.skipAgreement && opts.data !== undefined) {
    throw new UserError(
      '--skip-agreement and --data contradict each other: --data names the images the agreement is measured on. Drop one of them.',
    );
  }
  if (opts.data !== undefined && !existsSync(opts.data)) {
    throw new UserError(`--data ${opts.data} does not exist. Pass the data folder (with validation/, or class folders) where it is now.`);
  }
  checkOut(out);
  await initBackend();
  const run = await readRun(runDir);
  const meta = run.meta;
  const source = runPaths(runDir).model;
  if (meta.onnxBase && format !== 'onnx') {
    throw new UserError(
      `${runDir} was trained on the ONNX base ${meta.onnxBase.file}, which a ${format === 'keras' ? 'Keras .h5' : format === 'tm' ? 'Teachable Machine' : 'tfjs'} model cannot hold (its model/ is the head alone). Export --format onnx: one ONNX graph with the base, its preprocessing and the head.`,
    );
  }
  if (meta.knn && format !== 'onnx') {
    throw new UserError(
      `${runDir} is a kNN run: its stored features vote, and a ${format === 'keras' ? 'Keras .h5' : format === 'tm' ? 'Teachable Machine' : 'tfjs'} model has no layer that holds them (its model/ is the base alone). Export --format onnx: one graph with the base, the stored features and the vote.`,
    );
  }
  if (format === 'tm' && meta.labelMode === 'multi-label') throw new UserError(`${runDir} is a multi-label run. ${TM_MULTI_LABEL}`);
  const metadata = exportMetadata(meta, format, quantize, runDir);
  if (format === 'tm' && meta.imageSize[0] !== meta.imageSize[1]) {
    throw new UserError(
      `Teachable Machine models take square images, but ${runDir} was trained at ${meta.imageSize.join('x')}. Export --format tfjs instead.`,
    );
  }
  let files: string[] = [];
  let agreement: Agreement | null = null;
  await writeDirAtomic(out, async (dir) => {
    if (format === 'onnx') {
      // an ONNX-base run: its base (checked against the recorded hash) stitched to the head
      const proto = await runOnnxModel(runDir, meta, { base: opts.base });
      proto.docString = `tlkit ${tlkitVersion()} export of ${path.basename(path.resolve(runDir))}: NHWC float32 RGB 0..255 in, ${metadata.output.meaning}. See metadata_props.`;
      proto.metadataProps = [
        { key: 'labels', value: JSON.stringify(meta.classes) },
        { key: 'image_size', value: JSON.stringify(meta.imageSize) },
        { key: 'label_mode', value: metadata.labelMode },
        ...(metadata.thresholds ? [{ key: 'thresholds', value: JSON.stringify(metadata.thresholds) }] : []),
        { key: 'tlkit', value: JSON.stringify(metadata) },
      ];
      await writeFileAtomic(path.join(dir, ONNX_FILE), encodeModel(proto));
    } else if (format === 'keras') {
      const { writeKerasModelH5 } = await import('./kerasModelH5.js');
      const model = await tfl.loadLayersModel(fileSystemIO(source));
      try {
        await writeKerasModelH5(model, path.join(dir, KERAS_FILE));
      } finally {
        model.dispose();
      }
    } else if (format === 'tm') {
      const model = await tfl.loadLayersModel(fileSystemIO(source));
      let wrapped: tfl.LayersModel;
      try {
        wrapped = teachableMachineModel(model, meta);
      } catch (e) {
        model.dispose();
        throw e;
      }
      try {
        agreement = await saveTfjs(await artifactsOf(wrapped), dir, meta, metadata, opts);
      } finally {
        wrapped.dispose(); // and the run's model nested in it
      }
    } else {
      await readModelJson(source);
      const io = fileSystemIO(source) as Required<Pick<tf.io.IOHandler, 'load'>>;
      agreement = await saveTfjs(await io.load(), dir, meta, metadata, opts);
    }
    metadata.agreement = agreement;
    const metaJson = format === 'tm' ? teachableMachineMetadata(meta, metadata, runDir) : metadata;
    await writeFileAtomic(path.join(dir, METADATA_JSON), `${JSON.stringify(metaJson, null, 2)}\n`);
    if (format === 'tfjs' || format === 'tm') {
      await writeFileAtomic(path.join(dir, PAGE_FILE), browserPage(metadata));
      // the page's TensorFlow.js, so that it runs offline (Apache-2.0: the licence travels with it)
      const bundles = tfjsFiles();
      await fsp.mkdir(path.join(dir, TFJS_DIR));
      for (const b of bundles) await fsp.copyFile(b.file, path.join(dir, TFJS_DIR, b.name));
      await writeFileAtomic(path.join(dir, TFJS_DIR, 'LICENSE'), tfjsLicense(bundles));
    }
    // every file, those of a folder (tfjs/) as FOLDER/NAME
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    const nested = entries
      .filter((e) => e.isDirectory())
      .map(async (e) => (await fsp.readdir(path.join(dir, e.name))).map((f) => `${e.name}/${f}`));
    files = [...entries.filter((e) => e.isFile()).map((e) => e.name), ...(await Promise.all(nested)).flat()].sort();
  });
  const modelBytes =
    format === 'onnx'
      ? statSync(path.join(out, ONNX_FILE)).size
      : format === 'keras'
        ? statSync(path.join(out, KERAS_FILE)).size
        : tfjsModelBytes(out);
  return { out, format, files, modelBytes, runModelBytes: tfjsModelBytes(source), metadata, agreement };
}
