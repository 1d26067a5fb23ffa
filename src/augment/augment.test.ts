import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../io/rng.js';
import * as flip from './randomFlip.js';
import * as rotation from './randomRotation.js';
import * as zoom from './randomZoom.js';
import { RandomFlip, RandomRotation, RandomZoom } from './index.js';
import { assertWorstError } from '../testing/numerics.js';
import { projectiveTransform, type FillMode } from './transform.js';

await tf.setBackend('cpu');

/** An n x h x w x c image batch whose values are all distinct. */
function distinct(n: number, h: number, w: number, c: number): tf.Tensor4D {
  return tf.tensor4d(
    Float32Array.from({ length: n * h * w * c }, (_, i) => i),
    [n, h, w, c],
  );
}

const values = (t: tf.Tensor) => Array.from(t.dataSync());

test('rotating by exactly +90 degrees is a counter-clockwise pixel rotation; -90 clockwise; 180 flips both axes', () => {
  const x = distinct(2, 5, 5, 3);
  const ccw = rotation.applyTransform(x, { angles: new Float32Array([Math.PI / 2, -Math.PI / 2]) });
  const expectedCcw = tf.reverse(tf.transpose(tf.slice(x, [0, 0, 0, 0], [1, 5, 5, 3]), [0, 2, 1, 3]), 1); // np.rot90
  const expectedCw = tf.reverse(tf.transpose(tf.slice(x, [1, 0, 0, 0], [1, 5, 5, 3]), [0, 2, 1, 3]), 2);
  const got = ccw.arraySync();
  assert.deepEqual(roundAll(got[0]), roundAll(expectedCcw.arraySync()[0]));
  assert.deepEqual(roundAll(got[1]), roundAll(expectedCw.arraySync()[0]));
  // The top-right corner moves to the top-left under a counter-clockwise turn.
  assert.deepEqual(roundAll(got[0][0][0]), x.arraySync()[0][0][4]);
  const half = rotation.applyTransform(x, { angles: new Float32Array([Math.PI, Math.PI]) });
  assert.deepEqual(roundAll(half.arraySync()), roundAll(tf.reverse(x, [1, 2]).arraySync()));
});

test('zoom factor 0 (and rotation 0) is the identity', () => {
  const x = distinct(3, 7, 6, 3);
  const z = zoom.sampleTransform(new Rng(1), 3, 0);
  assert.deepEqual(Array.from(z.heightZoom), [1, 1, 1]);
  assert.deepEqual(values(zoom.applyTransform(x, z)), values(x));
  const layer = new RandomZoom({ heightFactor: 0, widthFactor: 0 });
  assert.deepEqual(values(layer.apply(x, { training: true }) as tf.Tensor), values(x));
  assert.deepEqual(values(rotation.applyTransform(x, { angles: new Float32Array(3) })), values(x));
});

/** Reflection about the outer pixel edges, written independently: period 2*len, mirror at -0.5 and len-0.5. */
function reflectRef(v: number, len: number): number {
  let u = (((v + 0.5) % (2 * len)) + 2 * len) % (2 * len);
  if (u > len) u = 2 * len - u;
  return Math.min(len - 1, Math.max(0, u - 0.5));
}

test('reflect fill, pixel by pixel, on a horizontal ramp zoomed out 3x', () => {
  // Pixel value = its column, so bilinear sampling returns the (mapped) source column itself.
  const w = 6;
  const h = 2;
  const ramp = tf.tensor4d(
    Float32Array.from({ length: h * w }, (_, i) => i % w),
    [1, h, w, 1],
  );
  const out = zoom.applyTransform(ramp, { heightZoom: new Float32Array([1]), widthZoom: new Float32Array([3]) });
  const got = values(out);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const source = 3 * x + ((w - 1) / 2) * (1 - 3); // Keras zoom matrix
      assert.ok(
        Math.abs(got[y * w + x] - reflectRef(source, w)) < 1e-5,
        `x=${x}: got ${got[y * w + x]}, expected ${reflectRef(source, w)}`,
      );
    }
  }
  // Spelled out: sources -5, -2, 1, 4, 7, 10 -> reflected 4, 1, 1, 4, 4, 1.
  assert.deepEqual(
    got.slice(0, w).map((v) => Math.round(v * 1000) / 1000),
    [4, 1, 1, 4, 4, 1],
  );
});

