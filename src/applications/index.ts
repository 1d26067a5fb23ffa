import type * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { closeMatches } from '../io/closeMatches.js';
import type { ApplicationArgs } from './common.js';
import type { PreprocessMode } from './preprocess.js';
import { vgg16, vgg16Architecture, VGG16_DEFAULT_SIZE, VGG16_MIN_SIZE, VGG16_PREPROCESSING } from './vgg16.js';
import {
  mobilenet,
  mobilenetArchitecture,
  type MobileNetArgs,
  MOBILENET_DEFAULT_SIZE,
  MOBILENET_MIN_SIZE,
  MOBILENET_PREPROCESSING,
} from './mobilenet.js';
import {
  mobilenetV2,
  mobilenetV2Architecture,
  type MobileNetV2Args,
  MOBILENET_V2_DEFAULT_SIZE,
  MOBILENET_V2_MIN_SIZE,
  MOBILENET_V2_PREPROCESSING,
} from './mobilenetV2.js';
import { resnet50, resnet50Architecture, RESNET50_DEFAULT_SIZE, RESNET50_MIN_SIZE, RESNET50_PREPROCESSING } from './resnet50.js';
import {
  efficientnetB0,
  efficientnetB0Architecture,
  EFFICIENTNET_B0_DEFAULT_SIZE,
  EFFICIENTNET_MIN_SIZE,
  EFFICIENTNET_B0_PREPROCESSING,
} from './efficientnet.js';
import {
  convnextTiny,
  convnextTinyArchitecture,
  type ConvNeXtArgs,
  CONVNEXT_TINY_DEFAULT_SIZE,
  CONVNEXT_MIN_SIZE,
  CONVNEXT_TINY_PREPROCESSING,
} from './convnext.js';
import '../layers/index.js'; // registers the custom layers (Normalization, LayerScale, ...) for saved models

export type FamilyName = 'vgg16' | 'mobilenet' | 'mobilenet_v2' | 'resnet50' | 'efficientnet_b0' | 'convnext_tiny';

/** Arguments any family accepts (the MobileNets read alpha and depthMultiplier, ConvNeXt includePreprocessing). */
export type FamilyArgs = ApplicationArgs & MobileNetArgs & MobileNetV2Args & ConvNeXtArgs;

export interface Family {
  /** Keras name in snake case, as on the command line. */
  name: FamilyName;
  /** Build the graph only (no weights loaded; random Keras-default init). */
  architecture(args: FamilyArgs): tfl.LayersModel;
  /** Build and load weights (args.weights: 'imagenet' default, 'none', or a .h5 path). */
  build(args: FamilyArgs): Promise<tfl.LayersModel>;
  preprocessing: PreprocessMode;
  defaultSize: number;
  minSize: number;
  /** The last layer of the conv base (include_top false, no pooling). */
  lastConvLayer: string;
  /** A layer name that only this family has, to recognise its weight files. */
  signatureLayers: string[];
  /**
   * The last layer that stays frozen by default when fine-tuning: every layer after it
   * (in the base's layer order) trains. VGG16's block5, as the book does; the last stage of
   * the newer families, as Keras's fine-tuning guides do. See defaultUnfreezeCount.
   */
  unfreezeAfter: string;
  /** What the default unfreeze point covers, in a few words (for tables and help). */
  unfreezeText: string;
  /** The preprocessing in a few words: Keras's preprocess_input mode, or that the model does it itself. */
  preprocessingText: string;
}

