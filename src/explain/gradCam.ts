import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

// Grad-CAM (Selvaraju et al., 2017) on a feature map A [h, w, c] and the part of the model
// after it: the gradient of the class score with respect to A, the channel weights
// w_c = the spatial mean of that gradient, and the map ReLU(sum_c w_c A_c).
//
// The class score is a logit, before the sigmoid or softmax (as the paper takes y^c before
// the softmax; the probability saturates and its gradient fades). For a two-class model
// with one sigmoid unit z = logit P(classes[1]): the score of classes[1] is z, that of
// classes[0] is -z (the logit of 1 - sigmoid(z) = sigmoid(-z)). For k outputs (softmax, or
// one sigmoid per class in a multi-label run) the score of class i is logit i.

export interface GradCamMap {
  /** The class explained (an index into the run's classes) and its score (the logit above). */
  classIndex: number;
  score: number;
  /** [height, width] of the feature map. */
  size: [number, number];
  /** ReLU(sum_c w_c A_c), row-major h*w, unscaled. */
  cam: Float32Array;
  /** The channel weights w_c: the spatial mean of d(score)/dA_c. */
  weights: Float32Array;
}

/** The class a row of logits predicts: z >= 0 for one sigmoid unit (P >= 0.5), else the largest logit. */
export function predictedClass(logits: ArrayLike<number>): number {
  if (logits.length === 1) return logits[0] >= 0 ? 1 : 0;
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** The coefficients that turn a row of `units` logits into the score of class c (see the top of this file). */
export function scoreCoefficients(units: number, c: number): Float32Array {
  const coef = new Float32Array(units);
  if (units === 1) coef[0] = c === 1 ? 1 : -1;
  else coef[c] = 1;
  return coef;
}

/** ReLU(sum_c w_c A_c) with w_c the spatial mean of the gradient, for one image's map and gradient (NHWC, h*w*c values). */
export function camOf(
  features: ArrayLike<number>,
  gradient: ArrayLike<number>,
  hw: number,
  c: number,
): { cam: Float32Array; weights: Float32Array } {
  const sums = new Float64Array(c);
  for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) sums[k] += gradient[p * c + k];
  const weights = Float32Array.from(sums, (s) => s / hw);
  const cam = new Float32Array(hw);
  for (let p = 0; p < hw; p++) {
    let v = 0;
    for (let k = 0; k < c; k++) v += weights[k] * features[p * c + k];
    cam[p] = Math.max(0, v);
  }
  return { cam, weights };
}

/**
 * Grad-CAM for `n` images whose feature maps are `features` (NHWC, [n, h, w, c]), through
 * `logitsModel` (feature map in, logits out). `targets[i]` is the class to explain for image
 * i; undefined (or absent) explains the class the logits predict.
 */
export function gradCamOfFeatures(
  logitsModel: tfl.LayersModel,
  features: Float32Array,
  shape: [number, number, number, number],
  targets: ReadonlyArray<number | undefined> = [],
): GradCamMap[] {
  const [n, h, w, c] = shape;
  const a = tf.tensor4d(features, shape);
  try {
    const logits = tf.tidy(() => logitsModel.apply(a, { training: false }) as tf.Tensor2D);
    const units = logits.shape[1];
    const rows = logits.arraySync();
    logits.dispose();
    const classes = rows.map((row, i) => targets[i] ?? predictedClass(row));
    const coef = new Float32Array(n * units);
    classes.forEach((cls, i) => coef.set(scoreCoefficients(units, cls), i * units));
    // The batch's scores summed: each image's score depends on its own map only, so one
    // gradient of the sum holds every image's gradient.
    const gradient = tf.tidy(() => {
      const mask = tf.tensor2d(coef, [n, units]);
      return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(logitsModel.apply(x, { training: false }) as tf.Tensor2D, mask)))(a);
    });
    const g = gradient.dataSync();
    gradient.dispose();
    const per = h * w * c;
    return classes.map((classIndex, i) => {
      const { cam, weights } = camOf(features.subarray(i * per, (i + 1) * per), g.subarray(i * per, (i + 1) * per), h * w, c);
      const score = rows[i].reduce((s, z, u) => s + z * coef[i * units + u], 0);
      return { classIndex, score, size: [h, w] as [number, number], cam, weights };
    });
  } finally {
    a.dispose();
  }
}

/** The map scaled to 0..1 by its maximum (all zeros stay zeros: nothing in the map speaks for the class). */
export function normalizedCam(cam: Float32Array): Float32Array {
  let max = 0;
  for (const v of cam) if (v > max) max = v;
  return max > 0 ? Float32Array.from(cam, (v) => v / max) : new Float32Array(cam.length);
}
