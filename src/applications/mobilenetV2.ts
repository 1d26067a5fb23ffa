import * as tfl from '@tensorflow/tfjs-layers';
import { conv2d, depthwiseConv2d, batchNormalization, dense, apply, applyBasePooling, classifierActivation } from './kerasLayers.js';
import { type ApplicationArgs, obtainInputShape, validateApplicationArgs, makeInput, sourceInputs, isRandomWeights } from './common.js';
import type { PreprocessMode } from './preprocess.js';
import { loadApplicationWeights } from '../weights/applicationWeights.js';
import { UserError } from '../errors.js';

export const MOBILENET_V2_PREPROCESSING: PreprocessMode = 'tf';
export const MOBILENET_V2_DEFAULT_SIZE = 224;
export const MOBILENET_V2_MIN_SIZE = 32;
export const MOBILENET_V2_WEIGHT_SIZES = [96, 128, 160, 192, 224];
export const MOBILENET_V2_WEIGHT_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4];

export interface MobileNetV2Args extends ApplicationArgs {
  /** Width multiplier. Default 1.0. */
  alpha?: number;
}

// MobileNetV2 batch norms use a slower moving average than the Keras default.
const BN = { epsilon: 1e-3, momentum: 0.999 };

/** [filters, stride, expansion] of inverted residual blocks 0..16 (Keras `applications/mobilenet_v2.py`). */
const BLOCKS: Array<[number, 1 | 2, number]> = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/** Keras `_make_divisible`: round to a multiple of `divisor`, never more than 10% down. */
export function makeDivisible(v: number, divisor: number, minValue = divisor): number {
  let newV = Math.max(minValue, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (newV < 0.9 * v) newV += divisor;
  return newV;
}

/** Keras `imagenet_utils.correct_pad` for a 3x3 stride-2 conv: pad so the output is ceil(size / 2). */
function correctPad(x: tfl.SymbolicTensor): [[number, number], [number, number]] {
  const [h, w] = x.shape.slice(1, 3);
  const adjust = [h === null ? 1 : 1 - (h % 2), w === null ? 1 : 1 - (w % 2)];
  return [
    [1 - adjust[0], 1],
    [1 - adjust[1], 1],
  ];
}

function invertedResBlock(
  inputs: tfl.SymbolicTensor,
  expansion: number,
  stride: 1 | 2,
  alpha: number,
  filters: number,
  blockId: number,
): tfl.SymbolicTensor {
  const inChannels = inputs.shape[3] as number;
  const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha), 8);
  let x = inputs;
  let prefix = `block_${blockId}_`;
  if (blockId) {
    x = apply(conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` }), x);
    x = apply(batchNormalization({ ...BN, name: `${prefix}expand_BN` }), x);
    x = apply(tfl.layers.reLU({ maxValue: 6, name: `${prefix}expand_relu` }), x);
  } else {
    prefix = 'expanded_conv_';
  }
  if (stride === 2) x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(x), name: `${prefix}pad` }), x);
  x = apply(
    depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      useBias: false,
      padding: stride === 1 ? 'same' : 'valid',
      name: `${prefix}depthwise`,
    }),
    x,
  );
  x = apply(batchNormalization({ ...BN, name: `${prefix}depthwise_BN` }), x);
  x = apply(tfl.layers.reLU({ maxValue: 6, name: `${prefix}depthwise_relu` }), x);
  x = apply(conv2d({ filters: pointwiseFilters, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` }), x);
  x = apply(batchNormalization({ ...BN, name: `${prefix}project_BN` }), x);
  if (inChannels === pointwiseFilters && stride === 1) return apply(tfl.layers.add({ name: `${prefix}add` }), [inputs, x]);
  return x;
}

export function mobilenetV2WeightRows(shape: readonly (number | null)[], weights: string | null): number | null {
  const [rows, cols] = shape;
  if (weights === 'imagenet' && (rows !== cols || rows === null || !MOBILENET_V2_WEIGHT_SIZES.includes(rows))) return 224;
  return rows;
}

/** The MobileNetV2 graph with Keras's layer names and default initializers; no weights loaded. */
export function mobilenetV2Architecture(args: MobileNetV2Args = {}): tfl.LayersModel {
  validateApplicationArgs('mobilenet_v2', args);
  const alpha = args.alpha ?? 1.0;
  const includeTop = args.includeTop ?? true;
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  const given = args.inputShape ?? (args.inputTensor?.shape.slice(1) as never);
  let defaultSize = MOBILENET_V2_DEFAULT_SIZE;
  if (given && given[0] === given[1] && given[0] !== null && MOBILENET_V2_WEIGHT_SIZES.includes(given[0])) defaultSize = given[0];
  const shape = obtainInputShape('mobilenet_v2', given, defaultSize, MOBILENET_V2_MIN_SIZE, includeTop, weights);
  if (weights === 'imagenet' && !MOBILENET_V2_WEIGHT_ALPHAS.includes(alpha)) {
    throw new UserError(`mobilenet_v2: imagenet weights exist only for alpha ${MOBILENET_V2_WEIGHT_ALPHAS.join(', ')}, got ${alpha}.`);
  }
  const rows = mobilenetV2WeightRows(shape, weights);
  if (weights === 'imagenet' && rows !== shape[0]) {
    process.emitWarning(
      `mobilenet_v2: input shape ${shape.join('x')} is non-square or not one of ${MOBILENET_V2_WEIGHT_SIZES.join(', ')}; the weights for 224x224 are loaded.`,
    );
  }
  const input = makeInput(args, shape);

  let x = apply(
    conv2d({ filters: makeDivisible(32 * alpha, 8), kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' }),
    input,
  );
  x = apply(batchNormalization({ ...BN, name: 'bn_Conv1' }), x);
  x = apply(tfl.layers.reLU({ maxValue: 6, name: 'Conv1_relu' }), x);
  BLOCKS.forEach(([filters, stride, expansion], id) => {
    x = invertedResBlock(x, expansion, stride, alpha, filters, id);
  });
  const lastBlockFilters = alpha > 1.0 ? makeDivisible(1280 * alpha, 8) : 1280;
  x = apply(conv2d({ filters: lastBlockFilters, kernelSize: 1, useBias: false, name: 'Conv_1' }), x);
  x = apply(batchNormalization({ ...BN, name: 'Conv_1_bn' }), x);
  x = apply(tfl.layers.reLU({ maxValue: 6, name: 'out_relu' }), x);

  if (includeTop) {
    x = apply(tfl.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }), x);
    const act = classifierActivation(args.classifierActivation);
    x = apply(dense({ units: args.classes ?? 1000, activation: act as never, name: 'predictions' }), x);
  } else {
    x = applyBasePooling(x, args.pooling);
  }
  const inputs = args.inputTensor ? sourceInputs(args.inputTensor) : [input];
  return tfl.model({ inputs, outputs: x, name: args.name ?? `mobilenetv2_${alpha.toFixed(2)}_${rows === null ? 'None' : rows}` });
}

/** Keras `MobileNetV2(...)`: the architecture plus its weights ('imagenet' by default). */
export async function mobilenetV2(args: MobileNetV2Args = {}): Promise<tfl.LayersModel> {
  const model = mobilenetV2Architecture(args);
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  if (!isRandomWeights(weights)) {
    const rows = mobilenetV2WeightRows(model.inputs[0].shape.slice(1), weights);
    await loadApplicationWeights(model, weights as string, {
      family: 'mobilenet_v2',
      includeTop: args.includeTop ?? true,
      alpha: args.alpha ?? 1.0,
      rows: rows ?? 224,
    });
  }
  return model;
}
