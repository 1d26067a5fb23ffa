import * as tf from '@tensorflow/tfjs-core';
import { asTensor, assertUndilated, convGeometry, cropNegative, flipSpatial, insertZeros, transposedPadding } from './convGeometry.js';

/**
 * dL/dx of a depthwise convolution as a forward depthwise convolution of the
 * zero-inserted dy by the spatially flipped filter. With a channel multiplier
 * m the C*m dy channels are convolved one filter each, then each group of m
 * is summed back onto its input channel.
 */
export function depthwiseConv2dNativeBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  assertUndilated('DepthwiseConv2dNativeBackpropInput', attrs.dilations);
  return tf.tidy(() => {
    const dy = asTensor<tf.Tensor4D>(args.inputs.dy, 'dy');
    const filter = asTensor<tf.Tensor4D>(args.inputs.filter, 'filter');
    const [kh, kw, c, mult] = filter.shape;
    const g = convGeometry(attrs.inputShape, filter.shape, attrs.strides, attrs.pad, attrs.dimRoundingMode, true);
    const flipped = tf.reshape(flipSpatial(filter), [kh, kw, c * mult, 1]) as tf.Tensor4D;
    const dilated = insertZeros(dy, g.strideHeight, g.strideWidth);
    const { cropped, pad } = cropNegative(dilated, transposedPadding(g));
    const dx = tf.depthwiseConv2d(cropped, flipped, 1, pad);
    if (mult === 1) return dx;
    const [n, h, w] = dx.shape;
    return tf.sum(tf.reshape(dx, [n, h, w, c, mult]), 4);
  });
}
