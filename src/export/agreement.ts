import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { decodeImageInto } from '../data/decode.js';
import { exportToOnnx } from '../onnx/export.js';
import { OrtModel } from '../ort/ortRunner.js';

// How far a quantized export's predictions are from the unquantized model's: both run on the
// same decoded images (the run's validation split), on ONNX Runtime, with the weights exactly
// as tf.loadLayersModel decodes them.
//
// What "the same label" means: for a single-label model, the same most probable label; for a
// multi-label model (thresholds given), the same SET of labels at or above their thresholds,
// since that set is the prediction a user sees (an image may keep its top label and still gain
// or lose another one). The largest probability difference is measured over every class either way.

/**
 * One image whose predicted label the quantization changed. Multi-label: `label` is the set at
 * or above the thresholds joined by '+' ('(none)' when empty), and `probability` that of the
 * first label the two weights decide differently (`changed`).
 */
export interface Disagreement {
  file: string;
  reference: { label: string; probability: number };
  quantized: { label: string; probability: number };
  /** Multi-label: the label whose decision changed first (in the order of labels). */
  changed?: string;
}

export interface MeasuredAgreement {
  measured: true;
  /** The images it ran on: 'validation' (the data's validation/ folder) or 'all' (class folders, no validation/ folder). */
  split: 'validation' | 'all';
  /** The folder holding those images' class folders. */
  dir: string;
  images: number;
  /** What counts as the same prediction: the most probable label, or (multi-label) the set of labels at or above their thresholds. */
  compared: 'top label' | 'label set';
  /** Images whose most probable label (multi-label: whose label set) is the same with both weights. */
  sameLabel: number;
  /** sameLabel / images. */
  labelAgreement: number;
  /** The largest |p_quantized - p_unquantized| over every image and class. */
  maxProbabilityDifference: number;
  /** The mean over images of the largest per-class difference. */
  meanProbabilityDifference: number;
  /** The first few images whose label changed. */
  disagreements: Disagreement[];
  /** Images that could not be decoded, left out (absent when none). */
  skipped?: string[];
}

export interface UnmeasuredAgreement {
  measured: false;
  /** Why not (e.g. the data folder moved, or the export was asked to skip it), and how to measure it. */
  reason: string;
  /** Present when the export was asked not to measure it (--skip-agreement, skipAgreement: true). */
  skipped?: true;
}

/** The record of a quantized export whose agreement was skipped on request. */
export const SKIPPED_AGREEMENT: UnmeasuredAgreement = {
  measured: false,
  skipped: true,
  reason:
    'skipped on request (--skip-agreement, skipAgreement: true): the quantized weights were not checked against the unquantized model. Export again without it to measure the agreement.',
};

export type Agreement = MeasuredAgreement | UnmeasuredAgreement;

const KEEP_DISAGREEMENTS = 5;

/** A tfjs model from in-memory artifacts (weights decoded by tfjs's own decodeWeights), as an ONNX Runtime session. */
async function ortOf(artifacts: tf.io.ModelArtifacts): Promise<OrtModel> {
  const model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    return await OrtModel.create(exportToOnnx(model));
  } finally {
    model.dispose();
  }
}

/** Class probabilities of one row of model output: a sigmoid p becomes [1 - p, p]. */
function classScores(data: Float32Array, i: number, k: number): number[] {
  const row = Array.from(data.subarray(i * k, (i + 1) * k));
  return k === 1 ? [1 - row[0], row[0]] : row;
}

