import * as tfl from '@tensorflow/tfjs-layers';
import { conv2d, dense, apply, classifierActivation } from './kerasLayers.js';
import { type ApplicationArgs, obtainInputShape, validateApplicationArgs, makeInput, sourceInputs, isRandomWeights } from './common.js';
import type { PreprocessMode } from './preprocess.js';
import { Normalization } from '../layers/normalization.js';
import { LayerScale } from '../layers/layerScale.js';
import { StochasticDepth } from '../layers/stochasticDepth.js';
import { GroupedConv2D } from '../layers/groupedConv2d.js';
import { loadApplicationWeights } from '../weights/applicationWeights.js';

/** ConvNeXt normalises inside the model (its "prestem" Normalization): it takes RGB 0..255 as is. */
export const CONVNEXT_TINY_PREPROCESSING: PreprocessMode = 'none';
export const CONVNEXT_TINY_DEFAULT_SIZE = 224;
export const CONVNEXT_MIN_SIZE = 32;

export interface ConvNeXtArgs extends ApplicationArgs {
  /** Put the ImageNet mean/std Normalization ("prestem") inside the model. Default true (Keras); with 3 input channels only. */
  includePreprocessing?: boolean;
}

interface ConvNeXtConfig {
  depths: number[];
  projectionDims: number[];
  dropPathRate: number;
  layerScaleInitValue: number;
  defaultSize: number;
  name: string;
  family: string;
}

/** Keras `MODEL_CONFIGS["tiny"]` with ConvNeXtTiny's fixed settings. */
const TINY: ConvNeXtConfig = {
  depths: [3, 3, 9, 3],
  projectionDims: [96, 192, 384, 768],
  dropPathRate: 0.0,
  layerScaleInitValue: 1e-6,
  defaultSize: CONVNEXT_TINY_DEFAULT_SIZE,
  name: 'convnext_tiny',
  family: 'convnext_tiny',
};

const EPS = 1e-6;
const layerNorm = (name?: string) => tfl.layers.layerNormalization({ epsilon: EPS, ...(name ? { name } : {}) });

/** A nested Sequential of `layers` applied to `x` (Keras builds the stem and the downsampling blocks so). */
function sequentialOn(x: tfl.SymbolicTensor, layers: tfl.layers.Layer[], name: string): tfl.SymbolicTensor {
  const inner = tfl.sequential({ name });
  inner.add(tfl.layers.inputLayer({ batchInputShape: x.shape as number[], name: `${name}_input` }));
  for (const l of layers) inner.add(l);
  return apply(inner, x);
}

/** Keras `ConvNeXtBlock`: 7x7 depthwise -> LayerNorm -> Dense x4 -> GELU -> Dense -> LayerScale [-> StochasticDepth] + input. */
function convnextBlock(
  inputs: tfl.SymbolicTensor,
  dim: number,
  dropPathRate: number,
  layerScaleInit: number | null,
  name: string,
  addName: string,
): tfl.SymbolicTensor {
  let x = apply(new GroupedConv2D({ filters: dim, kernelSize: 7, padding: 'same', groups: dim, name: `${name}_depthwise_conv` }), inputs);
  x = apply(layerNorm(`${name}_layernorm`), x);
  x = apply(dense({ units: 4 * dim, name: `${name}_pointwise_conv_1` }), x);
  x = apply(tfl.layers.activation({ activation: 'gelu' as never, name: `${name}_gelu` }), x);
  x = apply(dense({ units: dim, name: `${name}_pointwise_conv_2` }), x);
  if (layerScaleInit !== null)
    x = apply(new LayerScale({ initValues: layerScaleInit, projectionDim: dim, name: `${name}_layer_scale` }), x);
  const last = dropPathRate
    ? new StochasticDepth({ dropPathRate, name: `${name}_stochastic_depth` })
    : tfl.layers.activation({ activation: 'linear', name: `${name}_identity` });
  // Keras writes `inputs + layer(x)`: an Add operation auto-named add, add_1, ...
  return apply(tfl.layers.add({ name: addName }), [inputs, apply(last, x)]);
}

