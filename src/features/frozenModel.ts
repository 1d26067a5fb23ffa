import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { preprocessingLayer } from '../applications/preprocess.js';
import type { ConvBase } from '../applications/loadBase.js';

/**
 * The network ONNX Runtime runs: raw RGB input -> preprocessing layer -> base.
 * The preprocessing is a fixed 1x1 conv (Engineer A's preprocessingLayer), so the
 * exporter needs no special case.
 */
export function frozenModel(base: ConvBase, imageSize: [number, number]): tfl.LayersModel {
  const [h, w] = [base.model.inputs[0].shape[1], base.model.inputs[0].shape[2]];
  if ((h !== null && h !== imageSize[0]) || (w !== null && w !== imageSize[1])) {
    throw new UserError(`The base ${base.source} takes ${h}x${w} images, but the image size asked for is ${imageSize[0]}x${imageSize[1]}. Load the base at that size (--image-size) or leave --image-size out.`);
  }
  const x = tfl.input({ shape: [imageSize[0], imageSize[1], 3], name: 'image' });
  const pre = preprocessingLayer(base.preprocessing).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: base.model.apply(pre) as tfl.SymbolicTensor, name: `${base.model.name}_frozen` });
}
