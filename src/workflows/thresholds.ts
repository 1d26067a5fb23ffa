import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { copyWeightsByName } from '../fit/assembleModel.js';
import type { BatchSource } from '../fit/batchSources.js';
import { writeMeta, type RunMeta } from '../run/meta.js';
import { chooseThresholds } from '../run/multiLabelMetrics.js';
import { runPaths } from '../run/paths.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import type { TrainOptions } from './options.js';

/** What choosing the thresholds needs of the phase that ended the run. */
export interface ThresholdInput {
  /** The phase's logits model (the head, or the unfrozen suffix + head): its layers are named as in model/. */
  model: tfl.LayersModel;
  /** The validation batches (cached features, in order), targets multi-hot. */
  validation: BatchSource;
}

/** What meta.json of a multi-label run says before training ends: the given threshold, else 0.5, for every class. */
export function initialThresholds(numClasses: number, threshold: number | undefined): Pick<RunMeta, 'thresholds' | 'thresholdSource'> {
  return { thresholds: new Array<number>(numClasses).fill(threshold ?? 0.5), thresholdSource: 'given' };
}

/**
 * The end of a multi-label run: each class's threshold, the one maximising its F1 on the
 * validation split with the saved (best) model, or the `threshold` option for every
 * class; written to meta.json. Temperature scaling is skipped: it fits one softmax (or
 * one sigmoid), and the thresholds already fix where each label is given.
 */
export async function chooseSavedThresholds(
  ctx: { opts: Pick<TrainOptions, 'verbose' | 'calibration' | 'threshold'>; run: { dir: string }; log: (line: string) => void },
  meta: RunMeta,
  input: ThresholdInput,
): Promise<void> {
  const { opts } = ctx;
  const k = meta.classes.length;
  const modelDir = runPaths(ctx.run.dir).model;
  if (opts.verbose && opts.calibration !== 'none')
    ctx.log('Calibration: skipped for a multi-label run (each class gets a decision threshold instead).');
  delete meta.calibration;
  if (opts.threshold !== undefined) {
    Object.assign(meta, initialThresholds(k, opts.threshold));
    if (opts.verbose) ctx.log(`Thresholds: ${opts.threshold} for every class (given).`);
  } else if (existsSync(path.join(modelDir, 'model.json'))) {
    const saved = await tfl.loadLayersModel(fileSystemIO(modelDir));
    try {
      copyWeightsByName(saved, input.model);
    } finally {
      saved.dispose();
    }
    const { probs, truth, n } = await validationProbabilities(input.model, input.validation, k);
    meta.thresholds = chooseThresholds(probs, truth, k);
    meta.thresholdSource = 'validation-f1';
    if (opts.verbose) {
      const each = meta.classes.map((c, i) => `${c} ${meta.thresholds![i].toFixed(3)}`).join(', ');
      ctx.log(`Thresholds (best F1 per class on ${n} validation images): ${each}.`);
    }
  }
  await writeMeta(ctx.run.dir, meta);
}

/** Sigmoid probabilities of the logits model and the multi-hot targets over every validation batch, row-major n x k. */
async function validationProbabilities(
  model: tfl.LayersModel,
  source: BatchSource,
  k: number,
): Promise<{ probs: Float32Array; truth: Float32Array; n: number }> {
  const probs: number[] = [];
  const truth: number[] = [];
  for await (const { xs, ys } of source.batches(0)) {
    const out = tf.tidy(() => tf.sigmoid(model.predict(xs) as tf.Tensor));
    for (const p of await out.data()) probs.push(p);
    for (const y of await ys.data()) truth.push(y);
    tf.dispose([xs, ys, out]);
  }
  return { probs: Float32Array.from(probs), truth: Float32Array.from(truth), n: probs.length / k };
}
