import * as tfl from '@tensorflow/tfjs-layers';
import { conv2d, depthwiseConv2d, batchNormalization, apply, applyBasePooling, classifierActivation } from './kerasLayers.js';
import { type ApplicationArgs, obtainInputShape, validateApplicationArgs, makeInput, sourceInputs, isRandomWeights } from './common.js';
import type { PreprocessMode } from './preprocess.js';
import { loadApplicationWeights } from '../weights/applicationWeights.js';
import { UserError } from '../errors.js';

export const MOBILENET_PREPROCESSING: PreprocessMode = 'tf';
export const MOBILENET_DEFAULT_SIZE = 224;
export const MOBILENET_MIN_SIZE = 32;
/** Sizes and widths Keras publishes ImageNet weights for. */
export const MOBILENET_WEIGHT_SIZES = [128, 160, 192, 224];
export const MOBILENET_WEIGHT_ALPHAS = [0.25, 0.5, 0.75, 1.0];

export interface MobileNetArgs extends ApplicationArgs {
  /** Width multiplier: filters of every layer scaled by alpha. Default 1.0. */
  alpha?: number;
  /** Depthwise channel multiplier (resolution multiplier in the paper). Default 1. */
  depthMultiplier?: number;
  /** Dropout rate before the classifier. Default 1e-3. */
  dropout?: number;
}

/** [pointwise filters, stride] of depthwise blocks 1..13 (Keras `applications/mobilenet.py`). */
const BLOCKS: Array<[number, 1 | 2]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/** The rows Keras uses in the model name and to pick the weight file (224 when the shape has no weights). */
export function mobilenetWeightRows(shape: readonly (number | null)[], weights: string | null): number | null {
  const [rows, cols] = shape;
  if (weights === 'imagenet' && (rows !== cols || rows === null || !MOBILENET_WEIGHT_SIZES.includes(rows))) return 224;
  return rows;
}

function resolveShape(args: MobileNetArgs, weights: string | null) {
  const given = args.inputShape ?? (args.inputTensor?.shape.slice(1) as never);
  let defaultSize = MOBILENET_DEFAULT_SIZE;
  if (given) {
    const [rows, cols] = given;
    if (rows === cols && rows !== null && MOBILENET_WEIGHT_SIZES.includes(rows)) defaultSize = rows;
  }
  return obtainInputShape('mobilenet', given, defaultSize, MOBILENET_MIN_SIZE, args.includeTop ?? true, weights);
}

/** The MobileNet (v1) graph with Keras 3's layer names and default initializers; no weights loaded. */
export function mobilenetArchitecture(args: MobileNetArgs = {}): tfl.LayersModel {
  validateApplicationArgs('mobilenet', args);
  const alpha = args.alpha ?? 1.0;
  const depthMultiplier = args.depthMultiplier ?? 1;
  const includeTop = args.includeTop ?? true;
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  const shape = resolveShape(args, weights);
  if (weights === 'imagenet') {
    if (depthMultiplier !== 1)
      throw new UserError(`mobilenet: imagenet weights exist only for depth multiplier 1, got ${depthMultiplier}.`);
    if (!MOBILENET_WEIGHT_ALPHAS.includes(alpha))
      throw new UserError(`mobilenet: imagenet weights exist only for alpha ${MOBILENET_WEIGHT_ALPHAS.join(', ')}, got ${alpha}.`);
  }
  const rows = mobilenetWeightRows(shape, weights);
  if (weights === 'imagenet' && rows !== shape[0]) {
    process.emitWarning(
      `mobilenet: input shape ${shape.join('x')} is non-square or not one of ${MOBILENET_WEIGHT_SIZES.join(', ')}; the weights for 224x224 are loaded.`,
    );
  }
  const input = makeInput(args, shape);

  let x = apply(
    conv2d({ filters: Math.trunc(32 * alpha), kernelSize: 3, padding: 'same', useBias: false, strides: 2, name: 'conv1' }),
    input,
  );
  x = apply(batchNormalization({ name: 'conv1_bn' }), x);
  x = apply(tfl.layers.reLU({ maxValue: 6, name: 'conv1_relu' }), x);

  BLOCKS.forEach(([filters, stride], i) => {
    const id = i + 1;
    if (stride === 2)
      x = apply(
        tfl.layers.zeroPadding2d({
          padding: [
            [0, 1],
            [0, 1],
          ],
          name: `conv_pad_${id}`,
        }),
        x,
      );
    x = apply(
      depthwiseConv2d({
        kernelSize: 3,
        padding: stride === 1 ? 'same' : 'valid',
        depthMultiplier,
        strides: stride,
        useBias: false,
        name: `conv_dw_${id}`,
      }),
      x,
    );
    x = apply(batchNormalization({ name: `conv_dw_${id}_bn` }), x);
    x = apply(tfl.layers.reLU({ maxValue: 6, name: `conv_dw_${id}_relu` }), x);
    x = apply(
      conv2d({ filters: Math.trunc(filters * alpha), kernelSize: 1, padding: 'same', useBias: false, strides: 1, name: `conv_pw_${id}` }),
      x,
    );
    x = apply(batchNormalization({ name: `conv_pw_${id}_bn` }), x);
    x = apply(tfl.layers.reLU({ maxValue: 6, name: `conv_pw_${id}_relu` }), x);
  });

  if (includeTop) {
    const classes = args.classes ?? 1000;
    // Keras uses GlobalAveragePooling2D(keepdims=True); tfjs's has no keepdims, so an
    // AveragePooling2D over the whole (static) map gives the same (None, 1, 1, C).
    const [h, w] = x.shape.slice(1, 3) as number[];
    x = apply(tfl.layers.averagePooling2d({ poolSize: [h, w], strides: [h, w], name: 'global_average_pooling2d' }), x);
    x = apply(tfl.layers.dropout({ rate: args.dropout ?? 1e-3, name: 'dropout' }), x);
    x = apply(conv2d({ filters: classes, kernelSize: 1, padding: 'same', name: 'conv_preds' }), x);
    x = apply(tfl.layers.reshape({ targetShape: [classes], name: 'reshape_2' }), x);
    const act = classifierActivation(args.classifierActivation);
    x = apply(tfl.layers.activation({ activation: act as never, name: 'predictions' }), x);
  } else {
    x = applyBasePooling(x, args.pooling);
  }
  const inputs = args.inputTensor ? sourceInputs(args.inputTensor) : [input];
  return tfl.model({ inputs, outputs: x, name: args.name ?? `mobilenet_${alpha.toFixed(2)}_${rows === null ? 'None' : rows}` });
}

/** Keras `MobileNet(...)`: the architecture plus its weights ('imagenet' by default). */
export async function mobilenet(args: MobileNetArgs = {}): Promise<tfl.LayersModel> {
  const model = mobilenetArchitecture(args);
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  if (!isRandomWeights(weights)) {
    const rows = mobilenetWeightRows(model.inputs[0].shape.slice(1), weights);
    await loadApplicationWeights(model, weights as string, {
      family: 'mobilenet',
      includeTop: args.includeTop ?? true,
      alpha: args.alpha ?? 1.0,
      rows: rows ?? 224,
    });
  }
  return model;
}
