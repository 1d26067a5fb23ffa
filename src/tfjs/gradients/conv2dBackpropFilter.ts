import * as tf from '@tensorflow/tfjs-core';
import { asTensor, assertNhwc, convGeometry, imagePatches, type ConvGeometry } from './convGeometry.js';

/** Patch matrices above `maxPatchValues` values are built a few images at a time (bounds the wasm heap). */
export const patchLimits = { maxPatchValues: 32 * 1024 * 1024 };

/**
 * dL/dW of a 2-D convolution as one matrix product over image patches:
 * dW[kh*kw*Cin, Cout] = patches^T [K, M] . dy [M, Cout], M = N*outH*outW.
 * The transpose is explicit because the wasm matMul with transposeA is ~30x
 * slower than Transpose + plain matMul (docs/ort-training.md).
 */
export function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertNhwc('Conv2DBackpropFilter', attrs.dataFormat);
  return tf.tidy(() => {
    const x = asTensor<tf.Tensor4D>(args.inputs.x, 'x');
    const dy = asTensor<tf.Tensor4D>(args.inputs.dy, 'dy');
    const filterShape = attrs.filterShape;
    const g = convGeometry(x.shape, filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode, false);
    const k = filterShape[0] * filterShape[1] * filterShape[2];
    const perImage = g.outHeight * g.outWidth * k;
    const chunk = Math.max(1, Math.min(g.batch, Math.floor(patchLimits.maxPatchValues / perImage)));
    let dw: tf.Tensor | undefined;
    for (let start = 0; start < g.batch; start += chunk) {
      const n = Math.min(chunk, g.batch - start);
      const part =
        n === g.batch
          ? filterGradient(x, dy, g, k, filterShape[3])
          : filterGradient(
              tf.slice(x, [start, 0, 0, 0], [n, -1, -1, -1]),
              tf.slice(dy, [start, 0, 0, 0], [n, -1, -1, -1]),
              g,
              k,
              filterShape[3],
            );
      dw = dw ? tf.add(dw, part) : part;
    }
    return tf.reshape(dw as tf.Tensor, filterShape);
  });
}

/** dW as [kh*kw*Cin, Cout] (tap-major rows, the filter's own order). */
function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry, k: number, outChannels: number): tf.Tensor2D {
  const m = x.shape[0] * g.outHeight * g.outWidth;
  const { patches, layout } = imagePatches(x, g);
  const dw = tf.matMul(tf.transpose(tf.reshape(patches, [m, k])), tf.reshape(dy, [m, outChannels])) as tf.Tensor2D;
  if (layout === 'tapMajor') return dw;
  // Rows came as (channel, tap): reorder the small filter-sized result to (tap, channel).
  const taps = g.filterHeight * g.filterWidth;
  return tf.reshape(tf.transpose(tf.reshape(dw, [k / taps, taps, outChannels]), [1, 0, 2]), [k, outChannels]) as tf.Tensor2D;
}
