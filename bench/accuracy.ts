/**
 * Accuracy benchmark: the book's fast feature-extraction workflow on the
 * shared cats-vs-dogs data (2,000 train / 1,000 validation / 1,000 test) with the
 * shared pretrained MobileNet v1 at 224x224, features mode with its defaults
 * (head Flatten-Dense(256)-Dropout(0.5)-Dense(1), RMSprop 1e-3, 20 epochs, batch 32),
 * then evaluation of the saved best checkpoint on test/ (ONNX Runtime).
 *
 * Prints test accuracy (target >= 0.97; the book reaches ~97% validation accuracy
 * with VGG16 in this mode), training time and extraction images/s, with the
 * baselines measured in the same run: the book's figure for accuracy, and the tfjs
 * wasm forward pass of the same frozen base for extraction speed.
 *
 *   node --import tsx bench/accuracy.ts [--modes features] [--precisions fp32,int8] [--epochs 20] [--cache DIR]
 *
 * Each mode runs at each precision (the frozen base in int8, calibrated on
 * 32 training images, the default); the table gives int8's test accuracy minus fp32's, in points
 * (target: within 0.5 for MobileNet features mode), and the int8 calibration's error.
 *
 * Modes are entries of MODES below; augment and finetune runs are added there.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/tfjs/backend.js';
import { loadBase } from '../src/applications/loadBase.js';
import { frozenModel } from '../src/features/extract.js';
import { train } from '../src/workflows/train.js';
import type { TrainOptions } from '../src/workflows/options.js';
import { evaluateRun } from '../src/inference/evaluate.js';
import type { Precision } from '../src/ort/int8.js';
import { precisionFact } from '../src/report/runFacts.js';
import { stringArg, numberArg, SHARED_DATA, SHARED_MOBILENET } from './args.js';

export interface BenchContext {
  data: string;
  base: string;
  imageSize: number;
  epochs?: number;
  cacheDir: string;
  workDir: string;
  precision: Precision;
}

export interface ModeResult {
  mode: string;
  precision: Precision;
  testAccuracy: number;
  testLoss: number;
  bestValAccuracy: number;
  trainSeconds: number;
  extractImagesPerSecond?: number;
  evalImagesPerSecond: number;
  runDir: string;
}

async function runAndEvaluate(
  ctx: BenchContext,
  mode: TrainOptions['mode'],
  extra: Partial<TrainOptions> = {},
  label: string = mode,
): Promise<ModeResult> {
  const out = path.join(ctx.workDir, 'runs', ctx.precision === 'fp32' ? label : `${label}-${ctx.precision}`);
  const opts = {
    data: ctx.data,
    base: ctx.base,
    mode,
    out,
    imageSize: ctx.imageSize,
    cacheDir: ctx.cacheDir,
    epochs: ctx.epochs,
    precision: ctx.precision,
    ...extra,
  };
  const r = await train(opts);
  const e = await evaluateRun(out, ctx.data);
  const idx = r.history.epoch.indexOf(r.bestEpoch);
  return {
    mode: label,
    precision: ctx.precision,
    testAccuracy: e.accuracy,
    testLoss: e.loss,
    bestValAccuracy: r.history.history.val_accuracy?.[idx] ?? NaN,
    trainSeconds: r.timings.trainSeconds ?? NaN,
    extractImagesPerSecond: r.timings.extractImagesPerSecond || undefined,
    evalImagesPerSecond: e.imagesPerSecond,
    runDir: out,
  };
}

/** One entry a workflow. (augment / finetune: add `augment: (ctx) => runAndEvaluate(ctx, 'augment', trainAugment)` etc.) */
export const MODES: Record<string, (ctx: BenchContext) => Promise<ModeResult>> = {
  // The book's head: Dense(256) with no activation (tlkit's default).
  features: (ctx) => runAndEvaluate(ctx, 'features'),
  // The same with Dense(256, relu), tlkit's head before --head-activation, side by side.
  'features-relu': (ctx) => runAndEvaluate(ctx, 'features', { headActivation: 'relu' }, 'features-relu'),
  // The head trains on augmented images through the frozen base on ONNX Runtime (10 epochs unless --epochs).
  augment: (ctx) => runAndEvaluate(ctx, 'augment', { epochs: ctx.epochs ?? 10 }),
  // Continue from the features run when this bench made one (else finetune trains a head first);
  // the last two depthwise-separable blocks train, their prefix's output cached on disk (10 epochs unless --epochs).
  finetune: (ctx) => {
    const features = path.join(ctx.workDir, 'runs', ctx.precision === 'fp32' ? 'features' : `features-${ctx.precision}`);
    return runAndEvaluate(ctx, 'finetune', {
      epochs: ctx.epochs ?? 10,
      from: fs.existsSync(path.join(features, 'meta.json')) ? features : undefined,
    });
  },
};

