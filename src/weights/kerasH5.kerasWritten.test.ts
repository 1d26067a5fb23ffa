import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { loadBase } from '../applications/loadBase.js';
import { h5 } from './h5wasmLoader.js';
import { loadKerasH5Weights, readKerasH5 } from './kerasH5.js';

// .h5 files written by Keras itself (not by tlkit's writer): see src/testing/fixtures/keras-h5/README.md.
await initBackend('cpu');
const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../testing/fixtures/keras-h5');
const CONV2D_1LAYER = path.join(fixtures, 'conv2d_1layer.h5');
const JET_TAGGER = path.join(fixtures, 'jetTagger_Conv2D_Small.h5');

// The kernel hls4ml's conv2d_1layer.py gives its Conv2D (random_kernel): KERNEL[row][column].
const KERNEL = [
  [0.87553641, -0.8359631, 0.20843763],
  [-0.49807304, 0.86302378, -0.07618628],
  [0.0654571, -0.28131722, 0.36197313],
];

test('a whole model Keras 2.13 saved (model.save): the weights under model_weights, the kernel its script set, rows and columns in place', async () => {
  const h5w = await readKerasH5(CONV2D_1LAYER);
  assert.deepEqual(h5w.layerNames, ['conv2d']);
  const [kernel, bias] = h5w.layers.get('conv2d')!;
  assert.deepEqual([kernel.name, bias.name], ['conv2d/kernel:0', 'conv2d/bias:0']);
  assert.deepEqual(kernel.shape, [3, 3, 1, 1], 'HWIO: height, width, in, out');
  assert.deepEqual(bias.shape, [1]);
  assert.deepEqual(Array.from(kernel.data), KERNEL.flat().map(Math.fround));
  assert.deepEqual(Array.from(bias.data), [0]);

  // Into the model the script builds, run on the script's image (1 to 25, row by row): Keras's
  // Conv2D is a cross-correlation, out[r][c] = sum over i, j of KERNEL[i][j] * image[r + i][c + j].
  const input = tfl.input({ shape: [5, 5, 1] });
  const conv = tfl.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'valid', name: 'conv2d' });
  const model = tfl.model({ inputs: input, outputs: conv.apply(input) as tfl.SymbolicTensor });
  await loadKerasH5Weights(model, CONV2D_1LAYER);
  const image = Array.from({ length: 25 }, (_, k) => k + 1);
  const y = tf.tidy(() => (model.predict(tf.tensor4d(image, [1, 5, 5, 1])) as tf.Tensor).dataSync());
  const expected: number[] = [];
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) s += KERNEL[i][j] * image[(r + i) * 5 + c + j];
      expected.push(s);
    }
  y.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) <= 1e-5, `output ${k}: ${v}, by hand ${expected[k]}`));
  model.dispose();

  // loadBase reads the model file's layer names too, and says it is none of its families.
  await assert.rejects(loadBase({ base: CONV2D_1LAYER }), /Cannot tell which architecture .*its layer names \(conv2d\)/);
});

test('weights Keras 2.0.6 saved: every layer in file order, weights in Keras order, each equal to its HDF5 dataset', async () => {
  const h5w = await readKerasH5(JET_TAGGER);
  assert.deepEqual(h5w.layerNames, [
    'input_1',
    'batch_normalization_1',
    'cnn2D_1_relu',
    'dropout_1',
    'batch_normalization_2',
    'cnn2D_2_relu',
    'dropout_2',
    'flatten_1',
    'dense_1_relu',
    'dropout_3',
    'output_softmax',
  ]);
  const bn = (l: string, n: number) => ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => [`${l}/${w}:0`, [n]]);
  const dense = (l: string, shape: number[]) => [
    [`${l}/kernel:0`, shape],
    [`${l}/bias:0`, [shape.at(-1)]],
  ];
  const expected: Record<string, unknown[]> = {
    input_1: [],
    batch_normalization_1: bn('batch_normalization_1', 1),
    cnn2D_1_relu: dense('cnn2D_1_relu', [3, 3, 1, 5]),
    dropout_1: [],
    batch_normalization_2: bn('batch_normalization_2', 5),
    cnn2D_2_relu: dense('cnn2D_2_relu', [5, 5, 5, 2]),
    dropout_2: [],
    flatten_1: [],
    dense_1_relu: dense('dense_1_relu', [50, 10]),
    dropout_3: [],
    output_softmax: dense('output_softmax', [10, 5]),
  };
  for (const [layer, weights] of h5w.layers) {
    assert.deepEqual(
      weights.map((w) => [w.name, w.shape]),
      expected[layer],
      layer,
    );
  }

  // Each weight against its dataset, read straight from the file at <layer>/<weight name>.
  const lib = await h5();
  const file = new lib.File(JET_TAGGER, 'r');
  try {
    for (const [layer, weights] of h5w.layers)
      for (const w of weights) {
        const ds = file.get(`${layer}/${w.name}`) as InstanceType<typeof lib.Dataset>;
        assert.deepEqual(ds.shape, w.shape, w.name);
        assert.deepEqual(Array.from(w.data), Array.from(ds.value as Float32Array), w.name);
      }
  } finally {
    file.close();
  }
  // A few values written out (HWIO: the second value of a kernel is its second output channel).
  const value = (layer: string, i: number, k: number) => h5w.layers.get(layer)![i].data.at(k);
  assert.equal(value('batch_normalization_1', 3, 0), Math.fround(728.785888671875), 'moving_variance');
  assert.equal(value('cnn2D_1_relu', 0, 1), Math.fround(0.2702329456806183));
  assert.equal(value('cnn2D_2_relu', 0, 0), Math.fround(-0.005293818190693855));
  assert.equal(value('cnn2D_2_relu', 0, 1), Math.fround(0.23127485811710358));
  assert.equal(value('cnn2D_2_relu', 0, -1), Math.fround(0.46576935052871704));
  assert.equal(value('dense_1_relu', 0, -1), Math.fround(0.19204530119895935));

  // The tfjs model of the same architecture takes them: every shape is the one tfjs expects.
  const input = tfl.input({ shape: [25, 25, 1] });
  let x = tfl.layers.batchNormalization({ name: 'batch_normalization_1' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ name: 'cnn2D_1_relu', filters: 5, kernelSize: 3, strides: 3, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'batch_normalization_2' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ name: 'cnn2D_2_relu', filters: 2, kernelSize: 5, strides: 2, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ name: 'dense_1_relu', units: 10 }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({
    inputs: input,
    outputs: tfl.layers.dense({ name: 'output_softmax', units: 5 }).apply(x) as tfl.SymbolicTensor,
  });
  await loadKerasH5Weights(model, JET_TAGGER);
  const conv2 = model.getLayer('cnn2D_2_relu').getWeights()[0];
  assert.deepEqual(Array.from(conv2.dataSync()), Array.from(h5w.layers.get('cnn2D_2_relu')![0].data));
  model.dispose();
});
