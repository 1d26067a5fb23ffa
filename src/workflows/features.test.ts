import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { readMeta } from '../run/meta.js';
import { checkRunDir } from '../run/runDir.js';
import { loadTrainState } from '../run/trainState.js';
import { train } from './train.js';
import type { TrainOptionsInput } from './options.js';

// 32 training and 16 validation images of 16x16 through a tiny conv base folder.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-features-'));
const ready = (async () => {
  await initBackend('cpu');
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 16, validation: 8 });
  const base = await makeTinyBase(path.join(root, 'base'));
  return { data, base };
})();
const quiet = { log: () => {} };

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  const { data, base } = await ready;
  return {
    data,
    base,
    out,
    epochs: 6,
    batchSize: 8,
    headUnits: 16,
    learningRate: 0.01,
    verbose: 0,
    seed: 5,
    cacheDir: path.join(root, 'cache'),
    ...extra,
  };
}

/** Aborts its controller after `n` training batches, as a Ctrl-C in the middle of an epoch would. */
function abortAfterBatches(n: number, controller: AbortController): tfl.Callback {
  let seen = 0;
  return new tfl.CustomCallback({
    onBatchEnd: async () => {
      if (++seen === n) controller.abort();
    },
  }) as unknown as tfl.Callback;
}

test('features mode: best full-model checkpoint, history, log, plots, meta; same seed same result', async () => {
  const out = path.join(root, 'run-a');
  const r = await train(await options(out), quiet);
  assert.equal(r.history.epoch.length, 6);
  const vl = r.history.history.val_loss;
  assert.equal(r.bestEpoch, vl.indexOf(Math.min(...vl)));
  // The best epoch (6th) reaches 16/16, val_loss 0.0010 (measured): one miss, or 10x the loss, is a regression.
  assert.ok(r.history.history.val_accuracy[r.bestEpoch] >= 15 / 16, `val accuracy ${r.history.history.val_accuracy}`);
  assert.ok(vl[r.bestEpoch] <= 0.01, `val_loss ${vl}`);
  for (const f of [
    'meta.json',
    'history.json',
    'log.csv',
    'accuracy.png',
    'accuracy.svg',
    'loss.png',
    'loss.svg',
    'model/model.json',
    'state/state.json',
  ]) {
    assert.ok(fs.existsSync(path.join(out, f)), f);
  }
  assert.ok(!fs.existsSync(path.join(out, '.lock')), 'the lock is released');
  await checkRunDir(out);
  const meta = await readMeta(out);
  assert.equal(meta.finished, true);
  assert.deepEqual(meta.classes, ['cats', 'dogs']);
  assert.equal(meta.epochsDone, 6);
  assert.deepEqual(meta.head, { units: 16, activation: 'linear', dropout: 0.5, pooling: 'flatten' });
  assert.equal(meta.data, path.resolve((await ready).data));

  // The checkpoint is the whole model: raw 0..255 images in, P(dogs) out.
  const model = await tfl.loadLayersModel(fileSystemIO(path.join(out, 'model')));
  assert.deepEqual(model.inputs[0].shape, [null, 16, 16, 3]);
  assert.equal(model.layers[1].name, 'preprocess');
  assert.ok(model.layers.some((l) => l.name === 'head_output'));
  const p = (model.predict(tf.randomUniform([3, 16, 16, 3], 0, 255, 'float32', 1)) as tf.Tensor).dataSync();
  assert.ok(p.every((v) => v >= 0 && v <= 1));

  // Reproducible with the seed.
  const r2 = await train(await options(path.join(root, 'run-a2')), quiet);
  assert.deepEqual(r2.history.history.val_loss, r.history.history.val_loss);
});