export const FAMILIES: Record<FamilyName, Family> = {
  vgg16: {
    name: 'vgg16',
    architecture: vgg16Architecture,
    build: vgg16,
    preprocessing: VGG16_PREPROCESSING,
    defaultSize: VGG16_DEFAULT_SIZE,
    minSize: VGG16_MIN_SIZE,
    lastConvLayer: 'block5_pool',
    signatureLayers: ['block1_conv1', 'block2_conv1'],
    unfreezeAfter: 'block4_pool',
    unfreezeText: 'block5',
    preprocessingText: 'caffe',
  },
  mobilenet: {
    name: 'mobilenet',
    architecture: mobilenetArchitecture,
    build: mobilenet,
    preprocessing: MOBILENET_PREPROCESSING,
    defaultSize: MOBILENET_DEFAULT_SIZE,
    minSize: MOBILENET_MIN_SIZE,
    lastConvLayer: 'conv_pw_13_relu',
    signatureLayers: ['conv_dw_1', 'conv_pw_1'],
    unfreezeAfter: 'conv_pw_11_relu',
    unfreezeText: 'blocks 12-13',
    preprocessingText: 'tf',
  },
  mobilenet_v2: {
    name: 'mobilenet_v2',
    architecture: mobilenetV2Architecture,
    build: mobilenetV2,
    preprocessing: MOBILENET_V2_PREPROCESSING,
    defaultSize: MOBILENET_V2_DEFAULT_SIZE,
    minSize: MOBILENET_V2_MIN_SIZE,
    lastConvLayer: 'out_relu',
    signatureLayers: ['expanded_conv_depthwise', 'block_1_expand'],
    unfreezeAfter: 'block_14_add',
    unfreezeText: 'blocks 15-16 + Conv_1',
    preprocessingText: 'tf',
  },
  resnet50: {
    name: 'resnet50',
    architecture: resnet50Architecture,
    build: resnet50,
    preprocessing: RESNET50_PREPROCESSING,
    defaultSize: RESNET50_DEFAULT_SIZE,
    minSize: RESNET50_MIN_SIZE,
    lastConvLayer: 'conv5_block3_out',
    signatureLayers: ['conv1_conv', 'conv2_block1_1_conv'],
    unfreezeAfter: 'conv4_block6_out',
    unfreezeText: 'stage conv5',
    preprocessingText: 'caffe',
  },
  efficientnet_b0: {
    name: 'efficientnet_b0',
    architecture: efficientnetB0Architecture,
    build: efficientnetB0,
    preprocessing: EFFICIENTNET_B0_PREPROCESSING,
    defaultSize: EFFICIENTNET_B0_DEFAULT_SIZE,
    minSize: EFFICIENTNET_MIN_SIZE,
    lastConvLayer: 'top_activation',
    signatureLayers: ['stem_conv', 'block1a_dwconv'],
    unfreezeAfter: 'block6d_add',
    unfreezeText: 'stage 7 + top_conv',
    preprocessingText: 'in model (Rescaling+Normalization)',
  },
  convnext_tiny: {
    name: 'convnext_tiny',
    architecture: convnextTinyArchitecture,
    build: convnextTiny,
    preprocessing: CONVNEXT_TINY_PREPROCESSING,
    defaultSize: CONVNEXT_TINY_DEFAULT_SIZE,
    minSize: CONVNEXT_MIN_SIZE,
    lastConvLayer: 'layer_normalization',
    signatureLayers: ['convnext_tiny_stem', 'convnext_tiny_stage_0_block_0_depthwise_conv'],
    unfreezeAfter: 'add_14',
    unfreezeText: 'stage 3 + final LayerNorm',
    preprocessingText: 'in model (Normalization)',
  },
};

/**
 * How many layers at the end of `model` (a family's conv base) the family's default
 * unfreeze point covers: every layer after `unfreezeAfter`, in the base's layer order
 * (input excluded), the count `--unfreeze N` takes. Undefined when the model has no such
 * layer (another architecture) or it is the last one.
 */
export function defaultUnfreezeCount(model: tfl.LayersModel, family: FamilyName): number | undefined {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const cut = layers.findIndex((l) => l.name === FAMILIES[family].unfreezeAfter);
  return cut < 0 || cut === layers.length - 1 ? undefined : layers.length - 1 - cut;
}

export const FAMILY_NAMES = Object.keys(FAMILIES) as FamilyName[];

export function isFamilyName(name: string): name is FamilyName {
  return Object.hasOwn(FAMILIES, name);
}

/** The family called `name`, or a UserError listing the known ones (with a close match when there is one). */
export function getFamily(name: string): Family {
  const key = name.toLowerCase().replace(/-/g, '_');
  if (isFamilyName(key)) return FAMILIES[key];
  const aliases: Record<string, FamilyName> = {
    mobilenetv2: 'mobilenet_v2',
    mobilenet_v1: 'mobilenet',
    mobilenetv1: 'mobilenet',
    efficientnetb0: 'efficientnet_b0',
    convnexttiny: 'convnext_tiny',
    resnet_50: 'resnet50',
  };
  if (aliases[key.replace(/_/g, '')] || aliases[key]) return FAMILIES[aliases[key] ?? aliases[key.replace(/_/g, '')]];
  const close = closeMatches(key, FAMILY_NAMES);
  const hint = close.length ? ` Did you mean ${close.join(' or ')}?` : '';
  throw new UserError(`Unknown model family "${name}".${hint} Known families: ${FAMILY_NAMES.join(', ')} (Keras names in snake case).`);
}

export * from './preprocess.js';
export type { ApplicationArgs, InputShape } from './common.js';
