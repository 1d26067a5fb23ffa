import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../tfjs/backend.js';
import { FAMILIES } from '../applications/index.js';
import { readKerasH5, loadKerasH5Weights, writeKerasH5 } from './kerasH5.js';
import { UserError } from '../errors.js';

await initBackend();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-h5-'));
const small = { includeTop: false, weights: 'none', inputShape: [32, 32, 3] as [number, number, number] };

function userError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    assert.ok(!(e as Error).message.includes('HDF5-DIAG'), 'no raw HDF5 dump in the message');
    return true;
  };
}

test('Keras-layout .h5 round trip: write a random model, load it into a fresh one, identical outputs', async () => {
  const file = path.join(dir, 'mnv2.h5');
  const a = FAMILIES.mobilenet_v2.architecture({ ...small, alpha: 0.35 });
  // make the BN moving statistics non-trivial so they are checked too
  for (const l of a.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    l.setWeights(l.getWeights().map((w) => tf.randomUniform(w.shape, 0.5, 1.5)));
  }
  await writeKerasH5(a, file);
  const h5w = await readKerasH5(file);
  assert.equal(h5w.layerNames.length, a.layers.length);
  assert.deepEqual(
    h5w.layers.get('bn_Conv1')!.map((w) => w.name),
    ['bn_Conv1/gamma:0', 'bn_Conv1/beta:0', 'bn_Conv1/moving_mean:0', 'bn_Conv1/moving_variance:0'],
  );
  assert.deepEqual(h5w.layers.get('Conv1')![0].shape, [3, 3, 3, 16]);

  const b = FAMILIES.mobilenet_v2.architecture({ ...small, alpha: 0.35 });
  const x = tf.randomUniform([2, 32, 32, 3], -1, 1);
  const before = (b.predict(x) as tf.Tensor).dataSync();
  await loadKerasH5Weights(b, file);
  const ya = (a.predict(x) as tf.Tensor).dataSync();
  const yb = (b.predict(x) as tf.Tensor).dataSync();
  assert.notDeepEqual(Array.from(before), Array.from(ya), 'the fresh model differed before loading');
  assert.deepEqual(Array.from(yb), Array.from(ya));
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'written atomically, no temp left',
  );
});

test('VGG16 weights load by layer name, shapes checked; errors name the layer and both shapes', async () => {
  const file = path.join(dir, 'vgg16_notop.h5');
  const a = FAMILIES.vgg16.architecture(small);
  await writeKerasH5(a, file);
  const b = FAMILIES.vgg16.architecture(small);
  await loadKerasH5Weights(b, file);
  const x = tf.randomUniform([1, 32, 32, 3], 0, 255);
  assert.deepEqual(Array.from((b.predict(x) as tf.Tensor).dataSync()), Array.from((a.predict(x) as tf.Tensor).dataSync()));

  // conv base file into a model whose first conv expects 1 input channel
  const gray = FAMILIES.vgg16.architecture({ ...small, inputShape: [32, 32, 1] });
  await assert.rejects(
    loadKerasH5Weights(gray, file),
    userError(/layer "block1_conv1" \(kernel\): the model expects \(3, 3, 1, 64\) but .* has \(3, 3, 3, 64\)/),
  );

  // an .h5 of another model
  const mn = path.join(dir, 'mobilenet.h5');
  await writeKerasH5(FAMILIES.mobilenet.architecture({ ...small, alpha: 0.25 }), mn);
  await assert.rejects(loadKerasH5Weights(b, mn), userError(/does not fit the model "vgg16".*another model/));
  // the same family at another alpha: shape mismatch naming the layer
  const mn1 = FAMILIES.mobilenet.architecture({ ...small, alpha: 0.5 });
  await assert.rejects(
    loadKerasH5Weights(mn1, mn),
    userError(/layer "conv1" \(kernel\): the model expects \(3, 3, 3, 16\) but .* has \(3, 3, 3, 8\)/),
  );
  for (const m of [a, b, gray, mn1]) m.dispose();
});

test('missing, truncated and non-HDF5 files are UserErrors that say what is wrong', async () => {
  const m = FAMILIES.mobilenet.architecture({ ...small, alpha: 0.25 });
  await assert.rejects(loadKerasH5Weights(m, path.join(dir, 'nope.h5')), userError(/nope\.h5 does not exist/));
  const full = path.join(dir, 'full.h5');
  await writeKerasH5(m, full);
  const bytes = fs.readFileSync(full);
  const cut = path.join(dir, 'cut.h5');
  fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(loadKerasH5Weights(m, cut), userError(/cut\.h5.*truncated/));
  const junk = path.join(dir, 'junk.h5');
  fs.writeFileSync(junk, 'this is not an HDF5 file');
  await assert.rejects(loadKerasH5Weights(m, junk), userError(/junk\.h5.*not an HDF5 file/i));
  m.dispose();
});
