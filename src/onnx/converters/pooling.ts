import { spatialPadding } from './padding.js';
import { configOf, one, pair, requireChannelsLast, type Converter } from './types.js';

function pooling(opType: 'MaxPool' | 'AveragePool'): Converter {
  return (b, layer, inputs, outputShapes) => {
    requireChannelsLast(layer);
    const cfg = configOf(layer);
    const kernel = pair(cfg.poolSize ?? 2, 'poolSize', layer);
    // Keras: strides default to the pool size.
    const strides = pair(cfg.strides ?? kernel, 'strides', layer);
    const x = one(inputs, layer);
    const xin = b.asNchw(x);
    const attrs: Record<string, number | number[] | string | undefined> = {
      kernel_shape: kernel,
      strides,
      ...spatialPadding(cfg.padding ?? 'valid', x, kernel, strides, [1, 1], layer),
    };
    // TF's 'same' average pooling divides by the number of real pixels under the window.
    if (opType === 'AveragePool') attrs.count_include_pad = 0;
    return [{ name: b.op(opType, [xin.name], layer.name, attrs), shape: outputShapes[0], nchw: true }];
  };
}

export const maxPooling2d = pooling('MaxPool');
export const averagePooling2d = pooling('AveragePool');

function globalPooling(opType: 'GlobalAveragePool' | 'GlobalMaxPool'): Converter {
  return (b, layer, inputs, outputShapes) => {
    requireChannelsLast(layer);
    const xin = b.asNchw(one(inputs, layer));
    const pooled = b.op(opType, [xin.name], `${layer.name}/pool`);
    const outShape = outputShapes[0];
    if (outShape.length === 4) return [{ name: pooled, shape: outShape, nchw: true }]; // keepdims
    return [{ name: b.op('Flatten', [pooled], layer.name, { axis: 1 }), shape: outShape, nchw: false }];
  };
}

export const globalAveragePooling2d = globalPooling('GlobalAveragePool');
export const globalMaxPooling2d = globalPooling('GlobalMaxPool');
