import type { GraphBuilder, Value } from '../graphBuilder.js';
import { configOf, one, unsupported, weightOf, type Converter, type Layer } from './types.js';

/** A per-channel constant (the last Keras axis) that broadcasts against `v` in its stored layout. */
export function channelConstant(b: GraphBuilder, v: Value, hint: string, data: Float32Array): string {
  const dims = v.nchw && v.shape.length === 4 ? [data.length, 1, 1] : [data.length];
  return b.constant(hint, dims, data);
}

function lastAxisOnly(layer: Layer, axisRaw: unknown, rank: number): void {
  const axes = (Array.isArray(axisRaw) ? axisRaw : [axisRaw ?? -1]).map((a) => ((a as number) < 0 ? (a as number) + rank : (a as number)));
  if (axes.length !== 1 || axes[0] !== rank - 1) throw unsupported(layer, `axis ${JSON.stringify(axisRaw)} (only the last axis)`);
}

/**
 * LayerNormalization over the last (channel) axis, written out with opset-13 ops:
 * (x - mean) / sqrt(mean((x - mean)^2) + epsilon) * gamma + beta, the way tfjs computes it.
 */
export const layerNormalization: Converter = (b, layer, inputs, outputShapes) => {
  const x = one(inputs, layer);
  const cfg = configOf(layer);
  lastAxisOnly(layer, cfg.axis, x.shape.length);
  const epsilon = (cfg.epsilon as number | undefined) ?? 1e-3;
  const axis = b.storedAxis(x, -1);
  const n = layer.name;
  const mean = b.op('ReduceMean', [x.name], `${n}/mean`, { axes: [axis], keepdims: 1 });
  const centred = b.op('Sub', [x.name, mean], `${n}/centred`);
  const variance = b.op('ReduceMean', [b.op('Mul', [centred, centred], `${n}/squared`)], `${n}/variance`, { axes: [axis], keepdims: 1 });
  const std = b.op('Sqrt', [b.op('Add', [variance, b.scalar(`${n}/epsilon`, epsilon)], `${n}/variance_eps`)], `${n}/std`);
  let y = b.op('Div', [centred, std], cfg.scale === false && cfg.center === false ? n : `${n}/normalised`);
  const gamma = weightOf(layer, 'gamma');
  const beta = weightOf(layer, 'beta');
  if (gamma) y = b.op('Mul', [y, channelConstant(b, x, `${n}/gamma`, gamma.data)], beta ? `${n}/scaled` : n);
  if (beta) y = b.op('Add', [y, channelConstant(b, x, `${n}/beta`, beta.data)], n);
  return [{ name: y, shape: outputShapes[0], nchw: x.nchw }];
};

/** Keras Normalization: (x - mean) / max(sqrt(variance), 1e-7) per channel, with the statistics folded into constants. */
export const normalization: Converter = (b, layer, inputs, outputShapes) => {
  const x = one(inputs, layer);
  const stats = (layer as unknown as { statistics?: (rank: number) => { mean: number[]; variance: number[] } }).statistics;
  if (!stats) throw unsupported(layer, "a Normalization layer that is not tlkit's");
  const cfg = configOf(layer);
  if (cfg.invert) throw unsupported(layer, 'invert: true');
  lastAxisOnly(layer, cfg.axis, x.shape.length);
  const { mean, variance } = stats.call(layer, x.shape.length);
  const channels = x.shape[x.shape.length - 1] as number;
  const widen = (v: number[]) => (v.length === 1 ? Array<number>(channels).fill(v[0]) : v);
  const m = Float32Array.from(widen(mean));
  const inv = Float32Array.from(widen(variance).map((v) => 1 / Math.max(Math.sqrt(v), 1e-7)));
  const centred = b.op('Sub', [x.name, channelConstant(b, x, `${layer.name}/mean`, m)], `${layer.name}/centred`);
  const y = b.op('Mul', [centred, channelConstant(b, x, `${layer.name}/inv_std`, inv)], layer.name);
  return [{ name: y, shape: outputShapes[0], nchw: x.nchw }];
};

/** ConvNeXt's LayerScale: x * gamma over the channels. */
export const layerScale: Converter = (b, layer, inputs, outputShapes) => {
  const x = one(inputs, layer);
  const gamma = weightOf(layer, 'gamma');
  if (!gamma) throw unsupported(layer, 'a LayerScale without gamma');
  return [
    {
      name: b.op('Mul', [x.name, channelConstant(b, x, `${layer.name}/gamma`, gamma.data)], layer.name),
      shape: outputShapes[0],
      nchw: x.nchw,
    },
  ];
};
