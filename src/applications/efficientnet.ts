import * as tfl from '@tensorflow/tfjs-layers';
import { conv2d, depthwiseConv2d, batchNormalization, dense, apply, classifierActivation } from './kerasLayers.js';
import { type ApplicationArgs, obtainInputShape, validateApplicationArgs, makeInput, sourceInputs, isRandomWeights } from './common.js';
import type { PreprocessMode } from './preprocess.js';
import { Normalization } from '../layers/normalization.js';
import { loadApplicationWeights } from '../weights/applicationWeights.js';

/** EfficientNet rescales and normalises inside the model: it takes RGB 0..255 as is. */
export const EFFICIENTNET_B0_PREPROCESSING: PreprocessMode = 'none';
export const EFFICIENTNET_B0_DEFAULT_SIZE = 224;
export const EFFICIENTNET_MIN_SIZE = 32;

/** ImageNet RGB standard deviations (Keras `IMAGENET_STDDEV_RGB`). */
const IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225];

// Keras's EfficientNet initialisers: He-like truncated normal on fan-out for convolutions,
// a narrow uniform for the classifier.
const convInit = () => tfl.initializers.varianceScaling({ scale: 2.0, mode: 'fanOut', distribution: 'truncatedNormal' });
const denseInit = () => tfl.initializers.varianceScaling({ scale: 1.0 / 3.0, mode: 'fanOut', distribution: 'uniform' });

interface BlockArgs {
  kernelSize: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  idSkip: boolean;
  strides: 1 | 2;
  seRatio: number;
}

/** Keras `DEFAULT_BLOCKS_ARGS`: the seven stages of EfficientNet-B0. */
const DEFAULT_BLOCKS: BlockArgs[] = [
  { kernelSize: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, idSkip: true, strides: 1, seRatio: 0.25 },
  { kernelSize: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, idSkip: true, strides: 1, seRatio: 0.25 },
  { kernelSize: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, idSkip: true, strides: 2, seRatio: 0.25 },
  { kernelSize: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, idSkip: true, strides: 1, seRatio: 0.25 },
];

/** Keras `imagenet_utils.correct_pad`: zero padding before a strided 'valid' conv so it acts like TF 'same' centred. */
export function correctPad(x: tfl.SymbolicTensor, kernelSize: number): [[number, number], [number, number]] {
  const [h, w] = x.shape.slice(1, 3);
  const adjust = [h === null || h === undefined ? 1 : 1 - (h % 2), w === null || w === undefined ? 1 : 1 - (w % 2)];
  const c = Math.floor(kernelSize / 2);
  return [
    [c - adjust[0], c],
    [c - adjust[1], c],
  ];
}

/** Keras `round_filters` with width coefficient `width` and divisor 8. */
function roundFilters(filters: number, width: number, divisor = 8): number {
  const scaled = filters * width;
  let f = Math.max(divisor, Math.floor(Math.trunc(scaled + divisor / 2) / divisor) * divisor);
  if (f < 0.9 * scaled) f += divisor;
  return Math.trunc(f);
}

/** Keras EfficientNet `block`: expand (1x1) -> depthwise -> squeeze-and-excite -> project (1x1) [-> drop -> add]. */
function mbConvBlock(
  inputs: tfl.SymbolicTensor,
  activation: string,
  dropRate: number,
  name: string,
  a: Omit<BlockArgs, 'repeats'>,
): tfl.SymbolicTensor {
  const filters = a.filtersIn * a.expandRatio;
  let x = inputs;
  if (a.expandRatio !== 1) {
    x = apply(
      conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: convInit(), name: `${name}expand_conv` }),
      x,
    );
    x = apply(batchNormalization({ name: `${name}expand_bn` }), x);
    x = apply(tfl.layers.activation({ activation: activation as never, name: `${name}expand_activation` }), x);
  }
  let convPad: 'same' | 'valid' = 'same';
  if (a.strides === 2) {
    x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(x, a.kernelSize), name: `${name}dwconv_pad` }), x);
    convPad = 'valid';
  }
  x = apply(
    depthwiseConv2d({
      kernelSize: a.kernelSize,
      strides: a.strides,
      padding: convPad,
      useBias: false,
      depthwiseInitializer: convInit(),
      name: `${name}dwconv`,
    }),
    x,
  );
  x = apply(batchNormalization({ name: `${name}bn` }), x);
  x = apply(tfl.layers.activation({ activation: activation as never, name: `${name}activation` }), x);
  if (a.seRatio > 0 && a.seRatio <= 1) {
    const filtersSe = Math.max(1, Math.trunc(a.filtersIn * a.seRatio));
    let se = apply(tfl.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
    se = apply(tfl.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }), se);
    se = apply(
      conv2d({
        filters: filtersSe,
        kernelSize: 1,
        padding: 'same',
        activation: activation as never,
        kernelInitializer: convInit(),
        name: `${name}se_reduce`,
      }),
      se,
    );
    se = apply(
      conv2d({ filters, kernelSize: 1, padding: 'same', activation: 'sigmoid', kernelInitializer: convInit(), name: `${name}se_expand` }),
      se,
    );
    x = apply(tfl.layers.multiply({ name: `${name}se_excite` }), [x, se]);
  }
  x = apply(
    conv2d({
      filters: a.filtersOut,
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      kernelInitializer: convInit(),
      name: `${name}project_conv`,
    }),
    x,
  );
  x = apply(batchNormalization({ name: `${name}project_bn` }), x);
  if (a.idSkip && a.strides === 1 && a.filtersIn === a.filtersOut) {
    if (dropRate > 0) x = apply(tfl.layers.dropout({ rate: dropRate, noiseShape: [null, 1, 1, 1] as never, name: `${name}drop` }), x);
    x = apply(tfl.layers.add({ name: `${name}add` }), [x, inputs]);
  }
  return x;
}

