import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * Give every weight of `model` random values (seeded), so that parity tests see
 * non-zero biases and BatchNormalization statistics instead of the initialisers'
 * zeros and ones. Variances stay positive.
 */
export function randomizeWeights(model: tfl.LayersModel | tfl.layers.Layer, seed = 1): void {
  let s = seed;
  for (const layer of 'layers' in model ? (model as tfl.LayersModel).layers : [model]) {
    if ('layers' in layer) {
      randomizeWeights(layer as tfl.LayersModel, s++);
      continue;
    }
    const values = layer.weights.map((w) => {
      const shape = w.shape as number[];
      const short = w.name.split('/').pop() ?? '';
      if (short.startsWith('moving_variance') || /^variance(_\d+)?$/.test(short)) return tf.randomUniform(shape, 0.5, 1.5, 'float32', s++);
      if (short.startsWith('gamma')) return tf.randomUniform(shape, 0.5, 1.5, 'float32', s++);
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1) || 1;
      const scale = short.includes('kernel') ? Math.sqrt(2 / fanIn) : 0.5;
      return tf.randomNormal(shape, 0, scale, 'float32', s++);
    });
    if (values.length) layer.setWeights(values);
    tf.dispose(values);
  }
}

/** A seeded NHWC input with values in [lo, hi). */
export function randomImages(shape: [number, number, number, number], lo = -3, hi = 3, seed = 7): tf.Tensor4D {
  return tf.randomUniform(shape, lo, hi, 'float32', seed) as tf.Tensor4D;
}
