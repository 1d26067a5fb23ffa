import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../tfjs/backend.js';
import { FAMILIES, type FamilyName } from '../applications/index.js';
import { loadBase } from '../applications/loadBase.js';
import { randomizeWeights } from '../testing/testModels.js';
import { h5 } from './h5wasmLoader.js';
import { readKerasH5, loadKerasH5Weights, writeKerasH5 } from './kerasH5.js';

await initBackend();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-h5-families-'));
const small = { includeTop: false, weights: 'none', inputShape: [32, 32, 3] as [number, number, number] };

/** What the Keras-layout file must hold for each family, as Keras's legacy save_weights writes it. */
const cases: Array<{ family: FamilyName; layer: string; weightNames: string[]; shapes: number[][] }> = [
  {
    family: 'resnet50',
    layer: 'conv2_block1_0_conv',
    weightNames: ['conv2_block1_0_conv/kernel:0', 'conv2_block1_0_conv/bias:0'],
    shapes: [[1, 1, 64, 256], [256]],
  },
  // Normalization's sample count is an int64 scalar in Keras files
  {
    family: 'efficientnet_b0',
    layer: 'normalization',
    weightNames: ['normalization/mean:0', 'normalization/variance:0', 'normalization/count:0'],
    shapes: [[3], [3], []],
  },
  // a nested Sequential keeps its inner layers' names; the grouped 7x7 conv has Keras's [7, 7, 1, C] kernel
  {
    family: 'convnext_tiny',
    layer: 'convnext_tiny_stem',
    weightNames: [
      'convnext_tiny_stem_conv/kernel:0',
      'convnext_tiny_stem_conv/bias:0',
      'convnext_tiny_stem_layernorm/gamma:0',
      'convnext_tiny_stem_layernorm/beta:0',
    ],
    shapes: [[4, 4, 3, 96], [96], [96], [96]],
  },
  {
    family: 'convnext_tiny',
    layer: 'convnext_tiny_stage_0_block_0_depthwise_conv',
    weightNames: ['convnext_tiny_stage_0_block_0_depthwise_conv/kernel:0', 'convnext_tiny_stage_0_block_0_depthwise_conv/bias:0'],
    shapes: [[7, 7, 1, 96], [96]],
  },
];

for (const family of ['resnet50', 'efficientnet_b0', 'convnext_tiny'] as const) {
  test(`${family}: Keras-layout .h5 round trip (random weights), identical outputs; loadBase recognises the file`, async () => {
    const file = path.join(dir, `${family}_notop.h5`);
    const a = FAMILIES[family].architecture(small);
    randomizeWeights(a, 23);
    await writeKerasH5(a, file);

    const h5w = await readKerasH5(file);
    assert.deepEqual(
      h5w.layerNames,
      a.layers.map((l) => l.name),
    );
    for (const c of cases.filter((k) => k.family === family)) {
      const stored = h5w.layers.get(c.layer)!;
      assert.deepEqual(
        stored.map((w) => w.name),
        c.weightNames,
        c.layer,
      );
      assert.deepEqual(
        stored.map((w) => w.shape),
        c.shapes,
        c.layer,
      );
    }

    const b = FAMILIES[family].architecture(small);
    await loadKerasH5Weights(b, file);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 255, 'float32', 4);
    const ya = (a.predict(x) as tf.Tensor).dataSync();
    const yb = (b.predict(x) as tf.Tensor).dataSync();
    assert.ok(ya.some((v) => v !== 0));
    assert.deepEqual(Array.from(yb), Array.from(ya));

    // the file as a base: its family is recognised from the layer names
    const base = await loadBase({ base: file, imageSize: 32 });
    assert.equal(base.family, family);
    assert.equal(base.preprocessing, FAMILIES[family].preprocessing);
    const yc = (base.model.predict(x) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(yc), Array.from(ya));
    for (const m of [a, b, base.model]) m.dispose();
    tf.dispose(x);
  });
}

test('int64 datasets (Keras Normalization count) are stored and read as Keras has them', async () => {
  const file = path.join(dir, 'efficientnet_b0_notop.h5');
  if (!fs.existsSync(file)) await writeKerasH5(FAMILIES.efficientnet_b0.architecture(small), file);
  const lib = await h5();
  const f = new lib.File(file, 'r');
  try {
    const ds = f.get('normalization/normalization/count:0') as unknown as { dtype: string; shape: number[] };
    assert.equal(ds.dtype, '<q');
    assert.deepEqual(ds.shape, []);
  } finally {
    f.close();
  }
  const stored = (await readKerasH5(file)).layers.get('normalization')!;
  assert.equal(stored[2].data.length, 1);
});
