import type { GraphBuilder, Value } from '../graphBuilder.js';
import { applyActivation } from './activation.js';
import { spatialPadding } from './padding.js';
import { configOf, one, pair, requireChannelsLast, requireWeight, weightOf, unsupported, type Converter, type Layer } from './types.js';

/** Keras conv kernel [kh, kw, in, out] -> ONNX Conv weight [out, in, kh, kw]. */
export function kernelToOihw(k: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const out = new Float32Array(k.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++) {
        const src = ((i * kw + j) * ci + c) * co;
        for (let o = 0; o < co; o++) out[((o * ci + c) * kh + i) * kw + j] = k[src + o];
      }
  return out;
}

/**
 * Depthwise kernel [kh, kw, in, mult] -> grouped Conv weight [in * mult, 1, kh, kw].
 * TF orders depthwise outputs channel-major (output c * mult + m), which is exactly
 * ONNX's group order with group = in.
 */
export function depthwiseToOihw(k: Float32Array, [kh, kw, ci, mult]: number[]): Float32Array {
  const out = new Float32Array(k.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++)
        for (let m = 0; m < mult; m++) out[((c * mult + m) * kh + i) * kw + j] = k[((i * kw + j) * ci + c) * mult + m];
  return out;
}

interface ConvGeometry {
  kernel: [number, number];
  strides: [number, number];
  dilation: [number, number];
  padding: unknown;
}

function geometryOf(layer: Layer): ConvGeometry {
  requireChannelsLast(layer);
  const cfg = configOf(layer);
  const g: ConvGeometry = {
    kernel: pair(cfg.kernelSize, 'kernelSize', layer),
    strides: pair(cfg.strides ?? 1, 'strides', layer),
    dilation: pair(cfg.dilationRate ?? 1, 'dilationRate', layer),
    padding: cfg.padding ?? 'valid',
  };
  if ((g.strides[0] > 1 || g.strides[1] > 1) && (g.dilation[0] > 1 || g.dilation[1] > 1)) {
    throw unsupported(layer, 'strides > 1 together with dilationRate > 1');
  }
  return g;
}

function emitConv(
  b: GraphBuilder,
  layer: Layer,
  x: Value,
  weight: Float32Array,
  weightDims: number[],
  bias: Float32Array | undefined,
  g: ConvGeometry,
  group: number,
  hint: string,
  outShape: Array<number | null>,
): Value {
  const xin = b.asNchw(x);
  const inputs = [xin.name, b.constant(`${hint}/W`, weightDims, weight)];
  if (bias) inputs.push(b.constant(`${hint}/B`, [bias.length], bias));
  const attrs = {
    kernel_shape: g.kernel,
    strides: g.strides,
    dilations: g.dilation,
    group,
    ...spatialPadding(g.padding, x, g.kernel, g.strides, g.dilation, layer),
  };
  return { name: b.op('Conv', inputs, hint, attrs), shape: outShape, nchw: true };
}

function activationName(layer: Layer): string {
  return String(configOf(layer).activation ?? 'linear');
}

export const conv2d: Converter = (b, layer, inputs, outputShapes) => {
  const g = geometryOf(layer);
  const k = requireWeight(layer, 'kernel');
  const bias = weightOf(layer, 'bias');
  const [kh, kw, ci, co] = k.shape;
  const y = emitConv(
    b,
    layer,
    one(inputs, layer),
    kernelToOihw(k.data, k.shape),
    [co, ci, kh, kw],
    bias?.data,
    g,
    1,
    layer.name,
    outputShapes[0],
  );
  return [applyActivation(b, y, activationName(layer), `${layer.name}/activation`, layer)];
};

export const depthwiseConv2d: Converter = (b, layer, inputs, outputShapes) => {
  const g = geometryOf(layer);
  const k = requireWeight(layer, 'depthwise_kernel');
  const bias = weightOf(layer, 'bias');
  const [kh, kw, ci, mult] = k.shape;
  const w = depthwiseToOihw(k.data, k.shape);
  const y = emitConv(b, layer, one(inputs, layer), w, [ci * mult, 1, kh, kw], bias?.data, g, ci, layer.name, outputShapes[0]);
  return [applyActivation(b, y, activationName(layer), `${layer.name}/activation`, layer)];
};

/** SeparableConv2D = depthwise conv (strides, dilation, padding) then a 1x1 pointwise conv with the bias. */
export const separableConv2d: Converter = (b, layer, inputs, outputShapes) => {
  const g = geometryOf(layer);
  const dk = requireWeight(layer, 'depthwise_kernel');
  const pk = requireWeight(layer, 'pointwise_kernel');
  const bias = weightOf(layer, 'bias');
  const [kh, kw, ci, mult] = dk.shape;
  const x = one(inputs, layer);
  const midShape = [...outputShapes[0].slice(0, 3), ci * mult];
  const mid = emitConv(
    b,
    layer,
    x,
    depthwiseToOihw(dk.data, dk.shape),
    [ci * mult, 1, kh, kw],
    undefined,
    g,
    ci,
    `${layer.name}/depthwise`,
    midShape,
  );
  const pointwise: ConvGeometry = { kernel: [1, 1], strides: [1, 1], dilation: [1, 1], padding: 'valid' };
  const co = pk.shape[3];
  const y = emitConv(
    b,
    layer,
    mid,
    kernelToOihw(pk.data, pk.shape),
    [co, ci * mult, 1, 1],
    bias?.data,
    pointwise,
    1,
    layer.name,
    outputShapes[0],
  );
  return [applyActivation(b, y, activationName(layer), `${layer.name}/activation`, layer)];
};

/** tlkit's GroupedConv2D (Keras Conv2D with groups = input channels): a grouped ONNX Conv, kernel [kh, kw, 1, filters]. */
export const groupedConv2d: Converter = (b, layer, inputs, outputShapes) => {
  const g = geometryOf(layer);
  const k = requireWeight(layer, 'kernel');
  const bias = weightOf(layer, 'bias');
  const [kh, kw, ci, co] = k.shape;
  const groups = configOf(layer).groups as number;
  if (ci !== 1) throw unsupported(layer, `${ci} input channels per group (only 1)`);
  const y = emitConv(
    b,
    layer,
    one(inputs, layer),
    kernelToOihw(k.data, k.shape),
    [co, ci, kh, kw],
    bias?.data,
    g,
    groups,
    layer.name,
    outputShapes[0],
  );
  return [applyActivation(b, y, activationName(layer), `${layer.name}/activation`, layer)];
};
