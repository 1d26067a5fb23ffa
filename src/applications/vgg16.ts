import * as tfl from '@tensorflow/tfjs-layers';
import { conv2d, dense, apply, applyBasePooling, classifierActivation } from './kerasLayers.js';
import { type ApplicationArgs, obtainInputShape, validateApplicationArgs, makeInput, sourceInputs, isRandomWeights } from './common.js';
import type { PreprocessMode } from './preprocess.js';
import { loadApplicationWeights } from '../weights/applicationWeights.js';

export const VGG16_PREPROCESSING: PreprocessMode = 'caffe';
export const VGG16_DEFAULT_SIZE = 224;
export const VGG16_MIN_SIZE = 32;

/** Filters per block and convs per block, as in Keras `applications/vgg16.py`. */
const BLOCKS: Array<[filters: number, convs: number]> = [
  [64, 2],
  [128, 2],
  [256, 3],
  [512, 3],
  [512, 3],
];

/** The VGG16 graph with Keras's layer names and default initializers; no weights loaded. */
export function vgg16Architecture(args: ApplicationArgs = {}): tfl.LayersModel {
  validateApplicationArgs('vgg16', args);
  const includeTop = args.includeTop ?? true;
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  const shape = obtainInputShape(
    'vgg16',
    args.inputShape ?? (args.inputTensor?.shape.slice(1) as never),
    VGG16_DEFAULT_SIZE,
    VGG16_MIN_SIZE,
    includeTop,
    weights,
  );
  const input = makeInput(args, shape);

  let x = input;
  BLOCKS.forEach(([filters, convs], b) => {
    for (let c = 1; c <= convs; c++) {
      x = apply(conv2d({ filters, kernelSize: 3, activation: 'relu', padding: 'same', name: `block${b + 1}_conv${c}` }), x);
    }
    x = apply(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${b + 1}_pool` }), x);
  });

  if (includeTop) {
    x = apply(tfl.layers.flatten({ name: 'flatten' }), x);
    x = apply(dense({ units: 4096, activation: 'relu', name: 'fc1' }), x);
    x = apply(dense({ units: 4096, activation: 'relu', name: 'fc2' }), x);
    const act = classifierActivation(args.classifierActivation);
    x = apply(dense({ units: args.classes ?? 1000, activation: act as never, name: 'predictions' }), x);
  } else {
    x = applyBasePooling(x, args.pooling);
  }
  const inputs = args.inputTensor ? sourceInputs(args.inputTensor) : [input];
  return tfl.model({ inputs, outputs: x, name: args.name ?? 'vgg16' });
}

/** Keras `VGG16(...)`: the architecture plus its weights ('imagenet' by default). */
export async function vgg16(args: ApplicationArgs = {}): Promise<tfl.LayersModel> {
  const model = vgg16Architecture(args);
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  if (!isRandomWeights(weights)) {
    await loadApplicationWeights(model, weights as string, { family: 'vgg16', includeTop: args.includeTop ?? true });
  }
  return model;
}
