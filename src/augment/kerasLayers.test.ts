// Keras 3's own tests for RandomFlip, RandomRotation and RandomZoom
// (keras/src/layers/preprocessing/image_preprocessing/random_{flip,rotation,zoom}_test.py),
// case by case, with their inputs and expected values. Where Keras patches its random
// generator, these tests hand the layer a generator that returns a fixed draw.
// Cases that cannot apply to tlkit are listed in docs/keras-differences.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { RandomFlip, RandomRotation, RandomZoom, type FlipMode } from './index.js';
import * as flip from './randomFlip.js';
import * as rotation from './randomRotation.js';
import * as zoom from './randomZoom.js';
import { Rng } from '../io/rng.js';
import type { Factor } from './transform.js';

await tf.setBackend('cpu');

/** A generator whose every draw is `value` (Keras's tests patch random.uniform to 0.1). */
class FixedDraw extends Rng {
  constructor(private readonly value: number) {
    super(0);
  }
  override next(): number {
    return this.value;
  }
}
function withDraw<T extends tfl.layers.Layer>(layer: T, value: number): T {
  Object.defineProperty(layer, 'rng', { value: new FixedDraw(value) });
  return layer;
}

const arr = (t: tf.Tensor | tf.Tensor[] | tfl.SymbolicTensor | tfl.SymbolicTensor[]) => (t as tf.Tensor).arraySync();
const close = (got: tf.Tensor, expected: number[] | number[][] | number[][][] | number[][][][], atol = 1e-5) => {
  const want = tf.tensor(expected as number[]);
  assert.deepEqual(got.shape, want.shape);
  const g = got.dataSync();
  const w = want.dataSync();
  for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i] - w[i]) <= atol, `element ${i}: got ${g[i]}, expected ${w[i]}`);
};
/** np.arange(25) as a (5, 5, 1) image, with or without the batch axis. */
const ramp5 = (batched: boolean) =>
  tf.tensor(
    Array.from({ length: 25 }, (_, i) => i),
    batched ? [1, 5, 5, 1] : [5, 5, 1],
  );

/** A functional model holding just `layer`, on inputs of `shape` (no batch axis). */
function inModel(layer: tfl.layers.Layer, shape: number[]): tfl.LayersModel {
  const input = tfl.input({ shape });
  return tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
}

/** What Keras's run_layer_test checks on shapes: the layer keeps the input shape, called directly (training), at inference, and inside a model. */
function checkKeepsShape(make: () => tfl.layers.Layer, shape: number[]): void {
  const x = tf.randomUniform(shape, 0, 255);
  assert.deepEqual((make().apply(x) as tf.Tensor).shape, shape, 'direct call');
  assert.deepEqual((make().apply(x, { training: true }) as tf.Tensor).shape, shape, 'training');
  assert.deepEqual((make().apply(x, { training: false }) as tf.Tensor).shape, shape, 'inference');
  const batched = tf.randomUniform([2, ...shape], 0, 255);
  assert.deepEqual((inModel(make(), shape).predict(batched) as tf.Tensor).shape, [2, ...shape], 'in a model');
}

// ---- random_flip_test.py ----

for (const mode of ['horizontal', 'vertical', 'horizontal_and_vertical'] as FlipMode[]) {
  test(`keras random_flip test_random_flip (${mode}): an unbatched (2, 3, 4) input keeps its shape`, () => {
    checkKeepsShape(() => new RandomFlip({ mode, seed: 1 }), [2, 3, 4]);
  });
}

