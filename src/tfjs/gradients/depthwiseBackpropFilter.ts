import * as tf from '@tensorflow/tfjs-core';
import { asTensor, assertUndilated, convGeometry, imagePatches } from './convGeometry.js';

/**
 * dL/dW of a depthwise convolution, filter [kh, kw, C, mult]:
 * dW[k, c, q] = sum over M = N*outH*outW of patch[M, k, c] * dy[M, c, q].
 * One broadcast multiply over the patches, then the sum over M as a matMul
 * with a row of ones (a reduction over the outer axis would make the wasm Sum
 * kernel transpose the whole product first).
 */
export function depthwiseConv2dNativeBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  assertUndilated('DepthwiseConv2dNativeBackpropFilter', attrs.dilations);
  return tf.tidy(() => {
    const x = asTensor<tf.Tensor4D>(args.inputs.x, 'x');
    const dy = asTensor<tf.Tensor4D>(args.inputs.dy, 'dy');
    const [kh, kw, c, mult] = attrs.filterShape;
    const g = convGeometry(x.shape, attrs.filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode, true);
    const m = g.batch * g.outHeight * g.outWidth;
    const k = kh * kw;
    const { patches, layout } = imagePatches(x, g);
    const tapMajor = layout === 'tapMajor';
    // patch[M, tap, c] (or [M, c, tap]) times dy[M, c, q], broadcast over the taps.
    const p = tf.reshape(patches, tapMajor ? [m, k, c, 1] : [m, c, k, 1]);
    const d = tf.reshape(dy, tapMajor ? [m, 1, c, mult] : [m, c, 1, mult]);
    const products = tf.reshape(tf.mul(p, d), [m, k * c * mult]);
    const summed = tf.matMul(tf.ones([1, m]), products);
    if (tapMajor) return tf.reshape(summed, attrs.filterShape);
    return tf.reshape(tf.transpose(tf.reshape(summed, [c, k, mult]), [1, 0, 2]), attrs.filterShape);
  });
}
