import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUserError } from '../errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { BOOK_AUGMENTATION } from '../augment/params.js';
import * as randomFlip from '../augment/randomFlip.js';
import { initBackend } from '../tfjs/backend.js';
import { blendTta, makeViews, TTA_FALLBACK_AUGMENTATION, ttaPlan, ttaScoresOfPixels, type PixelScorer } from './tta.js';

await initBackend('cpu');

const H = 5;
const W = 7;
const PER = H * W * 3;

/** n images of distinct pixels (no symmetry a flip could hide behind). */
function images(n: number, salt = 0): Float32Array {
  const px = new Float32Array(n * PER);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + salt * 11 + ((i * i) % 13)) % 256;
  return px;
}

function image(px: Float32Array, i: number): Float32Array {
  return px.slice(i * PER, (i + 1) * PER);
}

function mirrored(img: Float32Array, axis: 'horizontal' | 'vertical'): Float32Array {
  const out = new Float32Array(PER);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < 3; c++) {
        const [sy, sx] = axis === 'horizontal' ? [y, W - 1 - x] : [H - 1 - y, x];
        out[(y * W + x) * 3 + c] = img[(sy * W + sx) * 3 + c];
      }
  return out;
}

test('makeViews: n x views images; with flips only, even views are the mirror image exactly and odd views the image itself', () => {
  const px = images(2);
  const views = makeViews(px, 2, [H, W], 3, { flip: 'horizontal', rotation: 0, zoom: 0 }, 0);
  assert.equal(views.length, 2 * 3 * PER);
  for (let i = 0; i < 2; i++) {
    const img = image(px, i);
    assert.deepEqual(image(views, i * 3 + 0), mirrored(img, 'horizontal'));
    assert.deepEqual(image(views, i * 3 + 1), img);
    assert.deepEqual(image(views, i * 3 + 2), mirrored(img, 'horizontal'));
  }
  const vertical = makeViews(px, 2, [H, W], 1, { flip: 'vertical', rotation: 0, zoom: 0 }, 0);
  assert.deepEqual(image(vertical, 1), mirrored(image(px, 1), 'vertical'));
  // Both axes: Keras 3's RandomFlip turns the image 180 degrees; the same as its layer's transform.
  const both = makeViews(px, 2, [H, W], 1, { flip: 'horizontal_and_vertical', rotation: 0, zoom: 0 }, 0);
  const keras = tf.tidy(() =>
    randomFlip.applyTransform(tf.tensor4d(px, [2, H, W, 3]), { horizontal: [true, true], vertical: [true, true] }).dataSync(),
  );
  assert.deepEqual(both, Float32Array.from(keras));
  // 'none' never mirrors: with a zoom of (almost) nothing, every view is the image.
  const unflipped = makeViews(image(px, 0), 1, [H, W], 2, { flip: 'none', rotation: 0, zoom: 1e-9 }, 0);
  for (let v = 0; v < 2; v++) {
    const d = image(unflipped, v).reduce((m, x, j) => Math.max(m, Math.abs(x - px[j])), 0);
    assert.ok(d < 1e-3, `view ${v} moved by ${d}`);
  }
});

test('makeViews with the book augmentation: N distinct views, the same seed gives the same views whatever the batch, another seed others', () => {
  const px = images(3);
  const a = makeViews(px, 3, [H, W], 4, BOOK_AUGMENTATION, 7);
  assert.equal(a.length, 3 * 4 * PER);
  assert.deepEqual(makeViews(px, 3, [H, W], 4, BOOK_AUGMENTATION, 7), a);
  // Image 2 alone gets the views it got as the third image of a batch (its seed comes from its pixels).
  assert.deepEqual(makeViews(image(px, 2), 1, [H, W], 4, BOOK_AUGMENTATION, 7), a.slice(2 * 4 * PER));
  const b = makeViews(px, 3, [H, W], 4, BOOK_AUGMENTATION, 8);
  assert.notDeepEqual(b, a);
  // Every view of an image differs from the image and from the other views (random rotation and zoom each).
  const img = image(px, 0);
  const seen: Float32Array[] = [];
  for (let v = 0; v < 4; v++) {
    const view = image(a, v);
    assert.notDeepEqual(view, img);
    for (const s of seen) assert.notDeepEqual(view, s);
    seen.push(view);
  }
  // Two identical images get identical views (the seed is the pixels'), two different ones do not.
  const twice = new Float32Array(2 * PER);
  twice.set(img);
  twice.set(img, PER);
  const t = makeViews(twice, 2, [H, W], 2, BOOK_AUGMENTATION, 7);
  assert.deepEqual(t.slice(0, 2 * PER), t.slice(2 * PER));
  assert.deepEqual(t.slice(0, 2 * PER), a.slice(0, 2 * PER));
  assert.equal(makeViews(px, 3, [H, W], 0, BOOK_AUGMENTATION, 7).length, 0);
});

