import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { vgg16Architecture } from '../applications/vgg16.js';
import { mobilenetArchitecture } from '../applications/mobilenet.js';
import { mobilenetV2Architecture } from '../applications/mobilenetV2.js';
import { resnet50Architecture } from '../applications/resnet50.js';
import { efficientnetB0Architecture } from '../applications/efficientnet.js';
import { convnextTinyArchitecture } from '../applications/convnext.js';
import { preprocessingLayer, type PreprocessMode } from '../applications/preprocess.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { decodeImage } from '../data/decode.js';
import { checkParity } from '../ort/parity.js';
import { randomImages, randomizeWeights } from '../testing/testModels.js';
import { assertWorstError } from '../testing/numerics.js';

await initBackend();

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared');

/** Whole-model parity for every family, random weights (BatchNorm statistics randomised too), raw 0..255 input through the preprocessing layer. */
const families: Array<{ name: string; build: () => tfl.LayersModel; size: number; preprocessing: PreprocessMode }> = [
  {
    name: 'vgg16 notop',
    size: 32,
    preprocessing: 'caffe',
    build: () => vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }),
  },
  {
    name: 'vgg16 with top',
    size: 32,
    preprocessing: 'caffe',
    build: () => vgg16Architecture({ includeTop: true, weights: 'none', inputShape: [32, 32, 3], classes: 5 }),
  },
  {
    name: 'mobilenet notop',
    size: 64,
    preprocessing: 'tf',
    build: () => mobilenetArchitecture({ includeTop: false, weights: 'none', inputShape: [64, 64, 3] }),
  },
  {
    name: 'mobilenet with top (alpha 0.5)',
    size: 64,
    preprocessing: 'tf',
    build: () => mobilenetArchitecture({ includeTop: true, weights: 'none', inputShape: [64, 64, 3], alpha: 0.5, classes: 7 }),
  },
  {
    name: 'mobilenet_v2 notop',
    size: 64,
    preprocessing: 'tf',
    build: () => mobilenetV2Architecture({ includeTop: false, weights: 'none', inputShape: [64, 64, 3] }),
  },
  {
    name: 'mobilenet_v2 avg pooling, odd size',
    size: 75,
    preprocessing: 'tf',
    build: () => mobilenetV2Architecture({ includeTop: false, weights: 'none', inputShape: [75, 75, 3], pooling: 'avg' }),
  },
  {
    name: 'resnet50 notop',
    size: 32,
    preprocessing: 'caffe',
    build: () => resnet50Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }),
  },
  {
    name: 'resnet50 with top (logits), odd size',
    size: 37,
    preprocessing: 'caffe',
    build: () =>
      resnet50Architecture({ includeTop: true, weights: 'none', inputShape: [37, 37, 3], classes: 3, classifierActivation: null }),
  },
  {
    name: 'efficientnet_b0 notop',
    size: 32,
    preprocessing: 'none',
    build: () => efficientnetB0Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }),
  },
  {
    name: 'efficientnet_b0 with top, odd size',
    size: 35,
    preprocessing: 'none',
    build: () => efficientnetB0Architecture({ includeTop: true, weights: 'none', inputShape: [35, 35, 3], classes: 4 }),
  },
  {
    name: 'convnext_tiny notop',
    size: 32,
    preprocessing: 'none',
    build: () => convnextTinyArchitecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] }),
  },
  {
    name: 'convnext_tiny with top',
    size: 32,
    preprocessing: 'none',
    build: () => convnextTinyArchitecture({ includeTop: true, weights: 'none', inputShape: [32, 32, 3], classes: 6 }),
  },
];

/** The conv base behind its preprocessing layer, nested as a layer (the shape extract uses). */
function withPreprocessing(base: tfl.LayersModel, mode: PreprocessMode, size: number): tfl.LayersModel {
  const x = tfl.input({ shape: [size, size, 3] });
  const pre = preprocessingLayer(mode).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: base.apply(pre) as tfl.SymbolicTensor });
}

for (const [i, f] of families.entries()) {
  test(`whole-model parity: ${f.name}`, async () => {
    const base = f.build();
    randomizeWeights(base, 11 + i);
    const model = withPreprocessing(base, f.preprocessing, f.size);
    const r = await checkParity(model, randomImages([2, f.size, f.size, 3], 0, 255, i));
    assert.ok(r.maxAbsOutput > 0);
    if (process.env.TLKIT_DEBUG) console.log(f.name, JSON.stringify(r));
    assert.ok(r.relative <= 1e-4, `${f.name}: max abs diff ${r.maxAbsDiff}, max |out| ${r.maxAbsOutput}`);
    base.dispose();
  });
}

test('cut a vgg16 base at block4_pool inside the preprocessing wrapper', async () => {
  const base = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3] });
  randomizeWeights(base, 5);
  const model = withPreprocessing(base, 'caffe', 32);
  const input = randomImages([2, 32, 32, 3], 0, 255, 3);
  const cut = tfl.model({ inputs: base.inputs, outputs: base.getLayer('block4_pool').output as tfl.SymbolicTensor });
  const reference = withPreprocessing(cut, 'caffe', 32);
  const r = await checkParity(reference, input);
  assert.deepEqual(r.shape, [2, 2, 2, 512]);
  // The same cut, asked of the wrapped full base, must produce the same numbers.
  const { OrtModel } = await import('../ort/ortRunner.js');
  const { exportToOnnx } = await import('./export.js');
  const ort = await OrtModel.create(exportToOnnx(model, { upTo: 'block4_pool' }));
  const got = await ort.run(Float32Array.from(input.dataSync()), input.shape);
  const want = (reference.predict(input) as tf.Tensor).dataSync();
  assert.deepEqual(got.shape, [2, 2, 2, 512]);
  assertWorstError([{ name: 'block4_pool', actual: got.data, expected: want }], 1e-4);
  await ort.dispose();
});

test('shared pretrained MobileNet on real cat and dog images', async () => {
  const dir = path.join(shared, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
  const base = await tfl.loadLayersModel(fileSystemIO(dir));
  const model = withPreprocessing(base, 'tf', 224);
  const trainDir = path.join(shared, 'data/cats_vs_dogs_small/train');
  const files = ['cats', 'dogs'].flatMap((c) =>
    fs
      .readdirSync(path.join(trainDir, c))
      .sort()
      .slice(0, 2)
      .map((f) => path.join(trainDir, c, f)),
  );
  const pixels = new Float32Array(files.length * 224 * 224 * 3);
  for (const [k, file] of files.entries()) pixels.set(await decodeImage(file, [224, 224]), k * 224 * 224 * 3);
  const input = tf.tensor4d(pixels, [files.length, 224, 224, 3]);
  const r = await checkParity(model, input);
  assert.deepEqual(r.shape, [files.length, 7, 7, 1024]);
  assert.ok(r.maxAbsOutput > 1, `pretrained features should be well above zero, got ${r.maxAbsOutput}`);
  assert.ok(r.relative <= 1e-4, `max abs diff ${r.maxAbsDiff}, max |out| ${r.maxAbsOutput}`);
  input.dispose();
});