/** Baseline for extraction speed: the same frozen network (preprocessing + base) as a tfjs wasm forward pass. */
async function tfjsForwardImagesPerSecond(ctx: BenchContext, images = 16, batch = 8): Promise<number> {
  await initBackend();
  const base = await loadBase({ base: ctx.base, imageSize: ctx.imageSize });
  const model = frozenModel(base, [ctx.imageSize, ctx.imageSize]);
  const x = tf.randomUniform([batch, ctx.imageSize, ctx.imageSize, 3], 0, 255);
  (model.predict(tf.slice(x, 0, 1)) as tf.Tensor).dispose(); // warm-up
  const t0 = performance.now();
  for (let done = 0; done < images; done += batch) {
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  x.dispose();
  return images / seconds;
}

async function main(): Promise<void> {
  const modes = stringArg('--modes', 'features').split(',');
  for (const m of modes) if (!MODES[m]) throw new Error(`unknown mode ${m}; known: ${Object.keys(MODES).join(', ')}`);
  const precisions = stringArg('--precisions', 'fp32,int8').split(',') as Precision[];
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-accuracy-'));
  const ctx: BenchContext = {
    data: stringArg('--data', SHARED_DATA),
    base: stringArg('--base', SHARED_MOBILENET),
    imageSize: numberArg('--image-size', 224),
    epochs: stringArg('--epochs') ? numberArg('--epochs', NaN) : undefined,
    // A fresh cache by default, so that extraction is timed; --cache DIR reuses one.
    cacheDir: stringArg('--cache', path.join(workDir, 'feature-cache')),
    workDir,
    precision: 'fp32',
  };
  console.log(`bench/accuracy: ${os.cpus().length} cores, data ${ctx.data}, base ${ctx.base} at ${ctx.imageSize}x${ctx.imageSize}`);
  const results: ModeResult[] = [];
  for (const precision of precisions) {
    for (const m of modes) {
      const r = await MODES[m]({ ...ctx, precision });
      results.push(r);
      const tag = `[${m} ${precision}]`;
      console.log(
        `\n${tag} test accuracy ${r.testAccuracy.toFixed(4)} (loss ${r.testLoss.toFixed(4)}), best val accuracy ${r.bestValAccuracy.toFixed(4)}`,
      );
      console.log(
        `${tag} training time ${r.trainSeconds.toFixed(1)} s; evaluation ${r.evalImagesPerSecond.toFixed(1)} images/s; run dir ${r.runDir}`,
      );
      if (precision === 'int8') console.log(`${tag} ${precisionFact(r.runDir, { precision })}`);
    }
  }
  const BOOK = 0.97;
  const tfjsIps = await tfjsForwardImagesPerSecond(ctx);
  console.log('\nmode            test acc   vs book 0.97   train s   extract img/s   vs tfjs wasm fwd');
  for (const r of results) {
    const ext = r.extractImagesPerSecond;
    console.log(
      `${`${r.mode} ${r.precision}`.padEnd(15)} ${r.testAccuracy.toFixed(4).padStart(8)}   ${(r.testAccuracy / BOOK).toFixed(3).padStart(12)}x   ${r.trainSeconds.toFixed(1).padStart(7)}   ${(ext ? ext.toFixed(1) : 'cached').padStart(13)}   ${ext ? `${(ext / tfjsIps).toFixed(1)}x (${tfjsIps.toFixed(2)} img/s)` : '-'}`,
    );
  }
  for (const m of modes) {
    const [a, b] = [
      results.find((r) => r.mode === m && r.precision === 'fp32'),
      results.find((r) => r.mode === m && r.precision === 'int8'),
    ];
    if (a && b) {
      const points = (b.testAccuracy - a.testAccuracy) * 100;
      console.log(
        `${m}: int8 - fp32 test accuracy = ${points >= 0 ? '+' : ''}${points.toFixed(2)} points (target: within 0.5); extraction ${b.extractImagesPerSecond && a.extractImagesPerSecond ? `${(b.extractImagesPerSecond / a.extractImagesPerSecond).toFixed(2)}x` : '(cached)'}`,
      );
    }
  }
  const features = results.find((r) => r.mode === 'features' && r.precision === 'fp32');
  if (features) console.log(`\nfeatures-mode test accuracy ${features.testAccuracy >= BOOK ? 'meets' : 'MISSES'} the target ${BOOK}.`);
}

await main();
