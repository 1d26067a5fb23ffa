import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { loadBase } from './loadBase.js';
import { preprocessInput, preprocessingLayer } from './preprocess.js';
import { FAMILIES } from './index.js';
import { writeKerasH5 } from '../weights/kerasH5.js';
import { nsfwjsArtifacts } from '../weights/nsfwjsModel.js';
import { UserError } from '../errors.js';

await initBackend();
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared');
const truncatedMobilenet = path.join(shared, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
const catsDir = path.join(shared, 'data/cats_vs_dogs_small/test/cats');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-base-'));

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];

async function realImage(size: number): Promise<tf.Tensor4D> {
  const file = path.join(
    catsDir,
    fs
      .readdirSync(catsDir)
      .filter((f) => f.endsWith('.jpg'))
      .sort()[0],
  );
  const { data } = await sharp(file).removeAlpha().resize(size, size, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  return tf.tensor4d(Float32Array.from(data), [1, size, size, 3]);
}

test('the shared pretrained MobileNet (tfjs folder): family recognised, sane 7x7x1024 features of a real image', async () => {
  const base = await loadBase({ base: truncatedMobilenet });
  assert.equal(base.family, 'mobilenet');
  assert.equal(base.preprocessing, 'tf');
  assert.deepEqual(base.imageSize, [224, 224]);
  assert.match(base.weightsHash, /^[0-9a-f]{64}$/);
  const img = await realImage(224);
  const y = base.model.predict(preprocessInput(img, 'tf')) as tf.Tensor;
  assert.deepEqual(y.shape, [1, 7, 7, 1024]);
  const v = y.dataSync();
  assert.ok(
    v.every((x) => Number.isFinite(x) && x >= 0 && x <= 6),
    'ReLU6 range',
  );
  const active = v.filter((x) => x > 0).length / v.length;
  const saturated = v.filter((x) => x >= 6).length / v.length;
  assert.ok(active > 0.02 && active < 0.9, `a pretrained base activates sparsely (active ${active})`);
  assert.ok(saturated < 0.05, `not saturated (${saturated})`);
  // a random image does not give the same features
  const noise = base.model.predict(preprocessInput(tf.randomUniform([1, 224, 224, 3], 0, 255), 'tf')) as tf.Tensor;
  assert.ok(maxAbsDiff(noise, y) > 0.5);

  // the frozen preprocessing layer in front gives the same as preprocessInput
  const input = tfl.input({ shape: [224, 224, 3] });
  const full = tfl.model({ inputs: input, outputs: base.model.apply(preprocessingLayer('tf').apply(input)) as tfl.SymbolicTensor });
  const y2 = full.predict(img) as tf.Tensor;
  assert.ok(maxAbsDiff(y2, y) < 1e-3);

  // rebuilt at 180x180 from the JSON config, same weights
  const at180 = await loadBase({ base: truncatedMobilenet, imageSize: 180 });
  assert.deepEqual(at180.model.outputs[0].shape, [null, 6, 6, 1024]);
  assert.equal(at180.weightsHash, base.weightsHash);
  const y180 = at180.model.predict(preprocessInput(await realImage(180), 'tf')) as tf.Tensor;
  assert.ok(y180.dataSync().every(Number.isFinite));
});

test('nsfwjs: its Keras MobileNetV2 conv base loads from the copy tlkit ships (models/), 1/255 folded in exactly', async () => {
  const base = await loadBase({ base: 'nsfwjs' });
  assert.equal(base.family, 'mobilenet_v2');
  assert.equal(base.preprocessing, 'none');
  assert.equal(base.model.countParams(), 2_257_984, 'same size as Keras MobileNetV2 without top');
  assert.equal(base.model.layers.at(-1)!.name, 'out_relu');
  const img = await realImage(224);
  const y = base.model.predict(img) as tf.Tensor;
  assert.deepEqual(y.shape, [1, 7, 7, 1280]);
  assert.ok(y.dataSync().every(Number.isFinite));
  // reference: the untouched nsfwjs model, cut at out_relu, fed x / 255 as nsfwjs does
  const full = await tfl.loadLayersModel(tf.io.fromMemory(nsfwjsArtifacts()));
  const ref = tfl.model({ inputs: full.inputs, outputs: full.getLayer('out_relu').output as tfl.SymbolicTensor });
  const yRef = ref.predict(tf.div(img, 255)) as tf.Tensor;
  const diff = maxAbsDiff(y, yRef);
  assert.ok(diff <= 1e-4 * Math.max(1, tf.max(tf.abs(yRef)).dataSync()[0]), `max diff ${diff}`);
  const small = await loadBase({ base: 'nsfwjs', imageSize: 160 });
  assert.deepEqual(small.model.outputs[0].shape, [null, 5, 5, 1280]);
});

test('a Keras .h5 as the base: family and alpha inferred from its layers', async () => {
  const src = FAMILIES.mobilenet_v2.architecture({ includeTop: false, weights: 'none', inputShape: [96, 96, 3], alpha: 0.35 });
  const file = path.join(dir, 'mnv2_035.h5');
  await writeKerasH5(src, file);
  const base = await loadBase({ base: file, imageSize: 96 });
  assert.equal(base.family, 'mobilenet_v2');
  assert.equal(base.preprocessing, 'tf');
  assert.match(base.source, /alpha 0.35/);
  const x = tf.randomUniform([1, 96, 96, 3], -1, 1);
  assert.deepEqual(Array.from((base.model.predict(x) as tf.Tensor).dataSync()), Array.from((src.predict(x) as tf.Tensor).dataSync()));

  const vggFile = path.join(dir, 'vgg.h5');
  await writeKerasH5(FAMILIES.vgg16.architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }), vggFile);
  const vgg = await loadBase({ base: vggFile, imageSize: 48 });
  assert.equal(vgg.family, 'vgg16');
  assert.equal(vgg.preprocessing, 'caffe');
  assert.deepEqual(vgg.model.outputs[0].shape, [null, 1, 1, 512]);

  // an .h5 of some other model
  const input = tfl.input({ shape: [4] });
  const other = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, name: 'my_dense' }).apply(input) as tfl.SymbolicTensor });
  const otherFile = path.join(dir, 'other.h5');
  await writeKerasH5(other, otherFile);
  await assert.rejects(
    loadBase({ base: otherFile }),
    (e: unknown) => e instanceof UserError && /Cannot tell which architecture.*my_dense/.test((e as Error).message),
  );
});

test('family bases and bad bases', async () => {
  const b = await loadBase({ base: 'mobilenet', weights: 'none', imageSize: 96 });
  assert.equal(b.family, 'mobilenet');
  assert.deepEqual(b.imageSize, [96, 96]);
  assert.deepEqual(b.model.outputs[0].shape, [null, 3, 3, 1024]);
  await assert.rejects(loadBase({ base: 'vgg17', weights: 'none' }), /Unknown model family "vgg17"/);
  await assert.rejects(
    loadBase({ base: './nope/model' }),
    (e: unknown) => e instanceof UserError && /does not exist/.test((e as Error).message),
  );
  await assert.rejects(
    loadBase({ base: 'vgg16', weights: 'none', imageSize: 10 }),
    (e: unknown) => e instanceof UserError && /at least 32/.test((e as Error).message),
  );
  await assert.rejects(loadBase({ base: dir }), (e: unknown) => e instanceof UserError && /has no model\.json/.test((e as Error).message));
});
