import fs from 'node:fs';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../onnx/proto.js';

/** The 1x1 conv of handBuiltNchw: weights [out][in] and biases. */
export const HAND_BUILT_CONV = {
  w: [
    [0.5, -1, 2],
    [1, 1, -0.25],
  ],
  b: [0.1, -0.2],
};

/**
 * A hand-built NCHW model, as torch.onnx writes them: pixel_values [N, 3, size, size] ->
 * 1x1 Conv (HAND_BUILT_CONV, or `conv`) -> Relu ("relu_out") -> GlobalAveragePool -> Flatten
 * ("embeds", [N, 2]). `batch` fixes the batch dimension (torch.onnx without dynamic axes fixes 1).
 */
export function writeHandBuiltNchw(
  file: string,
  opts: { size?: number; batch?: number; conv?: { w: number[][]; b: number[] } } = {},
): void {
  const size = opts.size ?? 8;
  const batch = opts.batch ?? null;
  const { w, b } = opts.conv ?? HAND_BUILT_CONV;
  const nodes = [
    makeNode('Conv', ['pixel_values', 'W', 'B'], ['conv_out'], 'conv', { kernel_shape: [1, 1] }),
    makeNode('Relu', ['conv_out'], ['relu_out'], 'relu'),
    makeNode('GlobalAveragePool', ['relu_out'], ['pooled'], 'pool'),
    makeNode('Flatten', ['pooled'], ['embeds'], 'flatten', { axis: 1 }),
  ];
  const graph = makeGraph(
    nodes,
    'hand',
    [makeValueInfo('pixel_values', [batch, 3, size, size])],
    [makeValueInfo('embeds', [batch, w.length])],
    [makeTensor('W', [w.length, 3, 1, 1], Float32Array.from(w.flat())), makeTensor('B', [b.length], Float32Array.from(b))],
  );
  fs.writeFileSync(file, encodeModel(makeModel(graph)));
}
