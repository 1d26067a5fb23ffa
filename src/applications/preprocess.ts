import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * Keras `imagenet_utils.preprocess_input` modes:
 * - caffe: RGB -> BGR, then subtract the ImageNet BGR means, no scaling (VGG16, ResNet50).
 * - tf: scale to [-1, 1] (x / 127.5 - 1) (MobileNet, MobileNetV2, Inception).
 * - torch: x / 255, subtract the ImageNet RGB means, divide by the RGB stds (DenseNet).
 * - none: identity (a model that preprocesses itself).
 */
export type PreprocessMode = 'caffe' | 'tf' | 'torch' | 'none';

export const PREPROCESS_MODES: readonly PreprocessMode[] = ['caffe', 'tf', 'torch', 'none'];

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];
const TORCH_MEAN_RGB = [0.485, 0.456, 0.406];
const TORCH_STD_RGB = [0.229, 0.224, 0.225];

/**
 * Preprocess a batch of RGB images in 0..255 (channels last), as Keras does.
 * Works on any rank >= 1 whose last axis has 3 channels.
 */
export function preprocessInput(x: tf.Tensor, mode: PreprocessMode): tf.Tensor {
  return tf.tidy(() => {
    const xf = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    switch (mode) {
      case 'tf':
        return tf.sub(tf.div(xf, 127.5), 1);
      case 'torch':
        return tf.div(tf.sub(tf.div(xf, 255), tf.tensor1d(TORCH_MEAN_RGB)), tf.tensor1d(TORCH_STD_RGB));
      case 'caffe':
        return tf.add(tf.reverse(xf, -1), tf.tensor1d(CAFFE_MEAN_BGR.map((m) => -m)));
      case 'none':
        return tf.clone(xf);
    }
  });
}

/**
 * The preprocessing of `mode` as the weights of a 1x1 convolution from 3 to 3
 * channels: out[o] = sum_i kernel[i][o] * in[i] + bias[o]. Row-major [in][out].
 */
export function preprocessingAffine(mode: PreprocessMode): { kernel: number[][]; bias: number[] } {
  const kernel = [0, 1, 2].map(() => [0, 0, 0]);
  const bias = [0, 0, 0];
  for (let o = 0; o < 3; o++) {
    switch (mode) {
      case 'tf':
        kernel[o][o] = 1 / 127.5;
        bias[o] = -1;
        break;
      case 'torch':
        kernel[o][o] = 1 / (255 * TORCH_STD_RGB[o]);
        bias[o] = -TORCH_MEAN_RGB[o] / TORCH_STD_RGB[o];
        break;
      case 'caffe':
        // output channel o (B, G, R) reads input channel 2 - o (RGB reversed)
        kernel[2 - o][o] = 1;
        bias[o] = -CAFFE_MEAN_BGR[o];
        break;
      case 'none':
        kernel[o][o] = 1;
        break;
    }
  }
  return { kernel, bias };
}

/**
 * A frozen 1x1 Conv2D that does the preprocessing of `mode`, so a saved full model
 * (preprocessing + base + head) is a plain tfjs layers model that any browser loads,
 * and the ONNX exporter sees an ordinary convolution. It takes RGB 0..255.
 */
export function preprocessingLayer(mode: PreprocessMode, name = 'preprocess'): tfl.layers.Layer {
  const { kernel, bias } = preprocessingAffine(mode);
  return tfl.layers.conv2d({
    name,
    filters: 3,
    kernelSize: 1,
    useBias: true,
    trainable: false,
    weights: [tf.tensor4d(kernel.flat(), [1, 1, 3, 3]), tf.tensor1d(bias)],
  });
}
