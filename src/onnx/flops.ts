import type * as tfl from '@tensorflow/tfjs-layers';

type Shape = Array<number | null>;

function outShapeOf(layer: tfl.layers.Layer): Shape {
  const s = layer.outputShape as Shape | Shape[];
  return (Array.isArray(s[0]) ? s[0] : s) as Shape;
}

function inShapeOf(layer: tfl.layers.Layer): Shape {
  const shape = (layer as unknown as { inboundNodes: Array<{ inputShapes: Shape | Shape[] }> }).inboundNodes[0].inputShapes;
  return (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
}

const prod = (xs: Array<number | null>) => xs.reduce<number>((a, b) => a * (b ?? 1), 1);

/**
 * Floating-point operations of one forward pass for ONE image, counting a
 * multiply-add as 2 FLOPs, over the layers that dominate (convolutions and dense
 * layers; activations, pooling and batch norm are ignored). Nested models count.
 */
export function forwardFlops(model: tfl.LayersModel): number {
  let total = 0;
  for (const layer of model.layers) {
    const nested = layer as unknown as Partial<tfl.LayersModel>;
    if (Array.isArray(nested.layers)) {
      total += forwardFlops(layer as tfl.LayersModel);
      continue;
    }
    const cfg = layer.getConfig() as Record<string, unknown>;
    const out = outShapeOf(layer);
    const kernel = (cfg.kernelSize as number[] | undefined) ?? [1, 1];
    switch (layer.getClassName()) {
      case 'Conv2D': {
        const cin = inShapeOf(layer)[3] as number;
        total += 2 * prod(out.slice(1)) * kernel[0] * kernel[1] * cin;
        break;
      }
      case 'DepthwiseConv2D':
      case 'GroupedConv2D': // tlkit's Keras Conv2D with one input channel a group
        total += 2 * prod(out.slice(1)) * kernel[0] * kernel[1];
        break;
      case 'SeparableConv2D': {
        const cin = inShapeOf(layer)[3] as number;
        const mult = (cfg.depthMultiplier as number | undefined) ?? 1;
        const spatial = prod(out.slice(1, 3));
        total += 2 * spatial * cin * mult * kernel[0] * kernel[1] + 2 * spatial * cin * mult * (out[3] as number);
        break;
      }
      case 'Dense': {
        const nin = inShapeOf(layer).at(-1) as number;
        total += 2 * prod(out.slice(1)) * nin;
        break;
      }
    }
  }
  return total;
}