test('keras random_flip test_random_flip_horizontal: 3-D (1, 2, 3) and 4-D (2, 1, 2, 3) inputs, draw 0.1 flips left-right', () => {
  const single = withDraw(new RandomFlip({ mode: 'horizontal', seed: 42 }), 0.1);
  assert.deepEqual(
    arr(
      single.apply(
        tf.tensor([
          [
            [2, 3, 4],
            [5, 6, 7],
          ],
        ]),
      ),
    ),
    [
      [
        [5, 6, 7],
        [2, 3, 4],
      ],
    ],
  );
  const batch = withDraw(new RandomFlip({ mode: 'horizontal', seed: 42 }), 0.1);
  const img = [
    [
      [2, 3, 4],
      [5, 6, 7],
    ],
  ];
  assert.deepEqual(arr(batch.apply(tf.tensor([img, img]))), [
    [
      [
        [5, 6, 7],
        [2, 3, 4],
      ],
    ],
    [
      [
        [5, 6, 7],
        [2, 3, 4],
      ],
    ],
  ]);
});

test('keras random_flip test_random_flip_vertical: 3-D (2, 1, 3) and 4-D (2, 2, 1, 3) inputs, draw 0.1 flips top-bottom', () => {
  const single = withDraw(new RandomFlip({ mode: 'vertical', seed: 42 }), 0.1);
  assert.deepEqual(arr(single.apply(tf.tensor([[[2, 3, 4]], [[5, 6, 7]]]))), [[[5, 6, 7]], [[2, 3, 4]]]);
  const batch = withDraw(new RandomFlip({ mode: 'vertical', seed: 42 }), 0.1);
  const img = [[[2, 3, 4]], [[5, 6, 7]]];
  assert.deepEqual(arr(batch.apply(tf.tensor([img, img]))), [
    [[[5, 6, 7]], [[2, 3, 4]]],
    [[[5, 6, 7]], [[2, 3, 4]]],
  ]);
});

test('keras random_flip test_tf_data_compatibility: the layer mapped over a dataset of unbatched and batched elements', () => {
  // tf.data .batch(2).map(layer) hands the layer a (2, 1, 3) image, then a (2, 2, 1, 3) batch.
  const layer = withDraw(new RandomFlip({ mode: 'vertical', seed: 42 }), 0.1);
  const elements = [
    tf.tensor([[[2, 3, 4]], [[5, 6, 7]]]),
    tf.tensor([
      [[[2, 3, 4]], [[5, 6, 7]]],
      [[[2, 3, 4]], [[5, 6, 7]]],
    ]),
  ];
  const [a, b] = elements.map((e) => arr(layer.apply(e)));
  assert.deepEqual(a, [[[5, 6, 7]], [[2, 3, 4]]]);
  assert.deepEqual(b, [
    [[[5, 6, 7]], [[2, 3, 4]]],
    [[[5, 6, 7]], [[2, 3, 4]]],
  ]);
});

test('keras RandomFlip("horizontal_and_vertical") draws once per image: each image is unchanged or turned 180 degrees', () => {
  const x = tf.tensor(
    Array.from({ length: 64 * 3 * 4 }, (_, i) => i),
    [64, 3, 4, 1],
  );
  const out = (
    new RandomFlip({ mode: 'horizontal_and_vertical', seed: 7 }).apply(x, { training: true }) as tf.Tensor
  ).arraySync() as number[][][][];
  const src = x.arraySync() as number[][][][];
  const turned = tf.reverse(x, [1, 2]).arraySync() as number[][][][];
  let kept = 0;
  let rotated = 0;
  out.forEach((img, i) => {
    if (JSON.stringify(img) === JSON.stringify(src[i])) kept++;
    else if (JSON.stringify(img) === JSON.stringify(turned[i])) rotated++;
    else assert.fail(`image ${i} was flipped along one axis only`);
  });
  assert.ok(kept > 10 && rotated > 10, `kept ${kept}, rotated ${rotated}`);
  const t = flip.sampleTransform(new Rng(3), 1000, 'horizontal_and_vertical');
  assert.deepEqual(t.horizontal, t.vertical);
});

// ---- random_rotation_test.py ----

