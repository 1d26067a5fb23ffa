import { activationLayer, eluLayer, leakyReluLayer, reluLayer, softmaxLayer } from './activation.js';
import { conv2d, depthwiseConv2d, groupedConv2d, separableConv2d } from './conv.js';
import { layerNormalization, layerScale, normalization } from './layerNormalization.js';
// The custom layers these converters handle, registered so that saved models holding them load.
import '../../layers/index.js';
import { dense, flatten, identity, reshape, rescaling } from './core.js';
import { add, average, concatenate, maximum, minimum, multiply } from './merge.js';
import { batchNormalization } from './normalization.js';
import { zeroPadding2d } from './padding.js';
import { averagePooling2d, globalAveragePooling2d, globalMaxPooling2d, maxPooling2d } from './pooling.js';
import type { Converter } from './types.js';

/** One converter per tfjs layer class name. */
export const converters: Record<string, Converter> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  BatchNormalization: batchNormalization,
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyReluLayer,
  ELU: eluLayer,
  Softmax: softmaxLayer,
  ZeroPadding2D: zeroPadding2d,
  MaxPooling2D: maxPooling2d,
  AveragePooling2D: averagePooling2d,
  GlobalAveragePooling2D: globalAveragePooling2d,
  GlobalMaxPooling2D: globalMaxPooling2d,
  Add: add,
  Multiply: multiply,
  Average: average,
  Maximum: maximum,
  Minimum: minimum,
  Concatenate: concatenate,
  Dense: dense,
  Flatten: flatten,
  Reshape: reshape,
  Rescaling: rescaling,
  Dropout: identity,
  LayerNormalization: layerNormalization,
  Normalization: normalization,
  LayerScale: layerScale,
  StochasticDepth: identity,
  GroupedConv2D: groupedConv2d,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};

export type { Converter } from './types.js';
