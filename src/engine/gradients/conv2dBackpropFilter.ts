import * as tf from '@tensorflow/tfjs-core';
import { asTensor, assertNhwc, convGeometry, imagePatches } from './convGeometry.js';

/**
 * dL/dW of a 2-D convolution as one matrix product over image patches:
 * dW[kh*kw*Cin, Cout] = patches^T [K, M] . dy [M, Cout], M = N*outH*outW.
 * The transpose is explicit because the wasm matMul with transposeA is ~30x
 * slower than Transpose + plain matMul (DESIGN.md, "The engine split").
 */
export function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertNhwc('Conv2DBackpropFilter', attrs.dataFormat);
  return tf.tidy(() => {
    const x = asTensor<tf.Tensor4D>(args.inputs.x, 'x');
    const dy = asTensor<tf.Tensor4D>(args.inputs.dy, 'dy');
    const filterShape = attrs.filterShape;
    const g = convGeometry(x.shape, filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode, false);
    const m = g.batch * g.outHeight * g.outWidth;
    const k = filterShape[0] * filterShape[1] * filterShape[2];
    const patches = tf.reshape(imagePatches(x, g), [m, k]);
    const dy2 = tf.reshape(dy, [m, filterShape[3]]);
    return tf.reshape(tf.matMul(tf.transpose(patches), dy2), filterShape);
  });
}