function convNeXt(cfg: ConvNeXtConfig, args: ConvNeXtArgs): tfl.LayersModel {
  validateApplicationArgs(cfg.family, args);
  const includeTop = args.includeTop ?? true;
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  const shape = obtainInputShape(
    cfg.family,
    args.inputShape ?? (args.inputTensor?.shape.slice(1) as never),
    cfg.defaultSize,
    CONVNEXT_MIN_SIZE,
    includeTop,
    weights,
  );
  const input = makeInput(args, shape);
  const name = cfg.name;

  let x = input;
  if ((args.includePreprocessing ?? true) && shape[2] === 3) {
    x = apply(
      new Normalization({
        mean: [0.485 * 255, 0.456 * 255, 0.406 * 255],
        variance: [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2],
        name: `${name}_prestem_normalization`,
      }),
      x,
    );
  }
  const dims = cfg.projectionDims;
  const totalBlocks = cfg.depths.reduce((a, b) => a + b, 0);
  const dropRates = Array.from({ length: totalBlocks }, (_, i) => (totalBlocks > 1 ? (cfg.dropPathRate * i) / (totalBlocks - 1) : 0));
  let cur = 0;
  let adds = 0;
  for (let i = 0; i < 4; i++) {
    x =
      i === 0
        ? sequentialOn(
            x,
            [conv2d({ filters: dims[0], kernelSize: 4, strides: 4, name: `${name}_stem_conv` }), layerNorm(`${name}_stem_layernorm`)],
            `${name}_stem`,
          )
        : sequentialOn(
            x,
            [
              layerNorm(`${name}_downsampling_layernorm_${i - 1}`),
              conv2d({ filters: dims[i], kernelSize: 2, strides: 2, name: `${name}_downsampling_conv_${i - 1}` }),
            ],
            `${name}_downsampling_block_${i - 1}`,
          );
    for (let j = 0; j < cfg.depths[i]; j++) {
      x = convnextBlock(
        x,
        dims[i],
        dropRates[cur + j],
        cfg.layerScaleInitValue,
        `${name}_stage_${i}_block_${j}`,
        adds === 0 ? 'add' : `add_${adds}`,
      );
      adds += 1;
    }
    cur += cfg.depths[i];
  }

  if (includeTop) {
    x = apply(tfl.layers.globalAveragePooling2d({ name: `${name}_head_gap` }), x);
    x = apply(layerNorm(`${name}_head_layernorm`), x);
    const act = classifierActivation(args.classifierActivation);
    x = apply(dense({ units: args.classes ?? 1000, activation: act as never, name: `${name}_head_dense` }), x);
  } else {
    if (args.pooling === 'avg') x = apply(tfl.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }), x);
    else if (args.pooling === 'max') x = apply(tfl.layers.globalMaxPooling2d({ name: 'global_max_pooling2d' }), x);
    x = apply(layerNorm('layer_normalization'), x);
  }
  const inputs = args.inputTensor ? sourceInputs(args.inputTensor) : [input];
  return tfl.model({ inputs, outputs: x, name: args.name ?? name });
}

/** The ConvNeXtTiny graph with Keras's layer names and initialisers; no weights loaded. */
export function convnextTinyArchitecture(args: ConvNeXtArgs = {}): tfl.LayersModel {
  return convNeXt(TINY, args);
}

/** Keras `ConvNeXtTiny(...)`: the architecture plus its weights ('imagenet' by default). */
export async function convnextTiny(args: ConvNeXtArgs = {}): Promise<tfl.LayersModel> {
  const model = convnextTinyArchitecture(args);
  const weights = args.weights === undefined ? 'imagenet' : args.weights;
  if (!isRandomWeights(weights)) {
    await loadApplicationWeights(model, weights as string, { family: 'convnext_tiny', includeTop: args.includeTop ?? true });
  }
  return model;
}