for (const factor of [-0.4, -0.2, 0.4, 0.2, [-0.2, 0.4]] as Factor[]) {
  test(`keras random_rotation test_random_rotation_shapes (factor ${JSON.stringify(factor)}): unbatched (2, 3, 4) keeps its shape`, () => {
    checkKeepsShape(() => new RandomRotation({ factor, seed: 1 }), [2, 3, 4]);
  });
}

const TURNED_180 = [
  [24, 23, 22, 21, 20],
  [19, 18, 17, 16, 15],
  [14, 13, 12, 11, 10],
  [9, 8, 7, 6, 5],
  [4, 3, 2, 1, 0],
];

test('keras random_rotation test_random_rotation_correctness: factor (0.5, 0.5) called directly turns the 5x5 ramp 180 degrees', () => {
  const out = new RandomRotation({ factor: [0.5, 0.5] }).apply(ramp5(true)) as tf.Tensor;
  close(out, [TURNED_180.map((r) => r.map((v) => [v]))]);
});

test('keras random_rotation test_training_false: training false returns the input', () => {
  const x = ramp5(true);
  assert.deepEqual(arr(new RandomRotation({ factor: [0.5, 0.5] }).apply(x, { training: false })), x.arraySync());
});

test('keras random_rotation test_tf_data_compatibility: mapped over unbatched (5, 5, 1) elements', () => {
  const out = new RandomRotation({ factor: [0.5, 0.5] }).apply(ramp5(false)) as tf.Tensor;
  close(
    out,
    TURNED_180.map((r) => r.map((v) => [v])),
  );
});

test('keras RandomRotation factors: a reversed pair is sorted, values outside [-1, 1] are rejected', () => {
  const r = new RandomRotation({ factor: [0.4, -0.2], seed: 1 });
  assert.deepEqual(r.factor, [0.4, -0.2], 'the config keeps what was given, as Keras does');
  const { angles } = rotation.sampleTransform(new Rng(1), 2000, [0.4, -0.2]);
  assert.ok(Math.min(...angles) >= -0.2 * 2 * Math.PI && Math.max(...angles) <= 0.4 * 2 * Math.PI);
  assert.ok(Math.min(...angles) < -0.15 * 2 * Math.PI && Math.max(...angles) > 0.35 * 2 * Math.PI, 'the whole sorted range is drawn');
  assert.deepEqual((r.apply(tf.zeros([1, 3, 3, 1])) as tf.Tensor).shape, [1, 3, 3, 1]);
  for (const bad of [1.5, -1.5, [1.5, 2], [-0.5, -1.5], [2, -2], [0.2]] as Factor[]) {
    assert.throws(
      () => new RandomRotation({ factor: bad }),
      /RandomRotation factor must be a number or a pair \[lower, upper\] with every value in \[-1, 1\]/,
      JSON.stringify(bad),
    );
  }
  // Keras's pair rule rejects only a first value above 1 or a second below -1 (as given), so these pass there and here.
  for (const ok of [1, -1, [-1, 1], [-2, 0.5], [0.5, 2]] as Factor[])
    assert.doesNotThrow(() => new RandomRotation({ factor: ok }), JSON.stringify(ok));
});

// ---- random_zoom_test.py ----

const ZOOM_SHAPE_CASES: Array<[string, Factor, Factor]> = [
  ['random_zoom_in_4_by_6', -0.4, -0.6],
  ['random_zoom_in_2_by_3', -0.2, -0.3],
  ['random_zoom_in_tuple_factor', [-0.4, -0.5], [-0.2, -0.3]],
  ['random_zoom_out_4_by_6', 0.4, 0.6],
  ['random_zoom_out_2_by_3', 0.2, 0.3],
  ['random_zoom_out_tuple_factor', [0.4, 0.5], [0.2, 0.3]],
];
for (const [name, heightFactor, widthFactor] of ZOOM_SHAPE_CASES) {
  test(`keras random_zoom test_random_zoom (${name}): accepted, unbatched (2, 3, 4) keeps its shape`, () => {
    checkKeepsShape(() => new RandomZoom({ heightFactor, widthFactor, seed: 1 }), [2, 3, 4]);
  });
}

