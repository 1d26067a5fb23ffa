import type { Value } from '../graphBuilder.js';
import { configOf, one, unsupported, type Converter, type Layer } from './types.js';

/**
 * TensorFlow 'same' padding along one axis: the output is ceil(in / stride) and the
 * total padding is split with the extra pixel at the END (bottom/right). ONNX's
 * SAME_UPPER agrees, but explicit pads say so without relying on it.
 */
export function samePads(inSize: number, kernel: number, stride: number, dilation: number): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + effective - inSize, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/**
 * ONNX spatial padding attributes for a Keras padding mode on a value whose Keras
 * shape is [N, H, W, C]. Unknown spatial sizes fall back to auto_pad SAME_UPPER.
 */
export function spatialPadding(
  padding: unknown,
  v: Value,
  kernel: [number, number],
  strides: [number, number],
  dilation: [number, number],
  layer: Layer,
): { pads?: number[]; auto_pad?: string } {
  if (padding === 'valid') return { pads: [0, 0, 0, 0] };
  if (padding !== 'same') throw unsupported(layer, `padding '${String(padding)}'`);
  const [h, w] = [v.shape[1], v.shape[2]];
  if (h === null || w === null) return { auto_pad: 'SAME_UPPER' };
  const [top, bottom] = samePads(h, kernel[0], strides[0], dilation[0]);
  const [left, right] = samePads(w, kernel[1], strides[1], dilation[1]);
  return { pads: [top, left, bottom, right] };
}

/** ZeroPadding2D: padding [[top, bottom], [left, right]] on H and W. */
export const zeroPadding2d: Converter = (b, layer, inputs, outputShapes) => {
  const v = b.asNchw(one(inputs, layer));
  const raw = configOf(layer).padding;
  const p = normalisePadding(raw, layer);
  const [[top, bottom], [left, right]] = p;
  const pads = b.int64(`${layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  return [{ name: b.op('Pad', [v.name, pads], layer.name, { mode: 'constant' }), shape: outputShapes[0], nchw: true }];
};

function normalisePadding(raw: unknown, layer: Layer): [[number, number], [number, number]] {
  if (typeof raw === 'number')
    return [
      [raw, raw],
      [raw, raw],
    ];
  if (Array.isArray(raw) && raw.length === 2) {
    const [a, c] = raw as unknown[];
    if (typeof a === 'number' && typeof c === 'number')
      return [
        [a, a],
        [c, c],
      ];
    if (Array.isArray(a) && Array.isArray(c) && a.length === 2 && c.length === 2) {
      return [
        [Number(a[0]), Number(a[1])],
        [Number(c[0]), Number(c[1])],
      ];
    }
  }
  throw unsupported(layer, `padding ${JSON.stringify(raw)}`);
}