test("blendTta: fastai's lerp(mean of the views, plain, beta) on made-up probabilities", () => {
  const plain = [0.9, 0.1];
  const views = [
    [0.5, 0.5],
    [0.3, 0.7],
  ];
  // mean [0.4, 0.6]; 0.75 x mean + 0.25 x plain
  const blended = blendTta(plain, views, 0.25);
  assert.ok(Math.abs(blended[0] - 0.525) < 1e-12 && Math.abs(blended[1] - 0.475) < 1e-12, `${blended}`);
  assert.ok(Math.abs(blended[0] + blended[1] - 1) < 1e-12);
  assert.deepEqual(blendTta(plain, views, 1), plain);
  const mean = blendTta(plain, views, 0);
  assert.ok(Math.abs(mean[0] - 0.4) < 1e-12 && Math.abs(mean[1] - 0.6) < 1e-12);
  assert.deepEqual(blendTta(plain, [], 0.25), plain);
  const three = blendTta([0.2, 0.3, 0.5], [[0.6, 0.2, 0.2]], 0.5);
  assert.deepEqual(
    three.map((x) => Math.round(x * 1e12) / 1e12),
    [0.4, 0.25, 0.35],
  );
});

/** A model: P(class 1) = the mean of the red channel of the left half of the image / 255. */
class LeftRedScorer implements PixelScorer {
  calls: number[] = [];
  async scoresOfPixels(pixels: Float32Array, n: number): Promise<number[][]> {
    this.calls.push(n);
    const out: number[][] = [];
    for (let i = 0; i < n; i++) {
      let s = 0;
      let k = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < Math.floor(W / 2); x++) {
          s += pixels[i * PER + (y * W + x) * 3];
          k++;
        }
      const p = s / k / 255;
      out.push([1 - p, p]);
    }
    return out;
  }
}

test('ttaScoresOfPixels: one model call over the n x (views + 1) images, each blended; 0 views is the plain call exactly', async () => {
  const px = images(3, 1);
  const scorer = new LeftRedScorer();
  const plan = { views: 2, beta: 0.25, seed: 0, augmentation: { flip: 'horizontal' as const, rotation: 0, zoom: 0 } };
  const { plain, tta } = await ttaScoresOfPixels(scorer, px, 3, [H, W], plan);
  assert.deepEqual(scorer.calls, [9]);
  const direct = await new LeftRedScorer().scoresOfPixels(px, 3);
  assert.deepEqual(plain, direct);
  for (let i = 0; i < 3; i++) {
    // views: the mirror (its left half is the image's right half) and the image itself
    const [mirror] = await new LeftRedScorer().scoresOfPixels(mirrored(image(px, i), 'horizontal'), 1);
    const expected = blendTta(direct[i], [mirror, direct[i]], 0.25);
    assert.deepEqual(tta[i], expected);
    assert.notDeepEqual(tta[i], direct[i]);
    assert.ok(Math.abs(tta[i][0] + tta[i][1] - 1) < 1e-12);
  }
  const none = new LeftRedScorer();
  const zero = await ttaScoresOfPixels(none, px, 3, [H, W], { ...plan, views: 0 });
  assert.deepEqual(none.calls, [3]);
  assert.deepEqual(zero.tta, direct);
  assert.deepEqual(zero.plain, direct);
});

test("ttaPlan: the run's augmentation, or flips and the book's zoom; bad values are UserErrors that name the fix", () => {
  assert.deepEqual(ttaPlan(2, {}), { views: 2, beta: 0.25, seed: 0, augmentation: TTA_FALLBACK_AUGMENTATION });
  assert.deepEqual(TTA_FALLBACK_AUGMENTATION, { flip: 'horizontal', rotation: 0, zoom: 0.2 });
  const own = { flip: 'vertical' as const, rotation: 0.05, zoom: 0.1 };
  assert.deepEqual(ttaPlan({}, { augmentation: own }), { views: 4, beta: 0.25, seed: 0, augmentation: own });
  assert.equal(ttaPlan({ views: 0, beta: 0.5, seed: 3 }, {}).beta, 0.5);
  const refused = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(isUserError(e), String(e));
      assert.match((e as Error).message, re);
      return true;
    });
  refused(() => ttaPlan(-1, {}, '--tta'), /--tta must be a whole number of augmented views >= 0, got -1\. Pass e\.g\. --tta 4/);
  refused(() => ttaPlan(1.5, {}), /tta must be a whole number/);
  refused(() => ttaPlan({ beta: 2 }, {}), /beta .* from 0 to 1, got 2/);
  refused(
    () => ttaPlan(2, { augmentation: { flip: 'none', rotation: 0, zoom: 0 } }),
    /augmentation turned off .* every augmented view would be the plain image/,
  );
  // 0 views with augmentation off is simply the plain prediction
  assert.equal(ttaPlan(0, { augmentation: { flip: 'none', rotation: 0, zoom: 0 } }).views, 0);
});