test('keras random_zoom test_random_zoom_out_correctness: height 0.5, width 0.8, bilinear, constant fill', () => {
  const layer = new RandomZoom({ heightFactor: [0.5, 0.5], widthFactor: [0.8, 0.8], interpolation: 'bilinear', fillMode: 'constant' });
  const expected = [
    [0, 0, 0, 0, 0],
    [0, 2.7, 4.5, 6.3, 0],
    [0, 10.2, 12.0, 13.8, 0],
    [0, 17.7, 19.5, 21.3, 0],
    [0, 0, 0, 0, 0],
  ];
  close(layer.apply(ramp5(true)) as tf.Tensor, [expected.map((r) => r.map((v) => [v]))], 1e-4);
});

test('keras random_zoom test_random_zoom_in_correctness: -0.5 on both axes, bilinear, constant fill', () => {
  const layer = new RandomZoom({ heightFactor: [-0.5, -0.5], widthFactor: [-0.5, -0.5], interpolation: 'bilinear', fillMode: 'constant' });
  const expected = [
    [6.0, 6.5, 7.0, 7.5, 8.0],
    [8.5, 9.0, 9.5, 10.0, 10.5],
    [11.0, 11.5, 12.0, 12.5, 13.0],
    [13.5, 14.0, 14.5, 15.0, 15.5],
    [16.0, 16.5, 17.0, 17.5, 18.0],
  ];
  close(layer.apply(ramp5(true)) as tf.Tensor, [expected.map((r) => r.map((v) => [v]))], 1e-4);
});

test('keras random_zoom test_tf_data_compatibility: nearest interpolation, constant fill, batches of one', () => {
  const layer = new RandomZoom({ heightFactor: [0.5, 0.5], widthFactor: [0.8, 0.8], interpolation: 'nearest', fillMode: 'constant' });
  const expected = [
    [0, 0, 0, 0, 0],
    [0, 5, 7, 9, 0],
    [0, 10, 12, 14, 0],
    [0, 20, 22, 24, 0],
    [0, 0, 0, 0, 0],
  ];
  close(layer.apply(ramp5(true)) as tf.Tensor, [expected.map((r) => r.map((v) => [v]))]);
  close(
    layer.apply(ramp5(false)) as tf.Tensor,
    expected.map((r) => r.map((v) => [v])),
  );
});

test('keras random_zoom test_dynamic_shape: a model on (None, None, 3) inputs predicts a 6x6 image', () => {
  const input = tfl.input({ shape: [null, null, 3] as unknown as number[] });
  const out = new RandomZoom({ heightFactor: [0.5, 0.5], widthFactor: [0.8, 0.8], interpolation: 'nearest', fillMode: 'constant' }).apply(
    input,
  ) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const x = tf.randomUniform([1, 6, 6, 3]);
  const y = model.predict(x) as tf.Tensor;
  assert.deepEqual(y.shape, [1, 6, 6, 3]);
  assert.deepEqual(Array.from(y.dataSync()), Array.from(x.dataSync()), 'predict does not zoom');
});

test('keras random_zoom test_connect_with_flatten: RandomZoom -> Flatten -> Dense trains with fit', async () => {
  const model = tfl.sequential({
    layers: [
      new RandomZoom({ heightFactor: [-0.5, 0], widthFactor: [-0.5, 0], inputShape: [2, 2, 1] }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 1, activation: 'relu' }),
    ],
  });
  model.compile({ optimizer: 'rmsprop', loss: 'meanSquaredError' });
  const h = await model.fit(tf.randomUniform([2, 2, 2, 1]), tf.randomUniform([2]), { epochs: 1, verbose: 0 });
  assert.equal(h.history.loss.length, 1);
  assert.ok(Number.isFinite(h.history.loss[0] as number));
});

