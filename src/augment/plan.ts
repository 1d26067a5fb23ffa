import { flipImage, warpImage } from './kernels.js';

/**
 * One batch's random draws, made before any pixel is touched: which images flip, and
 * each image's rotation and zoom matrix. Plain typed arrays, so a worker thread can
 * apply them: the pixels depend only on the plan, not on which thread computes them.
 */
export interface AugmentPlan {
  /** NHWC */
  shape: [number, number, number, number];
  /** 1 where the image flips left-right / top-bottom; absent when flipping is off. */
  flipHorizontal?: Uint8Array;
  flipVertical?: Uint8Array;
  /** 8 values an image (transform.ts's convention), or absent when that step is off. */
  rotation?: Float32Array;
  zoom?: Float32Array;
}

type Step = (src: ArrayLike<number>, at: number, dst: Float32Array, dstAt: number, image: number) => void;

/**
 * Apply a plan to images [from, to) of an NHWC batch, writing each at its own place in
 * `out` (the size of `src`). Each image goes through flip, rotation and zoom one after
 * the other, each a full resampling (reflect fill, bilinear) as Keras's separate layers
 * do; two scratch images hold the steps in between.
 */
export function applyPlan(src: ArrayLike<number>, out: Float32Array, plan: AugmentPlan, from = 0, to = plan.shape[0]): void {
  const [, h, w, c] = plan.shape;
  const hwc: [number, number, number] = [h, w, c];
  const per = h * w * c;
  const steps: Step[] = [];
  const { flipHorizontal: fh, flipVertical: fv, rotation, zoom } = plan;
  if (fh && fv) steps.push((s, at, d, dAt, i) => flipImage(s, at, d, dAt, hwc, fh[i] === 1, fv[i] === 1));
  for (const matrices of [rotation, zoom]) {
    if (matrices) steps.push((s, at, d, dAt, i) => warpImage(s, at, d, dAt, hwc, matrices, i * 8));
  }
  const scratch = steps.length > 1 ? [new Float32Array(per), new Float32Array(per)] : [];
  for (let i = from; i < to; i++) {
    if (steps.length === 0) {
      for (let k = i * per; k < (i + 1) * per; k++) out[k] = src[k];
      continue;
    }
    let s: ArrayLike<number> = src;
    let at = i * per;
    steps.forEach((step, k) => {
      const last = k === steps.length - 1;
      const d = last ? out : scratch[k % 2];
      const dAt = last ? i * per : 0;
      step(s, at, d, dAt, i);
      s = d;
      at = dAt;
    });
  }
}
