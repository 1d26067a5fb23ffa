import * as tfl from '@tensorflow/tfjs-layers';

// tfjs-layers defaults differ from Keras in places (conv/dense kernels default to
// glorotNormal in tfjs, glorot_uniform in Keras). These wrappers pin the Keras
// defaults so a randomly initialised model matches a Keras one in distribution.

type Conv2DArgs = Parameters<typeof tfl.layers.conv2d>[0];
type DepthwiseArgs = Parameters<typeof tfl.layers.depthwiseConv2d>[0];
type DenseArgs = Parameters<typeof tfl.layers.dense>[0];
type BatchNormArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;

export function conv2d(args: Conv2DArgs): tfl.layers.Layer {
  return tfl.layers.conv2d({ kernelInitializer: 'glorotUniform', biasInitializer: 'zeros', ...args });
}

export function depthwiseConv2d(args: DepthwiseArgs): tfl.layers.Layer {
  return tfl.layers.depthwiseConv2d({ depthwiseInitializer: 'glorotUniform', biasInitializer: 'zeros', ...args });
}

export function dense(args: DenseArgs): tfl.layers.Layer {
  return tfl.layers.dense({ kernelInitializer: 'glorotUniform', biasInitializer: 'zeros', ...args });
}

/** Keras BatchNormalization defaults: axis -1, momentum 0.99, epsilon 1e-3. */
export function batchNormalization(args: BatchNormArgs): tfl.layers.Layer {
  return tfl.layers.batchNormalization({ axis: -1, momentum: 0.99, epsilon: 1e-3, ...args });
}

export function apply(layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor {
  return layer.apply(x) as tfl.SymbolicTensor;
}

/** Keras's `classifier_activation`: softmax unless given; null means linear (logits). */
export function classifierActivation(value: string | null | undefined): string {
  return value === undefined ? 'softmax' : (value ?? 'linear');
}

/** Keras's `pooling` for a base without its top: 'avg' or 'max' over the last feature map, else unchanged. */
export function applyBasePooling(x: tfl.SymbolicTensor, pooling: string | null | undefined): tfl.SymbolicTensor {
  if (pooling === 'avg') return apply(tfl.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }), x);
  if (pooling === 'max') return apply(tfl.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' }), x);
  return x;
}
