import { applyActivation } from './activation.js';
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

/** Dense on the last axis: Gemm for [N, in], MatMul + Add for higher ranks (channels-last). */
export const dense: Converter = (b, layer, inputs, outputShapes) => {
  const x = b.asKeras(one(inputs, layer));
  const k = requireWeight(layer, 'kernel');
  const bias = weightOf(layer, 'bias');
  const [nIn, nOut] = k.shape;
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
  const activation = String(configOf(layer).activation ?? 'linear');
  return [applyActivation(b, { name: y, shape: outputShapes[0], nchw: false }, activation, `${layer.name}/activation`, layer)];
};

/** Rescaling: x * scale + offset. */
export const rescaling: Converter = (b, layer, inputs) => {
  const x = one(inputs, layer);
  const cfg = configOf(layer);
  const scale = cfg.scale as number;
  const offset = (cfg.offset as number | undefined) ?? 0;
  if (typeof scale !== 'number') throw unsupported(layer, `scale ${JSON.stringify(cfg.scale)} (a number is expected)`);
  const scaled = b.op('Mul', [x.name, b.scalar(`${layer.name}/scale`, scale)], `${layer.name}/scaled`);
  return [{ ...x, name: b.op('Add', [scaled, b.scalar(`${layer.name}/offset`, offset)], layer.name) }];
};
