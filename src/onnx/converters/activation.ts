import type { GraphBuilder, Value } from '../graphBuilder.js';
import { configOf, one, unsupported, type Converter, type Layer } from './types.js';

/**
 * Apply a tfjs activation by its serialised name (`relu`, `relu6`, `softmax`...),
 * as fused into Conv2D/Dense or standalone in an Activation layer.
 */
export function applyActivation(b: GraphBuilder, v: Value, activation: string, hint: string, layer: Layer): Value {
  const same = (name: string): Value => ({ ...v, name });
  const x = v.name;
  switch (activation) {
    case 'linear':
      return v;
    case 'relu':
      return same(b.op('Relu', [x], hint));
    case 'relu6':
      return same(b.op('Clip', [x, b.scalar(`${hint}/min`, 0), b.scalar(`${hint}/max`, 6)], hint));
    case 'sigmoid':
      return same(b.op('Sigmoid', [x], hint));
    case 'tanh':
      return same(b.op('Tanh', [x], hint));
    case 'softmax':
      return same(b.op('Softmax', [x], hint, { axis: b.storedAxis(v, -1) }));
    case 'logSoftmax':
      return same(b.op('LogSoftmax', [x], hint, { axis: b.storedAxis(v, -1) }));
    case 'elu':
      return same(b.op('Elu', [x], hint, { alpha: { float: 1 } }));
    case 'selu':
      // ONNX Selu's default alpha/gamma are the same constants tfjs uses.
      return same(b.op('Selu', [x], hint));
    case 'softplus':
      return same(b.op('Softplus', [x], hint));
    case 'softsign':
      return same(b.op('Softsign', [x], hint));
    case 'hardSigmoid':
      // tfjs: clip(0.2 x + 0.5, 0, 1)
      return same(b.op('HardSigmoid', [x], hint, { alpha: { float: 0.2 }, beta: { float: 0.5 } }));
    case 'swish':
      return same(b.op('Mul', [x, b.op('Sigmoid', [x], `${hint}/sigmoid`)], hint));
    case 'mish': {
      const t = b.op('Tanh', [b.op('Softplus', [x], `${hint}/softplus`)], `${hint}/tanh`);
      return same(b.op('Mul', [x, t], hint));
    }
    case 'gelu': {
      // x * 0.5 * (1 + erf(x / sqrt 2)), as tfjs computes it
      const e = b.op('Erf', [b.op('Div', [x, b.scalar(`${hint}/sqrt2`, Math.SQRT2)], `${hint}/scaled`)], `${hint}/erf`);
      const cdf = b.op(
        'Mul',
        [b.op('Add', [e, b.scalar(`${hint}/one`, 1)], `${hint}/onePlus`), b.scalar(`${hint}/half`, 0.5)],
        `${hint}/cdf`,
      );
      return same(b.op('Mul', [x, cdf], hint));
    }
    default:
      throw unsupported(layer, `activation '${activation}'`);
  }
}

export const activationLayer: Converter = (b, layer, inputs) => {
  const activation = String(configOf(layer).activation);
  return [applyActivation(b, one(inputs, layer), activation, layer.name, layer)];
};

/** ReLU layer: max(x, 0), capped at maxValue when set (Keras' ReLU(6.) in MobileNetV2). */
export const reluLayer: Converter = (b, layer, inputs) => {
  const v = one(inputs, layer);
  const cfg = configOf(layer);
  const maxValue = cfg.maxValue as number | null | undefined;
  if (cfg.negativeSlope || cfg.threshold) throw unsupported(layer, 'negativeSlope/threshold');
  if (maxValue === null || maxValue === undefined) return [{ ...v, name: b.op('Relu', [v.name], layer.name) }];
  const clipped = b.op('Clip', [v.name, b.scalar(`${layer.name}/min`, 0), b.scalar(`${layer.name}/max`, maxValue)], layer.name);
  return [{ ...v, name: clipped }];
};

export const leakyReluLayer: Converter = (b, layer, inputs) => {
  const v = one(inputs, layer);
  const alpha = (configOf(layer).alpha as number | undefined) ?? 0.3;
  return [{ ...v, name: b.op('LeakyRelu', [v.name], layer.name, { alpha: { float: alpha } }) }];
};

export const eluLayer: Converter = (b, layer, inputs) => {
  const v = one(inputs, layer);
  const alpha = (configOf(layer).alpha as number | undefined) ?? 1;
  return [{ ...v, name: b.op('Elu', [v.name], layer.name, { alpha: { float: alpha } }) }];
};

export const softmaxLayer: Converter = (b, layer, inputs) => {
  const v = one(inputs, layer);
  const axis = (configOf(layer).axis as number | undefined) ?? -1;
  return [{ ...v, name: b.op('Softmax', [v.name], layer.name, { axis: b.storedAxis(v, axis) }) }];
};
