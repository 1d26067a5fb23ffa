import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { RunMeta } from '../run/meta.js';

/** The Teachable Machine package the tm export is tested with, and the TensorFlow.js it pins. */
export const TM_PACKAGE = '@teachablemachine/image';
export const TM_PACKAGE_VERSION = '0.8.5';
export const TM_TFJS_VERSION = '1.3.1';

/**
 * How @teachablemachine/image 0.8.5 prepares an image, and how to make it see tlkit's pixels.
 * Its predict(image) draws the image onto an imageSize x imageSize canvas (scaled so the
 * shorter side is imageSize, rounded up, centre-cropped, with canvas drawImage), reads it
 * with tf.browser.fromPixels and feeds pixel / 127 - 1.
 */
export const TM_FEED_NOTE =
  "@teachablemachine/image's predict(image) centre-crops to a square and resizes with canvas drawImage, which gives other pixels than tlkit " +
  "(measured: 2.4e-2 in probability with a MobileNet run). To get tlkit predict's probabilities, give it a canvas already imageSize x imageSize " +
  'holding the whole image resized with the rule above, rounded to 8 bits: its crop and draw are then a 1:1 copy, and it agrees with tlkit predict ' +
  'on those same pixels to 1e-7. Against the original photo the rounding alone costs up to 1.1e-4 (MobileNet run). TensorFlow.js 1.3.1, which the ' +
  "package runs on, has no halfPixelCenters in resizeBilinear: compute the resized pixels with a tfjs that has it (index.html's 4.22 does) or any resize implementing the rule.";

/** Formats of tfjs weights that tfjs 1.3.1 (the package's) decodes: float32, uint16 and uint8, not float16. */
export function tmReadsQuantization(mode: string | undefined): boolean {
  return mode === undefined || mode === 'uint8' || mode === 'uint16';
}

/**
 * Teachable Machine's image model: it feeds pixel / 127 - 1 of a square image and reads
 * one softmax probability per label. The run's model (RGB 0..255 in) is wrapped:
 * a fixed 1x1 convolution maps TM's input back to 0..255 (x * 127 + 127), and a
 * binary model's sigmoid p becomes [1 - p, p] through a fixed Dense(2). Only layers and
 * config keys that tfjs-layers 1.3.1 reads (tested with the package in Chromium).
 */
export function teachableMachineModel(model: tfl.LayersModel, meta: RunMeta): tfl.LayersModel {
  const [h, w] = meta.imageSize;
  const fixed = [
    tf.tidy(() => tf.reshape(tf.mul(tf.eye(3), 127), [1, 1, 3, 3])),
    tf.fill([3], 127),
    tf.tensor2d([[-1, 1]]),
    tf.tensor1d([1, 0]),
  ];
  try {
    const input = tfl.input({ shape: [h, w, 3], name: 'tm_input' });
    const back = tfl.layers
      .conv2d({ filters: 3, kernelSize: 1, name: 'tm_to_rgb_0_255', weights: [fixed[0], fixed[1]], trainable: false })
      .apply(input) as tfl.SymbolicTensor;
    let out = model.apply(back) as tfl.SymbolicTensor;
    if (meta.labelMode === 'binary') {
      out = tfl.layers
        .dense({ units: 2, name: 'tm_two_probabilities', weights: [fixed[2], fixed[3]], trainable: false })
        .apply(out) as tfl.SymbolicTensor;
    }
    return tfl.model({ inputs: input, outputs: out, name: 'tlkit_teachable_machine' });
  } finally {
    tf.dispose(fixed);
  }
}

/**
 * Teachable Machine's metadata.json: the keys a Teachable Machine export holds (what the
 * package's load() reads: labels, imageSize), tlkit's own metadata inside userMetadata.
 */
export function teachableMachineMetadata(meta: RunMeta, ours: { exportedAt: string }, runDir: string): Record<string, unknown> {
  return {
    tfjsVersion: tf.version_core,
    tmVersion: '2.4.10',
    packageVersion: TM_PACKAGE_VERSION,
    packageName: TM_PACKAGE,
    timeStamp: ours.exportedAt,
    userMetadata: { tlkit: ours },
    modelName: `tlkit-${path.basename(path.resolve(runDir))}`,
    labels: meta.classes,
    imageSize: meta.imageSize[0],
  };
}
