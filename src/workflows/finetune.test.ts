import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { isUserError } from '../errors.js';
import { makeTinyDataset } from '../testing/tinyRun.js';
import { withTrainDefaults, type TrainOptionsInput } from './options.js';
import { trainFeatures } from './features.js';
import { trainFinetune } from './finetune.js';
import { readHistory, readMeta, runPaths } from '../run/runDir.js';

// VGG16 with random weights at 32x32 on 64 tiny images (48 train, 16 validation).
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
const dataReady = makeTinyDataset(path.join(root, 'data'), { train: 24, validation: 8, test: 0 }).then((dir) => {
  fs.rmSync(path.join(dir, 'test'), { recursive: true });
  return dir;
});

async function options(out: string, extra: Partial<TrainOptionsInput> = {}) {
  return withTrainDefaults({
    data: await dataReady,
    base: 'vgg16',
    weights: 'none',
    imageSize: 32,
    mode: 'finetune',
    out,
    epochs: 1,
    batchSize: 16,
    headUnits: 16,
    cacheDir: path.join(root, 'cache'),
    verbose: 0,
    ...extra,
  });
}

async function layerWeights(runDir: string): Promise<Map<string, Float32Array[]>> {
  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(runDir).model));
  const out = new Map(model.layers.map((l) => [l.name, l.getWeights().map((w) => w.dataSync() as Float32Array)]));
  model.dispose();
  return out;
}

function same(a: Float32Array[] | undefined, b: Float32Array[] | undefined): boolean {
  assert.ok(a && b && a.length === b.length && a.length > 0);
  return a.every((w, i) => w.length === b[i].length && w.every((v, j) => v === b[i][j]));
}

test('finetune --unfreeze 4 changes block5 of VGG16 and nothing before it; the result is one loadable model', async () => {
  const headRun = path.join(root, 'head');
  await trainFeatures(await options(headRun, { mode: 'features' }));
  const tuned = path.join(root, 'tuned');
  const result = await trainFinetune(await options(tuned, { from: headRun, unfreeze: 4 }));
  assert.equal(result.bestEpoch, 1);

  const before = await layerWeights(headRun);
  const after = await layerWeights(tuned);
  for (const name of ['block5_conv1', 'block5_conv2', 'block5_conv3', 'head_dense', 'head_output']) {
    assert.ok(!same(before.get(name), after.get(name)), `${name} should have changed`);
  }
  for (const name of ['preprocess', 'block1_conv1', 'block3_conv2', 'block4_conv3']) {
    assert.ok(same(before.get(name), after.get(name)), `${name} should be frozen`);
  }

  const meta = await readMeta(tuned);
  assert.equal(meta.mode, 'finetune');
  assert.deepEqual((meta as unknown as { unfrozen: string[] }).unfrozen, ['block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_pool']);
  const history = await readHistory(tuned);
  assert.equal(history?.epoch.length, 2);
  assert.equal(history?.fineTuneStartEpoch, 1);

  const model = await tfl.loadLayersModel(fileSystemIO(runPaths(tuned).model));
  const y = model.predict(tf.fill([2, 32, 32, 3], 128)) as tf.Tensor;
  assert.deepEqual(y.shape, [2, 1]);
  y.dispose();
  model.dispose();
});

test('finetune without --from trains a head first, in the same run dir', async () => {
  const out = path.join(root, 'both');
  await trainFinetune(await options(out, { unfreeze: 2 }));
  const history = await readHistory(out);
  assert.deepEqual(history?.epoch, [0, 1]);
  assert.equal(history?.fineTuneStartEpoch, 1);
  assert.equal(fs.readFileSync(runPaths(out).log, 'utf8').trim().split('\n').length, 3, 'log.csv: header + one line per epoch');
});

test('a NaN loss stops fine-tuning with a clear message and keeps the last good checkpoint', async () => {
  const out = path.join(root, 'nan');
  await trainFeatures(await options(out, { mode: 'features' }));
  const modelFiles = () => fs.readdirSync(runPaths(out).model).map((f) => fs.readFileSync(path.join(runPaths(out).model, f)).toString('base64')).join();
  const good = modelFiles();
  // A NaN learning rate turns every weight into NaN after the first update.
  await assert.rejects(trainFinetune(await options(out, { from: out, learningRate: NaN })), (e: unknown) => {
    assert.ok(isUserError(e));
    assert.match((e as Error).message, /Training diverged: .*NaN/);
    assert.match((e as Error).message, /last good checkpoint \(epoch 1\) is kept/);
    return true;
  });
  assert.equal(modelFiles(), good, 'the checkpoint on disk is the one from before the NaN');
  const meta = await readMeta(out);
  assert.equal(meta.finished, false);
});