test('constant, nearest and wrap fills on the same ramp', () => {
  const ramp = [10, 11, 12, 13];
  const shift = (mode: FillMode) =>
    Array.from(
      projectiveTransform(ramp, [1, 1, 4, 1], [1, 0, -2, 0, 1, 0, 0, 0], { fillMode: mode, fillValue: -1, interpolation: 'nearest' }),
    );
  assert.deepEqual(shift('constant'), [-1, -1, 10, 11]);
  assert.deepEqual(shift('nearest'), [10, 10, 10, 11]);
  assert.deepEqual(shift('reflect'), [11, 10, 10, 11]);
  assert.deepEqual(shift('wrap'), [12, 13, 10, 11]);
});

test('projective transform equals tfjs tf.image.transform (cpu kernel, TF semantics) for every fill mode and interpolation', () => {
  const rng = new Rng(5);
  const x = tf.tensor4d(
    Float32Array.from({ length: 2 * 9 * 7 * 3 }, () => rng.uniform(0, 255)),
    [2, 9, 7, 3],
  );
  const m = Float32Array.from({ length: 16 }, (_, i) => [1.3, 0.4, -2.1, -0.5, 0.8, 3.2, 0.01, -0.02][i % 8] * (i < 8 ? 1 : -0.9));
  for (const fillMode of ['reflect', 'constant', 'nearest', 'wrap'] as const) {
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      const ours = projectiveTransform(x.dataSync(), [2, 9, 7, 3], m, { fillMode, interpolation, fillValue: 17 });
      // One image a call: tfjs 4.22's cpu kernel returns after the first image of a batch.
      const ref = [0, 1].flatMap((b) =>
        Array.from(
          tf.image
            .transform(
              tf.slice(x, [b, 0, 0, 0], [1, 9, 7, 3]),
              tf.tensor2d(m.subarray(b * 8, b * 8 + 8), [1, 8]),
              interpolation,
              fillMode,
              17,
            )
            .dataSync(),
        ),
      );
      assertWorstError([{ name: `${fillMode}/${interpolation}`, actual: ours, expected: ref }], 1e-3, 'absolute');
    }
  }
});

/** Kolmogorov-Smirnov distance between samples and U(lo, hi). */
function ksUniform(samples: ArrayLike<number>, lo: number, hi: number): number {
  const s = Array.from(samples).sort((a, b) => a - b);
  let d = 0;
  s.forEach((v, i) => {
    const cdf = (v - lo) / (hi - lo);
    d = Math.max(d, Math.abs(cdf - i / s.length), Math.abs(cdf - (i + 1) / s.length));
  });
  return d;
}

test('sampled angles follow U(-f, f) x 2 pi, zooms 1 + U(-h, h), flips probability 1/2', () => {
  const n = 20000;
  const critical = 1.63 / Math.sqrt(n); // KS at the 1% level
  const { angles } = rotation.sampleTransform(new Rng(11), n, 0.1);
  const bound = 0.1 * 2 * Math.PI;
  assert.ok(Math.min(...angles) >= -bound && Math.max(...angles) <= bound);
  assert.ok(ksUniform(angles, -bound, bound) < critical, `KS ${ksUniform(angles, -bound, bound)}`);
  const asym = rotation.sampleTransform(new Rng(12), n, [-0.05, 0.2]).angles;
  assert.ok(ksUniform(asym, -0.05 * 2 * Math.PI, 0.2 * 2 * Math.PI) < critical);

  const z = zoom.sampleTransform(new Rng(13), n, 0.2);
  assert.ok(ksUniform(z.heightZoom, 0.8, 1.2) < critical);
  assert.deepEqual(Array.from(z.widthZoom), Array.from(z.heightZoom), 'no widthFactor: same zoom on both axes');
  const zw = zoom.sampleTransform(new Rng(14), n, 0.2, [0, 0.5]);
  assert.ok(ksUniform(zw.widthZoom, 1, 1.5) < critical);
  assert.notDeepEqual(Array.from(zw.widthZoom), Array.from(zw.heightZoom));

  const f = flip.sampleTransform(new Rng(15), n, 'horizontal');
  const p = f.horizontal.filter(Boolean).length / n;
  assert.ok(Math.abs(p - 0.5) < 0.015, `flip rate ${p}`);
  assert.ok(
    f.vertical.every((v) => !v),
    "'horizontal' never flips vertically",
  );
});

