import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadBase } from '../applications/loadBase.js';
import { initBackend } from '../tfjs/backend.js';
import { exportToOnnx } from '../onnx/export.js';
import { parsePreprocess, PREPROCESS_PRESETS } from '../ort/onnxBase.js';
import { readNpy } from '../io/npy.js';
import { writeHandBuiltNchw } from '../testing/onnxModels.js';
import { relativeError as maxRel } from '../testing/numerics.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { extractFeatures } from './extract.js';
import { featureKeyParts, loadOnnxFeatureBase } from './frozenBase.js';

await initBackend();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-frozenbase-'));
const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
const mobilenetDir = path.join(shared, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
const photos = path.join(shared, 'data/cats_vs_dogs_small/test');

test('the shared MobileNet exported by tlkit, as --base model.onnx ("tf" preset): the same features as the tfjs base', {
  skip: !fs.existsSync(mobilenetDir) || !fs.existsSync(photos),
}, async () => {
  const data = path.join(root, 'photos');
  for (const c of ['cats', 'dogs']) {
    fs.mkdirSync(path.join(data, c), { recursive: true });
    for (const f of fs.readdirSync(path.join(photos, c)).sort().slice(0, 2))
      fs.copyFileSync(path.join(photos, c, f), path.join(data, c, f));
  }
  const tfjsBase = await loadBase({ base: mobilenetDir });
  assert.equal(tfjsBase.preprocessing, 'tf');
  const file = path.join(root, 'mobilenet.onnx');
  const m = await tfl.loadLayersModel(fileSystemIO(mobilenetDir));
  fs.writeFileSync(file, exportToOnnx(m));
  m.dispose();
  const onnxBase = loadOnnxFeatureBase(file, { preprocess: 'tf' });
  assert.deepEqual(onnxBase.imageSize, [224, 224]);
  assert.equal(onnxBase.onnx.info.layout, 'NHWC');

  const want = await extractFeatures({ base: tfjsBase, data, out: path.join(root, 'tfjs') });
  const got = await extractFeatures({ base: onnxBase, data, out: path.join(root, 'onnx') });
  tfjsBase.model.dispose();
  const [a, b] = await Promise.all([readNpy(got.splits[0].features), readNpy(want.splits[0].features)]);
  assert.deepEqual(a.shape, [4, 7, 7, 1024]);
  assert.deepEqual(a.shape, b.shape);
  const rel = maxRel(a.data as Float32Array, b.data as Float32Array);
  assert.ok(rel <= 1e-4, `max relative difference ${rel}`);
  const manifest = JSON.parse(fs.readFileSync(got.manifest, 'utf8'));
  assert.equal(manifest.base.family, 'onnx');
  assert.equal(manifest.base.weightsHash, onnxBase.onnx.info.sha256);
  assert.equal(manifest.preprocessing, 'tf');
});

test('the feature cache keys an ONNX base on its hash, preprocessing and cut: a change misses, the same base hits', async () => {
  const data = path.join(root, 'tiny');
  const sharp = (await import('sharp')).default;
  for (const [c, rgb] of [
    ['a', [200, 30, 30]],
    ['b', [30, 30, 200]],
  ] as const) {
    fs.mkdirSync(path.join(data, c), { recursive: true });
    await sharp(Buffer.alloc(8 * 8 * 3, Buffer.from(rgb)), { raw: { width: 8, height: 8, channels: 3 } })
      .png()
      .toFile(path.join(data, c, '0.png'));
  }
  const file = path.join(root, 'hand.onnx');
  writeHandBuiltNchw(file);
  const out = path.join(root, 'cache');
  const torch = loadOnnxFeatureBase(file, { preprocess: 'torch' });
  const first = await extractFeatures({ base: torch, data, out });
  assert.equal(first.cacheHit, false);
  assert.deepEqual(first.splits[0].featureShape, [2]);
  assert.equal(
    (await extractFeatures({ base: loadOnnxFeatureBase(file, { preprocess: parsePreprocess('torch') }), data, out })).cacheHit,
    true,
  );
  assert.equal((await extractFeatures({ base: loadOnnxFeatureBase(file, { preprocess: 'caffe' }), data, out })).cacheHit, false);
  const cut = loadOnnxFeatureBase(file, { preprocess: 'caffe', upTo: 'relu_out' });
  const cutRun = await extractFeatures({ base: cut, data, out });
  assert.equal(cutRun.cacheHit, false);
  assert.deepEqual(cutRun.splits[0].featureShape, [8, 8, 2], 'NCHW maps cached channels-last');
  writeHandBuiltNchw(file, {
    conv: {
      w: [
        [1, 0, 0],
        [0, 0, 1],
      ],
      b: [0, 0],
    },
  });
  assert.equal(
    (await extractFeatures({ base: loadOnnxFeatureBase(file, { preprocess: 'caffe', upTo: 'relu_out' }), data, out })).cacheHit,
    false,
    'another file at the same path',
  );

  const k = featureKeyParts(cut);
  assert.equal(k.cutLayer, 'relu_out');
  assert.match(k.preprocessing, /^onnx NCHW pixel_values: caffe$/);
  assert.notEqual(featureKeyParts(torch).preprocessing, k.preprocessing);
  assert.throws(() => featureKeyParts(cut, 'conv1'), /cut when it is loaded/);
  assert.equal(PREPROCESS_PRESETS.caffe.channelOrder, 'bgr');
});
