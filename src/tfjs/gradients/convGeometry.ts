import * as tf from '@tensorflow/tfjs-core';

/**
 * Tensor helpers shared by the composed gradient kernels. Every function here
 * builds on kernels the wasm backend ships (Pad, Slice, Concat, DepthwiseConv2dNative,
 * Reshape), so the gradients inherit their speed.
 */

/** Kernel inputs arrive typed as TensorInfo; ops want Tensors. */
export function asTensor<T extends tf.Tensor>(info: tf.TensorInfo | undefined, name = 'input'): T {
  if (info == null) throw new Error(`tlkit wasm gradient kernel: missing input '${name}'`);
  if (info instanceof tf.Tensor) return info as T;
  // A bare TensorInfo (not produced by an op): wrap it in a tracked tensor so
  // the enclosing tidy releases our reference afterwards.
  return tf.engine().makeTensorFromTensorInfo(info) as T;
}

export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/**
 * The forward convolution's geometry, computed by tfjs itself so that every
 * padding form ('same', 'valid', a number, explicit pairs) and rounding mode
 * means exactly what it means in the forward kernel.
 */
export function convGeometry(
  inShape: readonly number[],
  filterShape: readonly number[],
  strides: number | [number, number],
  pad: tf.backend_util.ExplicitPadding | 'valid' | 'same' | number,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

export function assertUndilated(kernel: string, dilations: number | [number, number] | undefined): void {
  const d = dilations == null ? [1, 1] : typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (d[0] !== 1 || d[1] !== 1) {
    throw new Error(`${kernel} (tlkit wasm kernel): dilations ${d.join('x')} are not supported, only 1x1`);
  }
}

export function assertNhwc(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (tlkit wasm kernel): only NHWC data is supported, got ${dataFormat}`);
  }
}

/** Order of the last axis of image patches: (tap, channel) or (channel, tap). */
export type PatchLayout = 'tapMajor' | 'channelMajor';

/**
 * The image patches a convolution multiplies with its filter ("im2col"):
 * [N, outH, outW, kh*kw*C]. Stride 1: one pad, kh*kw slices and one concat,
 * last axis ordered (tap, channel) like a flattened [kh, kw, C, .] filter.
 * Strided: the wasm StridedSlice is a scalar loop (2.5 s for the nine taps of
 * a 32x14x14x512 stride-2 layer), so the taps come out of ONE depthwise
 * convolution with a one-hot filter (XNNPACK, 80 ms; exact, each output is
 * one input times 1), last axis ordered (channel, tap).
 */
export function imagePatches(x: tf.Tensor4D, g: ConvGeometry): { patches: tf.Tensor4D; layout: PatchLayout } {
  const [n, h, w, c] = x.shape;
  const spanH = (g.outHeight - 1) * g.strideHeight + 1;
  const spanW = (g.outWidth - 1) * g.strideWidth + 1;
  // Pad only as far as the last tap reads (negative: rows/columns no tap reads).
  const padBottom = spanH + g.filterHeight - 1 - g.padTop - h;
  const padRight = spanW + g.filterWidth - 1 - g.padLeft - w;
  if (g.strideHeight > 1 || g.strideWidth > 1) {
    const used =
      padBottom < 0 || padRight < 0 ? tf.slice(x, [0, 0, 0, 0], [n, h + Math.min(0, padBottom), w + Math.min(0, padRight), c]) : x;
    const patches = tf.depthwiseConv2d(
      used,
      oneHotTaps(g.filterHeight, g.filterWidth, c),
      [g.strideHeight, g.strideWidth],
      [
        [0, 0],
        [g.padTop, Math.max(0, padBottom)],
        [g.padLeft, Math.max(0, padRight)],
        [0, 0],
      ],
    );
    return { patches, layout: 'channelMajor' };
  }
  const padded =
    g.padTop || g.padLeft || padBottom > 0 || padRight > 0
      ? tf.pad(x, [
          [0, 0],
          [g.padTop, Math.max(0, padBottom)],
          [g.padLeft, Math.max(0, padRight)],
          [0, 0],
        ])
      : x;
  const taps: tf.Tensor4D[] = [];
  for (let i = 0; i < g.filterHeight; i++) {
    for (let j = 0; j < g.filterWidth; j++) {
      taps.push(tf.slice(padded, [0, i, j, 0], [n, g.outHeight, g.outWidth, c]));
    }
  }
  return { patches: taps.length === 1 ? taps[0] : tf.concat(taps, 3), layout: 'tapMajor' };
}

/** Depthwise filter [kh, kw, C, kh*kw]: output channel c*K + t copies tap t of channel c. */
function oneHotTaps(kh: number, kw: number, c: number): tf.Tensor4D {
  const taps = kh * kw;
  const w = new Float32Array(taps * c * taps);
  for (let t = 0; t < taps; t++) {
    for (let ch = 0; ch < c; ch++) w[(t * c + ch) * taps + t] = 1;
  }
  return tf.tensor4d(w, [kh, kw, c, taps]);
}

/**
 * Zeros between the rows and columns of dy (stride - 1 of them), the "input
 * dilation" that turns the gradient of a strided convolution into a
 * stride-1 one: [N, H, W, C] -> [N, (H-1)*sh+1, (W-1)*sw+1, C].
 */
export function insertZeros(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape;
  let t: tf.Tensor = dy;
  if (sh > 1) {
    t = tf.pad(tf.reshape(t, [n, h, 1, w * c]), [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
    ]);
    t = tf.slice(tf.reshape(t, [n, h * sh, w, c]), [0, 0, 0, 0], [n, (h - 1) * sh + 1, w, c]);
  }
  const h2 = t.shape[1] as number;
  if (sw > 1) {
    t = tf.pad(tf.reshape(t, [n * h2, w, 1, c]), [
      [0, 0],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    t = tf.slice(tf.reshape(t, [n, h2, w * sw, c]), [0, 0, 0, 0], [n, h2, (w - 1) * sw + 1, c]);
  }
  return t as tf.Tensor4D;
}

/**
 * Geometry of the input gradient as a stride-1 'valid'-style correlation over
 * the zero-inserted dy: the amounts to pad (positive) or crop (negative) on
 * each side so that the correlation with the flipped filter yields exactly
 * inHeight x inWidth.
 */
export interface TransposedPadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export function transposedPadding(g: ConvGeometry): TransposedPadding {
  const spanH = (g.outHeight - 1) * g.strideHeight + 1;
  const spanW = (g.outWidth - 1) * g.strideWidth + 1;
  const top = g.filterHeight - 1 - g.padTop;
  const left = g.filterWidth - 1 - g.padLeft;
  return {
    top,
    left,
    bottom: g.inHeight + g.filterHeight - 1 - spanH - top,
    right: g.inWidth + g.filterWidth - 1 - spanW - left,
  };
}

/**
 * Apply the negative parts of `p` as a crop and return the remaining
 * non-negative padding in the explicit form conv2d/depthwiseConv2d accept, so
 * the zero padding costs no separate op.
 */
export function cropNegative(t: tf.Tensor4D, p: TransposedPadding): { cropped: tf.Tensor4D; pad: tf.backend_util.ExplicitPadding } {
  const [n, h, w, c] = t.shape;
  const ct = Math.max(0, -p.top);
  const cb = Math.max(0, -p.bottom);
  const cl = Math.max(0, -p.left);
  const cr = Math.max(0, -p.right);
  const cropped = ct || cb || cl || cr ? tf.slice(t, [0, ct, cl, 0], [n, h - ct - cb, w - cl - cr, c]) : t;
  return {
    cropped,
    pad: [
      [0, 0],
      [Math.max(0, p.top), Math.max(0, p.bottom)],
      [Math.max(0, p.left), Math.max(0, p.right)],
      [0, 0],
    ],
  };
}

/**
 * A filter [kh, kw, ...] turned by 180 degrees in its spatial plane. Done as
 * a product with the anti-diagonal permutation matrix, which is exact (each
 * output is one input times 1 plus zeros) and ~60x faster on wasm than its
 * Reverse kernel (5 ms vs 300 ms for 3x3x512x512).
 */
export function flipSpatial(filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, a, b] = filter.shape;
  const taps = kh * kw;
  if (taps === 1) return filter;
  const antiDiagonal = new Float32Array(taps * taps);
  for (let i = 0; i < taps; i++) antiDiagonal[i * taps + (taps - 1 - i)] = 1;
  const flipped = tf.matMul(tf.tensor2d(antiDiagonal, [taps, taps]), tf.reshape(filter, [taps, a * b]));
  return tf.reshape(flipped, [kh, kw, a, b]);
}
