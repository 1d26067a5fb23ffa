import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../engine/backend.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { trainHeadOnFeatures, type BaseLike, type FeatureSet } from './features.js';
import { withTrainDefaults } from './options.js';
import { checkRunDir, loadRun, readMeta } from '../run/runDir.js';

/** A tiny "conv base": 8x8x3 -> 4x4x2, and features that separate two classes. */
function tinyBase(): BaseLike {
  const input = tfl.input({ shape: [8, 8, 3], name: 'input_1' });
  const conv = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'conv1', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }).apply(input);
  const pool = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(conv) as tfl.SymbolicTensor;
  return { model: tfl.model({ inputs: input, outputs: pool }), family: 'custom', preprocessing: 'tf', imageSize: [8, 8], source: 'test base', weightsHash: 'x' };
}

function toyFeatures(n: number, seed: number): { features: Float32Array; labels: Int32Array; n: number } {
  const features = new Float32Array(n * 32);
  const labels = new Int32Array(n);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let j = 0; j < 32; j++) features[i * 32 + j] = rand() + (labels[i] === 1 && j < 16 ? 2 : 0);
  }
  return { features, labels, n };
}

function featureSet(): FeatureSet {
  return { classNames: ['cats', 'dogs'], featureShape: [4, 4, 2], train: toyFeatures(96, 1), validation: toyFeatures(48, 2) };
}

test('features mode: best full-model checkpoint, history, log, plots, meta; same seed same result', async () => {
  await initBackend('cpu');
  const base = tinyBase();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const opts = withTrainDefaults({ data: 'unused', base: 'tiny', mode: 'features', out, epochs: 6, batchSize: 16, headUnits: 16, verbose: 0, seed: 5 });
  const r = await trainHeadOnFeatures({ base, features: featureSet(), opts });
  assert.equal(r.history.epoch.length, 6);
  const vl = r.history.history.val_loss;
  assert.equal(r.bestEpoch, vl.indexOf(Math.min(...vl)));
  assert.ok(r.history.history.val_accuracy[r.bestEpoch] > 0.8, `val accuracy ${r.history.history.val_accuracy}`);
  for (const f of ['meta.json', 'history.json', 'log.csv', 'accuracy.png', 'accuracy.svg', 'loss.png', 'loss.svg', 'model/model.json']) {
    assert.ok(fs.existsSync(path.join(out, f)), f);
  }
  checkRunDir(out);
  const meta = await readMeta(out);
  assert.equal(meta.finished, true);
  assert.deepEqual(meta.classes, ['cats', 'dogs']);
  assert.equal(meta.epochsDone, 6);

  // The checkpoint is the whole model: raw 0..255 images in, P(dogs) out.
  const run = await loadRun(out);
  const model = run.model!;
  assert.deepEqual(model.inputs[0].shape, [null, 8, 8, 3]);
  assert.equal(model.layers[1].name, 'preprocess');
  const img = tf.randomUniform([3, 8, 8, 3], 0, 255, 'float32', 1);
  const p = (model.predict(img) as tf.Tensor).dataSync();
  assert.ok(p.every((v) => v >= 0 && v <= 1));
  // Its head weights are those of the best epoch: its val_loss on the features matches the history.
  const loaded = await tfl.loadLayersModel(fileSystemIO(path.join(out, 'model')));
  assert.ok(loaded.layers.some((l) => l.name === 'head_output'));

  // Reproducible with --seed.
  const out2 = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const r2 = await trainHeadOnFeatures({ base, features: featureSet(), opts: { ...opts, out: out2 } });
  assert.deepEqual(r2.history.history.val_loss, r.history.history.val_loss);
});

test('features mode: interrupt keeps the best checkpoint loadable; --resume continues', async () => {
  await initBackend('cpu');
  const base = tinyBase();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const controller = new AbortController();
  const opts = withTrainDefaults({ data: 'unused', base: 'tiny', mode: 'features', out, epochs: 8, batchSize: 16, headUnits: 16, verbose: 0, signal: controller.signal });
  let epochs = 0;
  // Abort in the middle of the 4th epoch, as Ctrl-C would.
  const features = featureSet();
  const origIterator = { n: 0 };
  const r = await trainHeadOnFeatures({
    base,
    features,
    opts,
    log: () => {},
    onBatchEndForTest: () => { if (++origIterator.n === 6 * 3 + 2) controller.abort(); },
  } as Parameters<typeof trainHeadOnFeatures>[0]);
  epochs = r.history.epoch.length;
  assert.equal(r.interrupted, true);
  assert.equal(epochs, 3);
  const meta = await readMeta(out);
  assert.equal(meta.finished, false);
  assert.equal(meta.epochsDone, 3);
  checkRunDir(out);
  await tfl.loadLayersModel(fileSystemIO(path.join(out, 'model')));
  assert.equal(fs.readFileSync(path.join(out, 'log.csv'), 'utf8').trim().split('\n').length, 4);

  const resumed = await trainHeadOnFeatures({ base, features, opts: { ...opts, signal: undefined, resume: true }, log: () => {} });
  assert.equal(resumed.interrupted, false);
  assert.deepEqual(resumed.history.epoch, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(fs.readFileSync(path.join(out, 'log.csv'), 'utf8').trim().split('\n').map((l) => l.split(',')[0]), ['epoch', '0', '1', '2', '3', '4', '5', '6', '7']);
  assert.equal((await readMeta(out)).finished, true);
});

test('features mode: resume refuses other classes', async () => {
  await initBackend('cpu');
  const base = tinyBase();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const opts = withTrainDefaults({ data: 'unused', base: 'tiny', mode: 'features', out, epochs: 1, batchSize: 16, headUnits: 4, verbose: 0 });
  await trainHeadOnFeatures({ base, features: featureSet(), opts });
  await assert.rejects(
    trainHeadOnFeatures({ base, features: { ...featureSet(), classNames: ['a', 'b'] }, opts: { ...opts, resume: true } }),
    (e: Error) => e.name === 'UserError' && /classes \[cats, dogs\]/.test(e.message),
  );
});
