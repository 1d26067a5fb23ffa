/**
 * kNN mode against features mode on the shared cats-vs-dogs data (2,000 train / 1,000
 * validation / 1,000 test) with the shared pretrained MobileNet v1 at 224x224, in the
 * same run and on one feature cache: the kNN run extracts train and validation once
 * (timed apart), features mode reads them from the cache.
 *   - knn: the pooled, unit-length train features vote, k 5 (--k), nothing trains;
 *   - features (the baseline): the book's head with tlkit's defaults (Flatten-Dense(256)-
 *     Dropout(0.5)-Dense(1), RMSprop 1e-3, 20 epochs, batch 32), best checkpoint on val_loss.
 * Prints each one's validation accuracy (kNN: its vote on validation/; features: the
 * best epoch's val_accuracy), test accuracy (`evaluate` on test/ through ONNX Runtime),
 * the seconds to build (extraction apart) and the ratio of the two.
 *
 *   node --import tsx bench/knn.ts [--k 5] [--epochs 20] [--cache DIR]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluateRun } from '../src/inference/evaluate.js';
import { train } from '../src/workflows/train.js';
import { numberArg, SHARED_DATA, SHARED_MOBILENET, stringArg } from './args.js';
import { cpuFlags } from './pytorch.js';

const load = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

interface Row {
  mode: string;
  validationAccuracy: number;
  testAccuracy: number;
  /** Seconds of train() without extraction: kNN's pooling, index and validation vote; features' 20 epochs. */
  buildSeconds: number;
  extractSeconds: number;
  wallSeconds: number;
}

async function main(): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-knn-'));
  const data = stringArg('--data', SHARED_DATA);
  const common = {
    data,
    base: stringArg('--base', SHARED_MOBILENET),
    imageSize: numberArg('--image-size', 224),
    // A fresh cache by default: the first run's extraction is timed, the second reads it.
    cacheDir: stringArg('--cache', path.join(workDir, 'feature-cache')),
    verbose: 0 as const,
  };
  console.log(`load average at start: ${load()}; CPU flags: ${cpuFlags()}`);
  const rows: Row[] = [];
  for (const mode of ['knn', 'features'] as const) {
    const out = path.join(workDir, mode);
    const t0 = performance.now();
    const r = await train(
      mode === 'knn'
        ? { ...common, mode, out, k: numberArg('--k', 5) }
        : { ...common, mode, out, ...(stringArg('--epochs') ? { epochs: numberArg('--epochs', 20) } : {}) },
      { log: () => {} },
    );
    const wallSeconds = (performance.now() - t0) / 1000;
    const extractSeconds = r.timings.extractSeconds ?? 0;
    const e = await evaluateRun(out, data);
    const validationAccuracy = r.knn
      ? (r.knn.validation?.accuracy ?? NaN)
      : (r.history.history.val_accuracy?.[r.history.epoch.indexOf(r.bestEpoch)] ?? NaN);
    const buildSeconds = r.knn ? (r.timings.knnIndexSeconds ?? NaN) : (r.timings.trainSeconds ?? NaN);
    rows.push({ mode, validationAccuracy, testAccuracy: e.accuracy, buildSeconds, extractSeconds, wallSeconds });
    console.log(
      `${mode}: validation ${validationAccuracy.toFixed(4)}, test ${e.accuracy.toFixed(4)} (${e.n} images), build ${buildSeconds.toFixed(1)} s, extraction ${extractSeconds.toFixed(1)} s, train() wall ${wallSeconds.toFixed(1)} s; load ${load()}`,
    );
  }
  const [knn, features] = rows;
  console.log('\nmode       validation   test     build s   extraction s   train() wall s');
  for (const r of rows)
    console.log(
      `${r.mode.padEnd(10)} ${r.validationAccuracy.toFixed(4).padStart(10)} ${r.testAccuracy.toFixed(4).padStart(7)} ${r.buildSeconds.toFixed(1).padStart(9)} ${r.extractSeconds.toFixed(1).padStart(14)} ${r.wallSeconds.toFixed(1).padStart(16)}`,
    );
  console.log(
    `\nknn vs features (baseline, same run): test accuracy ${(knn.testAccuracy - features.testAccuracy >= 0 ? '+' : '') + ((knn.testAccuracy - features.testAccuracy) * 100).toFixed(1)} points; build time ${(knn.buildSeconds / features.buildSeconds).toFixed(4)}x (${knn.buildSeconds.toFixed(1)} s vs ${features.buildSeconds.toFixed(1)} s). Load at end: ${load()}.`,
  );
  fs.rmSync(workDir, { recursive: true, force: true });
}

await main();
