import { applyActivation } from './activation.js';
import { kernelToOihw } from './conv.js';
import { channelConstant } from './layerNormalization.js';
import { configOf, one, requireWeight, unsupported, weightOf, type Converter } from './types.js';

/** Layers that do nothing at inference (Dropout and the noise layers). */
export const identity: Converter = (_b, layer, inputs) => [one(inputs, layer)];

/** Flatten in Keras (channels-last) order, so a Dense after it sees the same features. */
export const flatten: Converter = (b, layer, inputs, outputShapes) => {
  const x = b.asKeras(one(inputs, layer));
  return [{ name: b.op('Flatten', [x.name], layer.name, { axis: 1 }), shape: outputShapes[0], nchw: false }];
};

export const reshape: Converter = (b, layer, inputs, outputShapes) => {
  const x = b.asKeras(one(inputs, layer));
  const target = configOf(layer).targetShape as number[];
  // 0 copies the batch dimension through.
  const shape = b.int64(`${layer.name}/shape`, [0, ...target]);
  return [{ name: b.op('Reshape', [x.name, shape], layer.name), shape: outputShapes[0], nchw: false }];
};

/**
 * Dense on the last axis: Gemm for [N, in]; on a rank-4 tensor stored channels-first
 * (ConvNeXt's pointwise layers), a 1x1 Conv, so the graph stays NCHW; MatMul + Add
 * for other ranks (channels-last).
 */
export const dense: Converter = (b, layer, inputs, outputShapes) => {
  const input = one(inputs, layer);
  const k = requireWeight(layer, 'kernel');
  const bias = weightOf(layer, 'bias');
  const [nIn, nOut] = k.shape;
  const activation = String(configOf(layer).activation ?? 'linear');
  if (input.nchw && input.shape.length === 4) {
    const ins = [input.name, b.constant(`${layer.name}/W`, [nOut, nIn, 1, 1], kernelToOihw(k.data, [1, 1, nIn, nOut]))];
    if (bias) ins.push(b.constant(`${layer.name}/B`, [nOut], bias.data));
    const y = b.op('Conv', ins, layer.name, { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] });
    return [applyActivation(b, { name: y, shape: outputShapes[0], nchw: true }, activation, `${layer.name}/activation`, layer)];
  }
  const x = b.asKeras(input);
  const w = b.constant(`${layer.name}/W`, [nIn, nOut], k.data);
  let y: string;
  if (x.shape.length === 2) {
    const ins = [x.name, w];
    if (bias) ins.push(b.constant(`${layer.name}/B`, [nOut], bias.data));
    y = b.op('Gemm', ins, layer.name);
  } else {
    y = b.op('MatMul', [x.name, w], bias ? `${layer.name}/matmul` : layer.name);
    if (bias) y = b.op('Add', [y, b.constant(`${layer.name}/B`, [nOut], bias.data)], layer.name);
  }
  return [applyActivation(b, { name: y, shape: outputShapes[0], nchw: false }, activation, `${layer.name}/activation`, layer)];
};

/** Rescaling: x * scale + offset; scale and offset are numbers or per-channel lists (EfficientNet's ImageNet rescaling). */
export const rescaling: Converter = (b, layer, inputs) => {
  const x = one(inputs, layer);
  const cfg = configOf(layer);
  const channels = x.shape[x.shape.length - 1];
  const operand = (value: unknown, what: string, fallback: number): string => {
    if (value === undefined || value === null) return b.scalar(`${layer.name}/${what}`, fallback);
    if (typeof value === 'number') return b.scalar(`${layer.name}/${what}`, value);
    if (Array.isArray(value) && value.every((v) => typeof v === 'number') && (value.length === channels || value.length === 1)) {
      return channelConstant(b, x, `${layer.name}/${what}`, Float32Array.from(value as number[]));
    }
    throw unsupported(layer, `${what} ${JSON.stringify(value)} (a number or one per channel is expected)`);
  };
  const scaled = b.op('Mul', [x.name, operand(cfg.scale, 'scale', 1)], `${layer.name}/scaled`);
  return [{ ...x, name: b.op('Add', [scaled, operand(cfg.offset, 'offset', 0)], layer.name) }];
};
