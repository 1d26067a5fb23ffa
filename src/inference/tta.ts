import { UserError } from '../errors.js';
import { BOOK_AUGMENTATION, type AugmentationParams } from '../augment/params.js';
import * as randomRotation from '../augment/randomRotation.js';
import * as randomZoom from '../augment/randomZoom.js';
import { projectiveTransform } from '../augment/transform.js';
import { deriveSeed, Rng } from '../io/rng.js';
import type { RunMeta } from '../run/meta.js';

// Test-time augmentation as fastai's Learner.tta does it: the model's probabilities on N
// augmented views of each image are averaged, and that mean is blended with the
// probabilities of the plain image: lerp(mean, plain, beta) = (1 - beta) mean + beta plain.

/** fastai's defaults: 4 augmented views, a quarter of the weight on the plain image. */
export const TTA_DEFAULT_VIEWS = 4;
export const TTA_BETA = 0.25;
export const TTA_DEFAULT_SEED = 0;
/** The views of a run trained without augmentation: mirror images and the book's zoom (no rotation it never saw). */
export const TTA_FALLBACK_AUGMENTATION: AugmentationParams = { flip: BOOK_AUGMENTATION.flip, rotation: 0, zoom: BOOK_AUGMENTATION.zoom };

export interface TtaOptions {
  /** Augmented views per image (default 4); 0 gives the plain prediction exactly. */
  views?: number;
  /** Weight of the plain image's probabilities in the blend, 0..1 (default 0.25, fastai's). */
  beta?: number;
  /** Seeds the views' random rotations and zooms (default 0): the same seed gives the same numbers. */
  seed?: number;
  /** The views' augmentation; default the run's own (meta.json), or ttaAugmentation's fallback. */
  augmentation?: AugmentationParams;
}

/** `tta: 4` is `tta: { views: 4 }`. */
export type TtaSetting = number | TtaOptions;

/** Everything a TTA pass needs, checked. */
export interface TtaPlan {
  views: number;
  beta: number;
  seed: number;
  augmentation: AugmentationParams;
}

/** The augmentation a run's TTA views use: the run's training augmentation, else flips and the book's zoom. */
export function ttaAugmentation(meta: Pick<RunMeta, 'augmentation'>): AugmentationParams {
  return meta.augmentation ?? TTA_FALLBACK_AUGMENTATION;
}

/** A checked plan (UserError naming the value and the fix), with the defaults filled in. */
export function ttaPlan(setting: TtaSetting, meta: Pick<RunMeta, 'augmentation'>, name = 'tta'): TtaPlan {
  const o = typeof setting === 'number' ? { views: setting } : setting;
  const views = o.views ?? TTA_DEFAULT_VIEWS;
  if (!(Number.isSafeInteger(views) && views >= 0)) {
    throw new UserError(`${name} must be a whole number of augmented views >= 0, got ${views}. Pass e.g. ${name} ${TTA_DEFAULT_VIEWS}.`);
  }
  const beta = o.beta ?? TTA_BETA;
  if (!(Number.isFinite(beta) && beta >= 0 && beta <= 1)) {
    throw new UserError(
      `tta beta (the plain image's weight) must be a number from 0 to 1, got ${beta}. Leave it out for fastai's ${TTA_BETA}.`,
    );
  }
  const seed = o.seed ?? TTA_DEFAULT_SEED;
  if (!Number.isSafeInteger(seed)) throw new UserError(`tta seed must be a whole number, got ${seed}.`);
  const augmentation = o.augmentation ?? ttaAugmentation(meta);
  if (views > 0 && augmentation.flip === 'none' && !(augmentation.rotation > 0) && !(augmentation.zoom > 0)) {
    throw new UserError(
      `${name}: the run was trained with augmentation turned off (flip none, rotation 0, zoom 0), so every augmented view would be the plain image. Leave out ${name}, or (from code) pass tta.augmentation.`,
    );
  }
  return { views, beta, seed, augmentation };
}

/**
 * The seed of one image's views: the plan's seed and the image's own pixels. An image gets
 * the same views whatever batch, position or file list it comes in (a shard of a folder
 * gives the numbers the whole folder gives).
 */
export function imageSeed(pixels: Float32Array, seed: number): number {
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return deriveSeed(seed, h >>> 0);
}

/**
 * The augmented views of `n` images at [h, w] (float32 NHWC): n x views images, image by
 * image (image i's views are rows i*views .. i*views + views - 1). Even views are mirrored
 * along the augmentation's flip axes and odd ones are not, so any number of views holds
 * both; each view then gets its own rotation and zoom drawn as training draws them, and
 * applied with the same Keras transforms (flip -> rotate -> zoom, reflect fill, bilinear).
 * Plain arrays throughout: tfjs's where/reverse on wasm took 1.6 to 3.2 s to mirror 64
 * images at 224x224, the copy here a few milliseconds.
 */