test('flip applies exactly a left-right / top-bottom reversal to the chosen images', () => {
  const x = distinct(3, 2, 3, 1);
  const out = flip.applyTransform(x, { horizontal: [true, false, true], vertical: [false, false, true] }).arraySync();
  const src = x.arraySync();
  assert.deepEqual(
    out[0],
    src[0].map((row) => [...row].reverse()),
  );
  assert.deepEqual(out[1], src[1]);
  assert.deepEqual(
    out[2],
    [...src[2]].reverse().map((row) => [...row].reverse()),
  );
});

test('layers: identity with training false, seeded layers repeat, serializable and loadable', async () => {
  const x = distinct(4, 8, 8, 3);
  const make = () => [
    new RandomFlip({ mode: 'horizontal', seed: 1 }),
    new RandomRotation({ factor: 0.1, seed: 2 }),
    new RandomZoom({ heightFactor: 0.2, seed: 3, fillMode: 'nearest' }),
  ];
  for (const layer of make()) {
    assert.deepEqual(values(layer.apply(x, { training: false }) as tf.Tensor), values(x), `${layer.getClassName()} at inference`);
  }
  const [a, b] = [make(), make()];
  for (let i = 0; i < 3; i++) {
    const ya = values(a[i].apply(x, { training: true }) as tf.Tensor);
    const yb = values(b[i].apply(x, { training: true }) as tf.Tensor);
    assert.deepEqual(ya, yb, `${a[i].getClassName()}: same seed, same output`);
    assert.notDeepEqual(ya, values(x), `${a[i].getClassName()} changes images while training`);
  }

  const model = tfl.sequential({
    layers: make().map((l, i) => (i === 0 ? new RandomFlip({ mode: 'horizontal', seed: 1, inputShape: [8, 8, 3] }) : l)),
  });
  model.add(tfl.layers.globalAveragePooling2d({}));
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (art) => {
      saved = art;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const json = JSON.stringify(saved!.modelTopology);
  assert.match(json, /"class_name":"RandomRotation"/);
  assert.match(json, /"factor":0.1/);
  assert.match(json, /"fill_mode":"nearest"/);
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
  assert.deepEqual(
    loaded.layers.map((l) => l.getClassName()),
    ['RandomFlip', 'RandomRotation', 'RandomZoom', 'GlobalAveragePooling2D'],
  );
  assert.deepEqual(loaded.layers[2].getConfig(), model.layers[2].getConfig());
  assert.deepEqual(values(loaded.predict(x) as tf.Tensor), values(model.predict(x) as tf.Tensor));
});

/** Records what reaches it, to see what fit() and predict() feed past the augmentation. */
class Probe extends tfl.layers.Layer {
  static className = 'Probe';
  seen: number[][] = [];
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const t = Array.isArray(inputs) ? inputs[0] : inputs;
    this.seen.push(Array.from(t.dataSync()));
    return tf.clone(t);
  }
}

test('fit() augments (training: true), predict() and evaluate() do not', async () => {
  const x = distinct(4, 8, 8, 3);
  const probe = new Probe({});
  const model = tfl.sequential({
    layers: [
      new RandomFlip({ mode: 'horizontal_and_vertical', seed: 3, inputShape: [8, 8, 3] }),
      new RandomRotation({ factor: 0.2, seed: 4 }),
      new RandomZoom({ heightFactor: 0.3, seed: 5 }),
      probe,
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
  });
  model.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy' });
  const y = tf.tensor2d([0, 1, 0, 1], [4, 1]);
  model.predict(x);
  assert.deepEqual(probe.seen.at(-1), values(x));
  await model.fit(x, y, { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
  assert.notDeepEqual(probe.seen.at(-1), values(x));
  model.evaluate(x, y);
  assert.deepEqual(probe.seen.at(-1), values(x));
});

function roundAll(a: unknown): unknown {
  return Array.isArray(a) ? a.map(roundAll) : Math.round((a as number) * 1000) / 1000;
}