test('features mode: Ctrl-C mid-epoch keeps whole epochs; --resume continues exactly as an uninterrupted run (optimizer state restored)', async () => {
  // Dropout 0 makes training a pure function of weights, optimizer state and batch order,
  // so the resumed curve must equal the uninterrupted one, not just resemble it.
  const steady = await train(await options(path.join(root, 'steady'), { epochs: 8, dropout: 0 }), quiet);

  const out = path.join(root, 'interrupted');
  const controller = new AbortController();
  const r = await train(await options(out, { epochs: 8, dropout: 0, signal: controller.signal }), {
    ...quiet,
    callbacks: [abortAfterBatches(4 * 3 + 2, controller)],
  });
  assert.equal(r.interrupted, true);
  assert.deepEqual(r.history.epoch, [0, 1, 2]);
  const meta = await readMeta(out);
  assert.equal(meta.finished, false);
  assert.equal(meta.epochsDone, 3);
  await checkRunDir(out);
  assert.equal(fs.readFileSync(path.join(out, 'log.csv'), 'utf8').trim().split('\n').length, 4);
  const state = await loadTrainState(out);
  assert.equal(state?.epoch, 3);
  const iterations = state!.optimizer.find((w) => w.name === 'iter');
  assert.equal(iterations?.data[0], 12, 'RMSprop iterations after 3 epochs of 4 batches');
  assert.ok(
    state!.optimizer.some((w) => w.name.endsWith('/rms') && w.data.some((v) => v > 0)),
    'RMSprop moving averages saved',
  );

  const resumed = await train(await options(out, { epochs: 8, dropout: 0, resume: true }), quiet);
  assert.equal(resumed.interrupted, false);
  assert.deepEqual(resumed.history.epoch, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(
    fs
      .readFileSync(path.join(out, 'log.csv'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(',')[0]),
    ['epoch', '0', '1', '2', '3', '4', '5', '6', '7'],
  );
  steady.history.history.val_loss.forEach((v, i) =>
    assert.ok(Math.abs(v - resumed.history.history.val_loss[i]) < 1e-5, `epoch ${i}: ${v} vs ${resumed.history.history.val_loss[i]}`),
  );
  assert.equal((await readMeta(out)).finished, true);
});

test('features mode, engine ort (the default): the head trains on ONNX Runtime with the tfjs curve (dropout 0, 1e-3), saves its weights, and a run interrupted on ORT resumes on tfjs', async () => {
  const reference = await train(await options(path.join(root, 'engine-tfjs'), { epochs: 5, dropout: 0, engine: 'tfjs' }), quiet);
  assert.equal((await readMeta(path.join(root, 'engine-tfjs'))).options.engine, 'tfjs');
  const ortOut = path.join(root, 'engine-ort');
  const ort = await train(await options(ortOut, { epochs: 5, dropout: 0, engine: 'ort' }), quiet);
  assert.equal((await readMeta(ortOut)).options.engine, 'ort');
  for (const key of ['loss', 'val_loss', 'accuracy', 'val_accuracy'] as const) {
    const tol = key.includes('loss') ? 1e-3 : 1e-9;
    reference.history.history[key].forEach((v, i) =>
      assert.ok(Math.abs(v - ort.history.history[key][i]) <= tol, `${key} epoch ${i + 1}: ORT ${ort.history.history[key][i]} vs tfjs ${v}`),
    );
  }
  assert.equal(ort.bestEpoch, reference.bestEpoch);
  // The checkpoint holds what ORT trained: the saved head's weights are the tfjs run's, to float rounding.
  const saved = async (dir: string) => {
    const m = await tfl.loadLayersModel(fileSystemIO(path.join(dir, 'model')));
    const w = m.getLayer('head_dense').getWeights()[0].dataSync().slice();
    m.dispose();
    return w;
  };
  const [a, b] = [await saved(path.join(root, 'engine-tfjs')), await saved(ortOut)];
  const scale = Math.max(...a.map(Math.abs));
  assert.ok(
    a.every((v, i) => Math.abs(v - b[i]) <= 1e-3 * scale),
    'head_dense kernel of the ORT checkpoint',
  );

  // Ctrl-C in epoch 3 on ORT, --resume on tfjs: the resume state (weights + RMSprop slots) is the same format.
  const out = path.join(root, 'engine-ort-resumed');
  const controller = new AbortController();
  const r = await train(await options(out, { epochs: 5, dropout: 0, engine: 'ort', signal: controller.signal }), {
    ...quiet,
    callbacks: [abortAfterBatches(4 * 2 + 1, controller)],
  });
  assert.equal(r.interrupted, true);
  assert.deepEqual(r.history.epoch, [0, 1]);
  const resumed = await train(await options(out, { epochs: 5, dropout: 0, resume: true, engine: 'tfjs' }), quiet);
  reference.history.history.val_loss.forEach((v, i) =>
    assert.ok(Math.abs(v - resumed.history.history.val_loss[i]) <= 1e-3, `epoch ${i + 1}: ${resumed.history.history.val_loss[i]} vs ${v}`),
  );
});

test('features mode: --resume refuses another base, image size or class list, naming the difference', async () => {
  const out = path.join(root, 'resume-checks');
  await train(await options(out, { epochs: 1 }), quiet);
  await assert.rejects(
    train(await options(out, { epochs: 2, resume: true, base: 'vgg16' }), quiet),
    (e: Error) => e.name === 'UserError' && /base .*base, not vgg16/.test(e.message),
  );
  await assert.rejects(
    train(await options(out, { epochs: 2, resume: true, imageSize: 64 }), quiet),
    (e: Error) => e.name === 'UserError' && /image size 16x16, not 64/.test(e.message),
  );
  const other = await makeTinyDataset(path.join(root, 'other'), { train: 2, validation: 1 });
  fs.renameSync(path.join(other, 'train', 'dogs'), path.join(other, 'train', 'birds'));
  fs.renameSync(path.join(other, 'validation', 'dogs'), path.join(other, 'validation', 'birds'));
  await assert.rejects(
    train(await options(out, { epochs: 2, resume: true, data: other }), quiet),
    (e: Error) => e.name === 'UserError' && /classes \[cats, dogs\], not \[birds, cats\]/.test(e.message),
  );
});
