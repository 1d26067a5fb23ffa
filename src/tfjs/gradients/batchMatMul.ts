import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './convGeometry.js';

/**
 * The wasm BatchMatMul with transposeA or transposeB falls off XNNPACK's fast
 * path (measured 5.4 s vs 0.17 s for [4608x968]x[968x512]); every Dense and
 * MatMul gradient asks for one of them. This wrapper transposes the operand
 * explicitly (a cheap Transpose kernel) and calls the shipped kernel without
 * the flag.
 */
export function explicitTransposeBatchMatMul(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as tf.BatchMatMulAttrs;
    if (!attrs.transposeA && !attrs.transposeB) return original(args);
    return tf.tidy(() => {
      const swapLast = (t: tf.Tensor): tf.Tensor => {
        const perm = t.shape.map((_, i) => i);
        const r = perm.length;
        [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
        return tf.transpose(t, perm);
      };
      const a = asTensor(args.inputs.a, 'a');
      const b = asTensor(args.inputs.b, 'b');
      const info = original({
        ...args,
        inputs: { a: attrs.transposeA ? swapLast(a) : a, b: attrs.transposeB ? swapLast(b) : b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      }) as tf.TensorInfo;
      return tf.engine().makeTensorFromTensorInfo(info);
    });
  };
}
