import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { GroupedConv2D, LayerScale, Normalization, StochasticDepth } from './index.js';
import { randomizeWeights } from '../testing/testModels.js';

await initBackend();

const sym = (l: tfl.layers.Layer, x: tfl.SymbolicTensor) => l.apply(x) as tfl.SymbolicTensor;

async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  // the topology is the Keras JSON a browser would load
  const json = JSON.stringify(saved!.modelTopology);
  for (const cls of ['GroupedConv2D', 'LayerScale', 'Normalization', 'StochasticDepth'])
    assert.ok(json.includes(`"class_name":"${cls}"`), cls);
  return tfl.loadLayersModel(tf.io.fromMemory(saved!));
}

test('a model with every custom layer saves in the tfjs format and loads again with the same outputs', async () => {
  const x = tfl.input({ shape: [9, 9, 4] });
  let y = sym(new Normalization({ mean: [1, 2, 3, 4], variance: [1, 4, 9, 16], name: 'fixed' }), x);
  y = sym(new Normalization({ axis: 3, name: 'stats' }), y);
  y = sym(new GroupedConv2D({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', groups: 4, name: 'grouped' }), y);
  y = sym(new LayerScale({ initValues: 0.5, projectionDim: 8, name: 'scale' }), y);
  y = sym(new StochasticDepth({ dropPathRate: 0.25, name: 'drop' }), y);
  const m = tfl.model({ inputs: x, outputs: y });
  randomizeWeights(m, 4);
  assert.equal(m.countParams(), 4 + 4 + 1 + (3 * 3 * 1 * 8 + 8) + 8);
  const loaded = await roundTrip(m);
  const input = tf.randomUniform([2, 9, 9, 4], -5, 5, 'float32', 2);
  assert.deepEqual(Array.from((loaded.predict(input) as tf.Tensor).dataSync()), Array.from((m.predict(input) as tf.Tensor).dataSync()));
  const keys = ['filters', 'kernelSize', 'strides', 'padding', 'groups', 'useBias'];
  const pick = (c: Record<string, unknown>) => Object.fromEntries(keys.map((k) => [k, c[k]]));
  assert.deepEqual(pick(loaded.getLayer('grouped').getConfig()), pick(m.getLayer('grouped').getConfig()));
  assert.deepEqual(pick(loaded.getLayer('grouped').getConfig()), {
    filters: 8,
    kernelSize: [3, 3],
    strides: [2, 2],
    padding: 'same',
    groups: 4,
    useBias: true,
  });
  assert.deepEqual(
    loaded
      .getLayer('stats')
      .getWeights()
      .map((w) => w.shape),
    [[4], [4], []],
  );
});

test('GroupedConv2D is Keras grouped convolution: output channel g*m+q convolves input channel g with kernel[..., 0, g*m+q]', () => {
  const x = tf.randomUniform([1, 6, 7, 3], -1, 1, 'float32', 8);
  const layer = new GroupedConv2D({ filters: 6, kernelSize: 3, padding: 'valid', groups: 3 });
  const y = layer.apply(x) as tf.Tensor;
  const [kernel, bias] = layer.getWeights();
  assert.deepEqual(kernel.shape, [3, 3, 1, 6]);
  const kd = kernel.arraySync() as number[][][][];
  const bd = bias.dataSync();
  const want: tf.Tensor[] = [];
  for (let o = 0; o < 6; o++) {
    const g = Math.floor(o / 2);
    const k = tf.tensor4d(kd.map((r) => r.map((c) => [[c[0][o]]])).flat(3), [3, 3, 1, 1]);
    const xs = tf.slice(x, [0, 0, 0, g], [1, 6, 7, 1]) as tf.Tensor4D;
    want.push(tf.add(tf.conv2d(xs, k, 1, 'valid'), bd[o]));
  }
  const expected = tf.concat(want, 3);
  const diff = tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0];
  assert.ok(diff < 1e-5, `max diff ${diff}`);
  assert.throws(
    () => new GroupedConv2D({ filters: 4, kernelSize: 3, groups: 2 }).apply(tfl.input({ shape: [5, 5, 4] })),
    /one input channel per group/,
  );
});

test('Normalization computes (x - mean) / max(sqrt(var), 1e-7) as Keras; StochasticDepth is the identity at inference', () => {
  const n = new Normalization({ mean: [1, -2, 0], variance: [4, 0, 9] });
  const y = (n.apply(tf.tensor2d([[3, 5, 3]])) as tf.Tensor).dataSync();
  assert.deepEqual(
    Array.from(y).map((v) => Number(v.toPrecision(6))),
    [1, 7e7, 1],
  );
  const s = new StochasticDepth({ dropPathRate: 0.5 });
  const x = tf.ones([64, 2, 2, 3]);
  assert.deepEqual(Array.from((s.apply(x) as tf.Tensor).dataSync()), Array.from(x.dataSync()));
  // training: whole samples kept (x 2) or dropped (0)
  const t = tf.reshape(s.apply(x, { training: true }) as tf.Tensor, [64, 12]).arraySync() as number[][];
  for (const sample of t) assert.ok(sample.every((v) => v === sample[0]) && (sample[0] === 0 || sample[0] === 2), String(sample));
  assert.ok(t.some((r) => r[0] === 0) && t.some((r) => r[0] === 2));
});