function argmax(v: number[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

type Difference = Omit<Disagreement, 'file'>;

/** The two most probable labels when they differ, else undefined. */
function differentTop(pa: number[], pb: number[], labels: string[]): Difference | undefined {
  const la = argmax(pa);
  const lb = argmax(pb);
  if (la === lb) return undefined;
  return { reference: { label: labels[la], probability: pa[la] }, quantized: { label: labels[lb], probability: pb[lb] } };
}

/** The two label sets (probability >= threshold) when they differ, else undefined. NaN gives no label. */
function differentSets(pa: number[], pb: number[], thresholds: number[], labels: string[]): Difference | undefined {
  const first = labels.findIndex((_, c) => pa[c] >= thresholds[c] !== pb[c] >= thresholds[c]);
  if (first < 0) return undefined;
  const set = (p: number[]) => labels.filter((_, c) => p[c] >= thresholds[c]).join('+') || '(none)';
  return {
    reference: { label: set(pa), probability: pa[first] },
    quantized: { label: set(pb), probability: pb[first] },
    changed: labels[first],
  };
}

export interface AgreementInput {
  /** Image files, and where they came from. */
  files: string[];
  split: MeasuredAgreement['split'];
  dir: string;
  labels: string[];
  /** A multi-label model: one threshold per label; the label sets at or above them are compared. */
  thresholds?: number[];
  imageSize: [number, number];
  /** The models take pixel * scale + offset of RGB 0..255 pixels. */
  scale: number;
  offset: number;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Run `reference` (unquantized) and `quantized` (the same topology, quantized weight
 * entries) on the same images and compare: label agreement and probability differences.
 */
export async function measureAgreement(
  reference: tf.io.ModelArtifacts,
  quantized: tf.io.ModelArtifacts,
  input: AgreementInput,
): Promise<MeasuredAgreement> {
  const { files, labels, thresholds } = input;
  if (thresholds && thresholds.length !== labels.length) throw new Error(`${thresholds.length} thresholds for ${labels.length} labels`);
  const [h, w] = input.imageSize;
  const per = h * w * 3;
  const batchSize = input.batchSize ?? 16;
  const ref = await ortOf(reference);
  let q: OrtModel | undefined;
  let sameLabel = 0;
  let maxDiff = 0;
  let sumDiff = 0;
  const disagreements: Disagreement[] = [];
  const skipped: string[] = [];
  try {
    q = await ortOf(quantized);
    for (let start = 0; start < files.length; start += batchSize) {
      const listed = files.slice(start, start + batchSize);
      const all = new Float32Array(listed.length * per);
      const decoded = await Promise.allSettled(listed.map((f, i) => decodeImageInto(f, [h, w], all, i * per)));
      const batch = listed.filter((_, i) => decoded[i].status === 'fulfilled');
      skipped.push(...listed.filter((_, i) => decoded[i].status === 'rejected'));
      if (batch.length === 0) continue;
      const buf = batch.length === listed.length ? all : new Float32Array(batch.length * per);
      if (buf !== all) {
        let at = 0;
        listed.forEach((_, i) => {
          if (decoded[i].status === 'fulfilled') buf.set(all.subarray(i * per, (i + 1) * per), per * at++);
        });
      }
      if (input.scale !== 1 || input.offset !== 0) for (let j = 0; j < buf.length; j++) buf[j] = buf[j] * input.scale + input.offset;
      const shape = [batch.length, h, w, 3];
      const a = await ref.run(buf, shape);
      const b = await q.run(buf, shape);
      const k = a.shape[a.shape.length - 1];
      for (let i = 0; i < batch.length; i++) {
        const pa = classScores(a.data, i, k);
        const pb = classScores(b.data, i, k);
        let d = 0;
        for (let c = 0; c < pa.length; c++) d = Math.max(d, Math.abs(pa[c] - pb[c]));
        // NaN counts as the largest difference there is
        if (Number.isNaN(d)) d = 1;
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
        const differ = thresholds ? differentSets(pa, pb, thresholds, labels) : differentTop(pa, pb, labels);
        if (!differ) sameLabel++;
        else if (disagreements.length < KEEP_DISAGREEMENTS) disagreements.push({ file: batch[i], ...differ });
      }
      input.onProgress?.(Math.min(files.length, start + batchSize), files.length);
    }
  } finally {
    await ref.dispose();
    await q?.dispose();
  }
  const n = files.length - skipped.length;
  return {
    measured: true,
    split: input.split,
    dir: input.dir,
    images: n,
    compared: thresholds ? 'label set' : 'top label',
    sameLabel,
    labelAgreement: n ? sameLabel / n : 1,
    maxProbabilityDifference: maxDiff,
    meanProbabilityDifference: n ? sumDiff / n : 0,
    disagreements,
    ...(skipped.length ? { skipped } : {}),
  };
}
