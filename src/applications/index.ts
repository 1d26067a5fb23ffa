import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { ApplicationArgs } from './common.js';
import { PreprocessMode } from './preprocess.js';
import { vgg16, vgg16Architecture, VGG16_DEFAULT_SIZE, VGG16_MIN_SIZE, VGG16_PREPROCESSING } from './vgg16.js';
import { mobilenet, mobilenetArchitecture, MobileNetArgs, MOBILENET_DEFAULT_SIZE, MOBILENET_MIN_SIZE, MOBILENET_PREPROCESSING } from './mobilenet.js';
import { mobilenetV2, mobilenetV2Architecture, MobileNetV2Args, MOBILENET_V2_DEFAULT_SIZE, MOBILENET_V2_MIN_SIZE, MOBILENET_V2_PREPROCESSING } from './mobilenetV2.js';

export type FamilyName = 'vgg16' | 'mobilenet' | 'mobilenet_v2';

/** Arguments any family accepts (the MobileNets read alpha and depthMultiplier). */
export type FamilyArgs = ApplicationArgs & MobileNetArgs & MobileNetV2Args;

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
  },
};

export const FAMILY_NAMES = Object.keys(FAMILIES) as FamilyName[];

export function isFamilyName(name: string): name is FamilyName {
  return Object.prototype.hasOwnProperty.call(FAMILIES, name);
}

/** The family called `name`, or a UserError listing the known ones (with a close match when there is one). */
export function getFamily(name: string): Family {
  const key = name.toLowerCase().replace(/-/g, '_');
  if (isFamilyName(key)) return FAMILIES[key];
  const aliases: Record<string, FamilyName> = { mobilenetv2: 'mobilenet_v2', mobilenet_v1: 'mobilenet', mobilenetv1: 'mobilenet' };
  if (aliases[key.replace(/_/g, '')] || aliases[key]) return FAMILIES[aliases[key] ?? aliases[key.replace(/_/g, '')]];
  const close = FAMILY_NAMES.filter((f) => editDistance(f, key) <= 2);
  const hint = close.length ? ` Did you mean ${close.join(' or ')}?` : '';
  throw new UserError(`Unknown model family "${name}".${hint} Known families: ${FAMILY_NAMES.join(', ')} (Keras names in snake case).`);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

export * from './preprocess.js';
export type { ApplicationArgs, InputShape } from './common.js';