test('keras RandomZoom factors: reversed pairs sorted, values outside (-1, 1] rejected', () => {
  const z = new RandomZoom({ heightFactor: [-0.4, -0.5], seed: 2 });
  assert.deepEqual((z.apply(tf.ones([1, 4, 4, 1])) as tf.Tensor).shape, [1, 4, 4, 1]);
  const { heightZoom } = zoom.sampleTransform(new Rng(1), 2000, [-0.4, -0.5]);
  assert.ok(Math.min(...heightZoom) >= 0.5 - 1e-6 && Math.max(...heightZoom) <= 0.6 + 1e-6, 'zoom in 1 + U(-0.5, -0.4)');
  for (const bad of [-1, 1.5, [-1, 0], [0, 2]] as Factor[]) {
    assert.throws(
      () => new RandomZoom({ heightFactor: bad }),
      /RandomZoom heightFactor must be a number or a pair \[lower, upper\] with every value in \(-1, 1\]/,
      JSON.stringify(bad),
    );
    assert.throws(() => new RandomZoom({ heightFactor: 0.1, widthFactor: bad }), /RandomZoom widthFactor/);
  }
  assert.doesNotThrow(() => new RandomZoom({ heightFactor: 1 }));
});

// ---- Keras 3's call(inputs, training=True) default ----

test('called directly without training, the three layers augment (the book\'s "nine augmented versions" cell); predict does not', () => {
  const x = tf.tensor(
    Array.from({ length: 9 * 8 * 8 * 3 }, (_, i) => i % 251),
    [9, 8, 8, 3],
  );
  for (const layer of [
    new RandomFlip({ mode: 'horizontal', seed: 1 }),
    new RandomRotation({ factor: 0.1, seed: 2 }),
    new RandomZoom({ heightFactor: 0.2, seed: 3 }),
  ]) {
    const out = layer.apply(x) as tf.Tensor;
    assert.notDeepEqual(Array.from(out.dataSync()), Array.from(x.dataSync()), `${layer.getClassName()} called directly`);
    assert.deepEqual(Array.from((layer.apply(x, { training: false }) as tf.Tensor).dataSync()), Array.from(x.dataSync()));
    assert.deepEqual(
      Array.from((inModel(layer, [8, 8, 3]).predict(x) as tf.Tensor).dataSync()),
      Array.from(x.dataSync()),
      `${layer.getClassName()} in predict`,
    );
  }
});

test("the book's data_augmentation Sequential called directly on images augments; its predict and evaluate do not; fit does", async () => {
  const x = tf.tensor(
    Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => i % 251),
    [4, 8, 8, 3],
  );
  const dataAugmentation = tfl.sequential({
    layers: [
      new RandomFlip({ mode: 'horizontal', seed: 1, inputShape: [8, 8, 3] }),
      new RandomRotation({ factor: 0.1, seed: 2 }),
      new RandomZoom({ heightFactor: 0.2, seed: 3 }),
    ],
  });
  const copies = Array.from({ length: 9 }, () => Array.from((dataAugmentation.apply(x) as tf.Tensor).dataSync()).join());
  assert.equal(new Set(copies).size, 9, 'nine different augmented versions');
  assert.ok(!copies.includes(Array.from(x.dataSync()).join()));
  assert.deepEqual(Array.from((dataAugmentation.predict(x) as tf.Tensor).dataSync()), Array.from(x.dataSync()));
  const withHead = tfl.sequential({ layers: [dataAugmentation, tfl.layers.flatten(), tfl.layers.dense({ units: 1 })] });
  withHead.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const y = tf.zeros([4, 1]);
  const e1 = (withHead.evaluate(x, y) as tf.Scalar).dataSync()[0];
  const e2 = (withHead.evaluate(x, y) as tf.Scalar).dataSync()[0];
  assert.equal(e1, e2, 'evaluate sees the same, unaugmented images each time');
  const h = await withHead.fit(x, y, { epochs: 1, verbose: 0 });
  assert.ok(Number.isFinite(h.history.loss[0] as number));
});