export function makeViews(
  pixels: Float32Array,
  n: number,
  size: [number, number],
  views: number,
  p: AugmentationParams,
  seed: number,
): Float32Array {
  const [h, w] = size;
  const per = h * w * 3;
  if (pixels.length !== n * per) throw new Error(`makeViews: ${pixels.length} values for ${n} images of ${h}x${w}x3`);
  const m = n * views;
  let out: Float32Array = new Float32Array(m * per);
  const angles = new Float32Array(m);
  const heightZoom = new Float32Array(m);
  for (let i = 0; i < n; i++) {
    const image = pixels.subarray(i * per, (i + 1) * per);
    const rng = new Rng(imageSeed(image, seed));
    for (let v = 0; v < views; v++) {
      const k = i * views + v;
      const mirrored = p.flip !== 'none' && v % 2 === 0;
      mirrorInto(image, out.subarray(k * per, (k + 1) * per), h, w, mirrored && p.flip !== 'vertical', mirrored && p.flip !== 'horizontal');
      if (p.rotation > 0) angles[k] = randomRotation.sampleTransform(rng, 1, p.rotation).angles[0];
      if (p.zoom > 0) heightZoom[k] = randomZoom.sampleTransform(rng, 1, p.zoom).heightZoom[0];
    }
  }
  if (m === 0) return out;
  if (p.rotation > 0) out = projectiveTransform(out, [m, h, w, 3], randomRotation.rotationMatrices(angles, h, w));
  if (p.zoom > 0) out = projectiveTransform(out, [m, h, w, 3], randomZoom.zoomMatrices({ heightZoom, widthZoom: heightZoom }, h, w));
  return out;
}

/** Copy one HWC RGB image, mirrored left-right and/or top-bottom (RandomFlip's flips, as an index map). */
function mirrorInto(src: Float32Array, dst: Float32Array, h: number, w: number, leftRight: boolean, topBottom: boolean): void {
  if (!leftRight && !topBottom) {
    dst.set(src);
    return;
  }
  const row = w * 3;
  for (let y = 0; y < h; y++) {
    const from = (topBottom ? h - 1 - y : y) * row;
    const to = y * row;
    if (!leftRight) {
      dst.set(src.subarray(from, from + row), to);
      continue;
    }
    for (let x = 0; x < w; x++) {
      const a = to + x * 3;
      const b = from + (w - 1 - x) * 3;
      dst[a] = src[b];
      dst[a + 1] = src[b + 1];
      dst[a + 2] = src[b + 2];
    }
  }
}

/** fastai's blend of one image's class probabilities: lerp(mean of the views, plain, beta). */
export function blendTta(plain: number[], augmented: number[][], beta: number): number[] {
  if (augmented.length === 0) return plain.slice();
  return plain.map((q, c) => {
    let sum = 0;
    for (const a of augmented) sum += a[c];
    const mean = sum / augmented.length;
    // torch.lerp's two-sided form: exact at both ends (beta 0 gives the mean, beta 1 the plain image).
    const diff = q - mean;
    return beta < 0.5 ? mean + beta * diff : q - diff * (1 - beta);
  });
}

/** What scores images: RunPredictor, or anything that runs float32 NHWC RGB 0..255 pixels at the run's size. */
export interface PixelScorer {
  scoresOfPixels(pixels: Float32Array, n: number): Promise<number[][]>;
}

/** Both predictions of a batch: the plain image's and the TTA blend, per image. */
export interface TtaScores {
  plain: number[][];
  tta: number[][];
}

/**
 * The plain and TTA class probabilities of `n` images: the plain images and their views go
 * through the model in ONE call (n x (views + 1) images), then each image's are blended.
 */
export async function ttaScoresOfPixels(
  scorer: PixelScorer,
  pixels: Float32Array,
  n: number,
  size: [number, number],
  plan: TtaPlan,
): Promise<TtaScores> {
  if (plan.views === 0 || n === 0) {
    const plain = await scorer.scoresOfPixels(pixels, n);
    return { plain, tta: plain.map((s) => s.slice()) };
  }
  const viewPixels = makeViews(pixels, n, size, plan.views, plan.augmentation, plan.seed);
  const all = new Float32Array(pixels.length + viewPixels.length);
  all.set(pixels);
  all.set(viewPixels, pixels.length);
  const scores = await scorer.scoresOfPixels(all, n * (plan.views + 1));
  const plain = scores.slice(0, n);
  const tta = plain.map((s, i) => blendTta(s, scores.slice(n + i * plan.views, n + (i + 1) * plan.views), plan.beta));
  return { plain, tta };
}