interface EfficientNetConfig {
  width: number;
  depth: number;
  defaultSize: number;
  dropoutRate: number;
  dropConnectRate: number;
  name: string;
  family: string;
}

const B0: EfficientNetConfig = {
  width: 1.0,
  depth: 1.0,
  defaultSize: EFFICIENTNET_B0_DEFAULT_SIZE,
  dropoutRate: 0.2,
  dropConnectRate: 0.2,
  name: 'efficientnetb0',
  family: 'efficientnet_b0',
};

/** Keras `EfficientNet(...)` for one configuration, graph only. */
function efficientNet(cfg: EfficientNetConfig, args: ApplicationArgs): tfl.LayersModel {
  validateApplicationArgs(cfg.family, args);
  const includeTop = args.includeTop ?? true;
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  const shape = obtainInputShape(
    cfg.family,
    args.inputShape ?? (args.inputTensor?.shape.slice(1) as never),
    cfg.defaultSize,
    EFFICIENTNET_MIN_SIZE,
    includeTop,
    weights,
  );
  const input = makeInput(args, shape);
  const activation = 'swish';

  let x = apply(tfl.layers.rescaling({ scale: 1.0 / 255.0, name: 'rescaling' }), input);
  x = apply(new Normalization({ axis: 3, name: 'normalization' }), x);
  if (weights === 'imagenet') {
    // Keras: the published statistics hold the standard deviation where the variance belongs,
    // so the ImageNet model divides once more by its square root.
    x = apply(tfl.layers.rescaling({ scale: IMAGENET_STDDEV_RGB.map((s) => 1 / Math.sqrt(s)) as never, name: 'rescaling_1' }), x);
  }
  x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(x, 3), name: 'stem_conv_pad' }), x);
  x = apply(
    conv2d({
      filters: roundFilters(32, cfg.width),
      kernelSize: 3,
      strides: 2,
      padding: 'valid',
      useBias: false,
      kernelInitializer: convInit(),
      name: 'stem_conv',
    }),
    x,
  );
  x = apply(batchNormalization({ name: 'stem_bn' }), x);
  x = apply(tfl.layers.activation({ activation: activation as never, name: 'stem_activation' }), x);

  const roundRepeats = (r: number) => Math.ceil(cfg.depth * r);
  const total = DEFAULT_BLOCKS.reduce((n, a) => n + roundRepeats(a.repeats), 0);
  let b = 0;
  DEFAULT_BLOCKS.forEach((block, i) => {
    const filtersOut = roundFilters(block.filtersOut, cfg.width);
    let filtersIn = roundFilters(block.filtersIn, cfg.width);
    let strides = block.strides;
    for (let j = 0; j < roundRepeats(block.repeats); j++) {
      if (j > 0) {
        strides = 1;
        filtersIn = filtersOut;
      }
      x = mbConvBlock(x, activation, (cfg.dropConnectRate * b) / total, `block${i + 1}${String.fromCharCode(97 + j)}_`, {
        ...block,
        filtersIn,
        filtersOut,
        strides,
      });
      b += 1;
    }
  });

  x = apply(
    conv2d({
      filters: roundFilters(1280, cfg.width),
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      kernelInitializer: convInit(),
      name: 'top_conv',
    }),
    x,
  );
  x = apply(batchNormalization({ name: 'top_bn' }), x);
  x = apply(tfl.layers.activation({ activation: activation as never, name: 'top_activation' }), x);
  if (includeTop) {
    x = apply(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
    if (cfg.dropoutRate > 0) x = apply(tfl.layers.dropout({ rate: cfg.dropoutRate, name: 'top_dropout' }), x);
    const act = classifierActivation(args.classifierActivation);
    x = apply(dense({ units: args.classes ?? 1000, activation: act as never, kernelInitializer: denseInit(), name: 'predictions' }), x);
  } else if (args.pooling === 'avg') {
    x = apply(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
  } else if (args.pooling === 'max') {
    x = apply(tfl.layers.globalMaxPooling2d({ name: 'max_pool' }), x);
  }
  const inputs = args.inputTensor ? sourceInputs(args.inputTensor) : [input];
  return tfl.model({ inputs, outputs: x, name: args.name ?? cfg.name });
}

/** The EfficientNetB0 graph with Keras's layer names and initialisers; no weights loaded. */
export function efficientnetB0Architecture(args: ApplicationArgs = {}): tfl.LayersModel {
  return efficientNet(B0, args);
}

/** Keras `EfficientNetB0(...)`: the architecture plus its weights ('imagenet' by default). */
export async function efficientnetB0(args: ApplicationArgs = {}): Promise<tfl.LayersModel> {
  const model = efficientnetB0Architecture(args);
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  if (!isRandomWeights(weights)) {
    await loadApplicationWeights(model, weights as string, { family: 'efficientnet_b0', includeTop: args.includeTop ?? true });
  }
  return model;
}
