import * as tf from '@tensorflow/tfjs-core';
import { asTensor, assertNhwc, convGeometry, cropNegative, flipSpatial, insertZeros, transposedPadding } from './convGeometry.js';

/**
 * dL/dx of a 2-D convolution as a forward stride-1 convolution of dy (with
 * stride-1 zeros inserted between its rows/columns) by the filter flipped
 * spatially with its in/out channel axes swapped. The shipped wasm kernel is a
 * scalar loop, ~25x slower than the XNNPACK forward convolution used here.
 */
export function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertNhwc('Conv2DBackpropInput', attrs.dataFormat);
  return tf.tidy(() => {
    const dy = asTensor<tf.Tensor4D>(args.inputs.dy, 'dy');
    const filter = asTensor<tf.Tensor4D>(args.inputs.filter, 'filter');
    const g = convGeometry(attrs.inputShape, filter.shape, attrs.strides, attrs.pad, attrs.dimRoundingMode, false);
    const flipped = flipSpatial(tf.transpose(filter, [0, 1, 3, 2]));
    const dilated = insertZeros(dy, g.strideHeight, g.strideWidth);
    const { cropped, pad } = cropNegative(dilated, transposedPadding(g));
    return tf.conv2d(cropped, flipped, 1, pad);
  });
}
