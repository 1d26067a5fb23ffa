import * as tfl from '@tensorflow/tfjs-layers';
import { conv2d, batchNormalization, dense, apply, classifierActivation } from './kerasLayers.js';
import { type ApplicationArgs, obtainInputShape, validateApplicationArgs, makeInput, sourceInputs, isRandomWeights } from './common.js';
import type { PreprocessMode } from './preprocess.js';
import { loadApplicationWeights } from '../weights/applicationWeights.js';

export const RESNET50_PREPROCESSING: PreprocessMode = 'caffe';
export const RESNET50_DEFAULT_SIZE = 224;
export const RESNET50_MIN_SIZE = 32;

// Keras's ResNet batch norms use epsilon 1.001e-5 (momentum stays at the 0.99 default).
const BN = { epsilon: 1.001e-5 };

/** [stage name, bottleneck filters, blocks, stride of the first block] (Keras `ResNet50`'s stack_fn). */
const STAGES: Array<[string, number, number, 1 | 2]> = [
  ['conv2', 64, 3, 1],
  ['conv3', 128, 4, 2],
  ['conv4', 256, 6, 2],
  ['conv5', 512, 3, 2],
];

/** Keras `residual_block_v1`: 1x1 -> 3x3 -> 1x1 (x4 filters) bottleneck plus a shortcut, then ReLU. */
function residualBlock(x: tfl.SymbolicTensor, filters: number, stride: 1 | 2, convShortcut: boolean, name: string): tfl.SymbolicTensor {
  let shortcut = x;
  if (convShortcut) {
    shortcut = apply(conv2d({ filters: 4 * filters, kernelSize: 1, strides: stride, name: `${name}_0_conv` }), x);
    shortcut = apply(batchNormalization({ ...BN, name: `${name}_0_bn` }), shortcut);
  }
  let y = apply(conv2d({ filters, kernelSize: 1, strides: stride, name: `${name}_1_conv` }), x);
  y = apply(batchNormalization({ ...BN, name: `${name}_1_bn` }), y);
  y = apply(tfl.layers.activation({ activation: 'relu', name: `${name}_1_relu` }), y);
  y = apply(conv2d({ filters, kernelSize: 3, padding: 'same', name: `${name}_2_conv` }), y);
  y = apply(batchNormalization({ ...BN, name: `${name}_2_bn` }), y);
  y = apply(tfl.layers.activation({ activation: 'relu', name: `${name}_2_relu` }), y);
  y = apply(conv2d({ filters: 4 * filters, kernelSize: 1, name: `${name}_3_conv` }), y);
  y = apply(batchNormalization({ ...BN, name: `${name}_3_bn` }), y);
  y = apply(tfl.layers.add({ name: `${name}_add` }), [shortcut, y]);
  return apply(tfl.layers.activation({ activation: 'relu', name: `${name}_out` }), y);
}

/** The ResNet50 graph with Keras's layer names and default initializers; no weights loaded. */
export function resnet50Architecture(args: ApplicationArgs = {}): tfl.LayersModel {
  validateApplicationArgs('resnet50', args);
  const includeTop = args.includeTop ?? true;
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  const shape = obtainInputShape(
    'resnet50',
    args.inputShape ?? (args.inputTensor?.shape.slice(1) as never),
    RESNET50_DEFAULT_SIZE,
    RESNET50_MIN_SIZE,
    includeTop,
    weights,
  );
  const input = makeInput(args, shape);

  let x = apply(
    tfl.layers.zeroPadding2d({
      padding: [
        [3, 3],
        [3, 3],
      ],
      name: 'conv1_pad',
    }),
    input,
  );
  x = apply(conv2d({ filters: 64, kernelSize: 7, strides: 2, name: 'conv1_conv' }), x);
  x = apply(batchNormalization({ ...BN, name: 'conv1_bn' }), x);
  x = apply(tfl.layers.activation({ activation: 'relu', name: 'conv1_relu' }), x);
  x = apply(
    tfl.layers.zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
      name: 'pool1_pad',
    }),
    x,
  );
  x = apply(tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);
  for (const [stage, filters, blocks, stride] of STAGES) {
    x = residualBlock(x, filters, stride, true, `${stage}_block1`);
    for (let i = 2; i <= blocks; i++) x = residualBlock(x, filters, 1, false, `${stage}_block${i}`);
  }

  if (includeTop) {
    x = apply(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
    const act = classifierActivation(args.classifierActivation);
    x = apply(dense({ units: args.classes ?? 1000, activation: act as never, name: 'predictions' }), x);
  } else if (args.pooling === 'avg') {
    x = apply(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
  } else if (args.pooling === 'max') {
    x = apply(tfl.layers.globalMaxPooling2d({ name: 'max_pool' }), x);
  }
  const inputs = args.inputTensor ? sourceInputs(args.inputTensor) : [input];
  return tfl.model({ inputs, outputs: x, name: args.name ?? 'resnet50' });
}

/** Keras `ResNet50(...)`: the architecture plus its weights ('imagenet' by default). */
export async function resnet50(args: ApplicationArgs = {}): Promise<tfl.LayersModel> {
  const model = resnet50Architecture(args);
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  if (!isRandomWeights(weights)) {
    await loadApplicationWeights(model, weights as string, { family: 'resnet50', includeTop: args.includeTop ?? true });
  }
  return model;
}
