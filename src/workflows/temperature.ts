import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { copyWeightsByName } from '../fit/assembleModel.js';
import type { BatchSource } from '../fit/batchSources.js';
import { HEAD_LAYER_NAMES } from '../fit/head.js';
import { layerDigest, savedTemperature, scaleLayer } from '../run/calibratedModel.js';
import { writeMeta, type RunMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { expectedCalibrationError, fitTemperature, probabilitiesOf, type Logits } from '../run/temperature.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import type { RunRecords } from './records.js';
import type { WorkflowContext } from './workflow.js';

/** The Dense layer the temperature is folded into: the head's last, whose outputs are the logits. */
const CALIBRATED_LAYER = HEAD_LAYER_NAMES.output;

/** What calibration needs of the phase that ended the run. */
export interface CalibrationInput {
  /** The phase's logits model (the head, or the unfrozen suffix + head): its layers are named as in model/. */
  model: tfl.LayersModel;
  /** The validation batches (cached features, in order). */
  validation: BatchSource;
}

/**
 * Temperature scaling at the end of a run (option `calibration`, default 'temperature'):
 * the saved best model's logits on the validation split, the T minimising their
 * cross-entropy, folded into model/'s last Dense (kernel / T, bias / T) so that predict,
 * evaluate, every export and the browser page give the calibrated probabilities, and
 * recorded in meta.json. Exactly once per checkpoint: a model/ that already holds its
 * recorded T is left alone (a resumed run with nothing new to save, fine-tuning whose
 * epochs never beat the model it started from). With 'none', a T folded in by an earlier
 * run of this folder is taken out again. See docs/calibration.md.
 */
export async function calibrateSavedModel(
  ctx: Pick<WorkflowContext, 'opts' | 'run' | 'log'>,
  records: RunRecords,
  input: CalibrationInput,
): Promise<void> {
  const { opts } = ctx;
  const meta = records.meta;
  const modelDir = runPaths(ctx.run.dir).model;
  if (!existsSync(path.join(modelDir, 'model.json'))) return;
  const folded = await savedTemperature(ctx.run.dir, meta);
  // A record that no longer describes model/ (a later checkpoint, or a crash between the writes) goes.
  if (folded === undefined) delete meta.calibration;
  if (opts.calibration === 'none') {
    if (folded !== undefined && meta.calibration) {
      await scaleLayer(modelDir, meta.calibration.layer, folded);
      if (opts.verbose) ctx.log(`Calibration none: the temperature ${fmt(folded)} an earlier run folded into ${modelDir} is taken out.`);
    }
    delete meta.calibration;
    await writeMeta(ctx.run.dir, meta);
    return;
  }
  if (folded !== undefined) {
    if (opts.verbose) ctx.log(`Calibration: ${modelDir} already holds its temperature T = ${fmt(folded)}; kept as it is.`);
    await writeMeta(ctx.run.dir, meta);
    return;
  }
  const t0 = performance.now();
  const saved = await tfl.loadLayersModel(fileSystemIO(modelDir));
  try {
    copyWeightsByName(saved, input.model);
  } finally {
    saved.dispose();
  }
  const logits = await logitsOf(input.model, input.validation);
  const fit = fitTemperature(logits);
  const labels = Array.from(logits.labels);
  const sha256 =
    fit.temperature === 1
      ? await layerDigest(modelDir, CALIBRATED_LAYER)
      : await scaleLayer(modelDir, CALIBRATED_LAYER, 1 / fit.temperature);
  meta.calibration = {
    method: 'temperature',
    temperature: fit.temperature,
    layer: CALIBRATED_LAYER,
    sha256,
    epoch: meta.bestEpoch,
    validation: {
      n: labels.length,
      nllBefore: fit.nllBefore,
      nllAfter: fit.nllAfter,
      eceBefore: expectedCalibrationError(probabilitiesOf(logits), labels),
      eceAfter: expectedCalibrationError(probabilitiesOf(logits, fit.temperature), labels),
    },
    ...(fit.note ? { note: fit.note } : {}),
  };
  meta.timings.calibrationSeconds = (performance.now() - t0) / 1000;
  await writeMeta(ctx.run.dir, meta);
  if (opts.verbose) ctx.log(describeCalibration(meta.calibration));
}

/** One line for the log: T and what it changed on the validation split. */
function describeCalibration(c: NonNullable<RunMeta['calibration']>): string {
  const v = c.validation;
  const figures = `on ${v.n} validation images: loss ${fmt(v.nllBefore)} -> ${fmt(v.nllAfter)}, ECE ${fmt(v.eceBefore)} -> ${fmt(v.eceAfter)}`;
  if (c.note) return `Calibration: T = 1 (${c.note}).`;
  return `Calibration: temperature T = ${fmt(c.temperature)} ${figures}; folded into the saved model's ${c.layer} (kernel and bias / T).`;
}

/** The logits model's outputs on every validation batch, with the labels. */
async function logitsOf(model: tfl.LayersModel, source: BatchSource): Promise<Logits> {
  const values: number[] = [];
  const labels: number[] = [];
  let width = 1;
  for await (const { xs, ys } of source.batches(0)) {
    const out = model.predict(xs) as tf.Tensor;
    const z = await out.data();
    const y = await ys.data();
    width = out.shape[1] ?? 1;
    for (const v of z) values.push(v);
    // [n, 1] of 0/1 for a sigmoid head, one-hot [n, k] otherwise.
    const k = ys.shape[1] ?? 1;
    for (let i = 0; i < ys.shape[0]; i++) {
      if (k === 1) labels.push(y[i]);
      else for (let c = 0; c < k; c++) if (y[i * k + c] === 1) labels.push(c);
    }
    tf.dispose([xs, ys, out]);
  }
  return { values: Float64Array.from(values), width, labels };
}

/**
 * Fine-tuning starts from a run's model as it trained: a temperature folded into it
 * (model/ as `runDir`'s meta.json records it) is taken out of the loaded copy again.
 */
export async function withoutTemperature(model: tfl.LayersModel, runDir: string, meta: Pick<RunMeta, 'calibration'>): Promise<void> {
  const t = await savedTemperature(runDir, meta);
  if (t === undefined || !meta.calibration) return;
  const layer = model.getLayer(meta.calibration.layer);
  const scaled = layer.getWeights().map((w) => tf.mul(w, t));
  layer.setWeights(scaled);
  tf.dispose(scaled);
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2);
}
