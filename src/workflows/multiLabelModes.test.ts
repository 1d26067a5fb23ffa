import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { readMeta } from '../run/meta.js';
import { readHistory } from '../run/runDir.js';
import { initBackend } from '../tfjs/backend.js';
import { makeTinyMultiLabelSet, TINY_COLOURS } from '../testing/tinyMultiLabel.js';
import { makeTinyBase } from '../testing/tinyRun.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import type { TrainOptionsInput } from './options.js';
import { train } from './train.js';

// The three-colour multi-label set (21 training, 14 validation images) through the tiny conv base, in every mode.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-multilabel-modes-'));
const ready = (async () => {
  await initBackend('cpu');
  const set = await makeTinyMultiLabelSet(path.join(root, 'set'));
  const base = await makeTinyBase(path.join(root, 'base'));
  return { ...set, base };
})();
const quiet = { log: () => {} };

async function options(out: string, extra: Partial<TrainOptionsInput> = {}): Promise<TrainOptionsInput> {
  const { data, table, base } = await ready;
  return {
    data,
    labels: table,
    labelDelim: ' ',
    base,
    out: path.join(root, out),
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

/** The saved model's output width and the run's multi-label records. */
async function checkMultiLabelRun(out: string, epochs: number): Promise<number[]> {
  const meta = await readMeta(out);
  assert.equal(meta.labelMode, 'multi-label');
  assert.equal(meta.thresholdSource, 'validation-f1');
  assert.equal(meta.thresholds?.length, TINY_COLOURS.length);
  assert.equal(meta.finished, true);
  const model = await tfl.loadLayersModel(fileSystemIO(path.join(out, 'model')));
  assert.deepEqual(model.outputs[0].shape, [null, TINY_COLOURS.length]);
  assert.equal(model.getLayer('head_activation').getConfig().activation, 'sigmoid');
  model.dispose();
  const history = (await readHistory(out))!;
  assert.equal(history.history.val_map.length, epochs);
  assert.equal(history.history.map.length, epochs);
  return history.history.val_map;
}

test('multi-label augment mode: multi-hot targets through the augmented batches; sigmoid head, mAP, thresholds', async () => {
  const r = await train(await options('augment', { mode: 'augment', epochs: 6 }), quiet);
  const valMap = await checkMultiLabelRun(r.runDir, 6);
  assert.ok(valMap[5] >= 0.9, `val_map ${valMap}`);
});

test('multi-label finetune without --from: the head phase, then the unfrozen conv, both multi-label', async () => {
  const r = await train(await options('finetune', { mode: 'finetune', epochs: 2, unfreeze: 2, freezeEpochs: 4 }), quiet);
  const valMap = await checkMultiLabelRun(r.runDir, 6);
  const meta = await readMeta(r.runDir);
  assert.equal(meta.phase, 'finetune');
  assert.deepEqual(meta.unfrozen, ['conv1', 'pool1']);
  assert.ok(valMap[5] >= 0.9, `val_map ${valMap}`);
  // --from a multi-label run with data read as one label an image is refused.
  const single = path.join(root, 'single.csv');
  fs.writeFileSync(
    single,
    fs
      .readFileSync((await ready).table, 'utf8')
      .split('\n')
      .map((l, i) => (i === 0 || !l ? l : l.replace(/,([a-z]+)( [a-z ]+)?,/, ',$1,')))
      .join('\n'),
  );
  await assert.rejects(
    train(await options('tuned-single', { mode: 'finetune', from: r.runDir, labels: single, unfreeze: 1 }), quiet),
    /is a multi-label run and this data is not multi-label/,
  );
});

test('multi-label --resume after Ctrl-C ends where an uninterrupted run ends, map and val_map included', async () => {
  // Without dropout: its masks' generator is not part of the saved state.
  const whole = await train(await options('whole', { epochs: 4, dropout: 0 }), quiet);
  const controller = new AbortController();
  let batches = 0;
  const stop = new tfl.CustomCallback({
    onBatchEnd: async () => {
      if (++batches === 7) controller.abort();
    },
  }) as unknown as tfl.Callback;
  const first = await train(await options('resumed', { epochs: 4, dropout: 0, signal: controller.signal }), {
    ...quiet,
    callbacks: [stop],
  });
  assert.equal(first.interrupted, true);
  assert.equal(first.history.epoch.length, 2);
  const resumed = await train(await options('resumed', { epochs: 4, dropout: 0, resume: true }), quiet);
  for (const key of ['loss', 'val_loss', 'map', 'val_map']) {
    const a = whole.history.history[key];
    const b = resumed.history.history[key];
    assert.equal(b.length, 4, key);
    b.forEach((v, i) => assert.ok(Math.abs(v - a[i]) < 1e-6, `${key} epoch ${i + 1}: ${v} vs ${a[i]}`));
  }
  assert.deepEqual((await readMeta(resumed.runDir)).thresholds, (await readMeta(whole.runDir)).thresholds);
  // Resuming as single-label is refused.
  await assert.rejects(
    train(await options('resumed', { epochs: 5, dropout: 0, resume: true, multiLabel: false, labelDelim: undefined }), quiet),
    /labels multi-label, not one an image/,
  );
});

test('multi-label with --precision int8: the quantized base extracts, the head trains multi-label', async () => {
  const r = await train(await options('int8', { precision: 'int8', epochs: 6 }), quiet);
  const valMap = await checkMultiLabelRun(r.runDir, 6);
  assert.equal((await readMeta(r.runDir)).precision, 'int8');
  assert.ok(valMap[5] >= 0.9, `val_map ${valMap}`);
});
