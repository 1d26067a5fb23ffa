import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import type { HeadPooling } from './options.js';
import { SeededDropout } from './seededDropout.js';

export interface HeadOptions {
  /** Number of classes: 2 -> Dense(1, sigmoid) + binary cross-entropy; k > 2 -> Dense(k, softmax) + categorical cross-entropy. */
  numClasses: number;
  /** Units of the hidden Dense layer. Default 256 (the book). 0 = no hidden layer. */
  units?: number;
  /** Dropout rate before the output layer. Default 0.5. */
  dropout?: number;
  /** How the base's feature map becomes a vector. Default 'flatten' (the book); 'avg' = GlobalAveragePooling2D. */
  pooling?: HeadPooling;
  /** Seeds the kernel initialisers and the dropout masks. */
  seed?: number;
}

/** Head layer names: distinct from every Keras base layer name, so base + head combine into one model. */
export const HEAD_LAYER_NAMES = { pool: 'head_pool', hidden: 'head_dense', dropout: 'head_dropout', output: 'head_output' } as const;

export function headLoss(numClasses: number): 'binaryCrossentropy' | 'categoricalCrossentropy' {
  return numClasses === 2 ? 'binaryCrossentropy' : 'categoricalCrossentropy';
}

/** Label encoding the head expects (Keras label_mode). */
export function headLabelMode(numClasses: number): 'binary' | 'categorical' {
  return numClasses === 2 ? 'binary' : 'categorical';
}

function checkOptions(o: HeadOptions): Required<HeadOptions> {
  const full = { units: 256, dropout: 0.5, pooling: 'flatten' as HeadPooling, seed: 1337, ...o };
  if (!Number.isInteger(full.numClasses) || full.numClasses < 2) {
    throw new UserError(`A classifier needs at least 2 classes, got ${full.numClasses}. Add a folder per class to the data dir.`);
  }
  if (!Number.isInteger(full.units) || full.units < 0) throw new UserError(`--head-units must be a whole number >= 0, got ${full.units}.`);
  if (!(full.dropout >= 0 && full.dropout < 1)) throw new UserError(`--dropout must be in [0, 1), got ${full.dropout}.`);
  if (full.pooling !== 'flatten' && full.pooling !== 'avg') throw new UserError(`--pooling must be flatten or avg, got "${full.pooling}".`);
  return full;
}

/**
 * Apply the book's head to `x` (the base's output):
 * Flatten -> Dense(256, relu) -> Dropout(0.5) -> Dense(1, sigmoid) (or Dense(k, softmax)).
 * Kernels use Keras's glorot_uniform, seeded; dropout is SeededDropout (training only).
 */
export function applyHead(x: tfl.SymbolicTensor, opts: HeadOptions): tfl.SymbolicTensor {
  const o = checkOptions(opts);
  const seed = o.seed;
  let y =
    o.pooling === 'avg'
      ? (tfl.layers.globalAveragePooling2d({ name: HEAD_LAYER_NAMES.pool }).apply(x) as tfl.SymbolicTensor)
      : x.shape.length > 2
        ? (tfl.layers.flatten({ name: HEAD_LAYER_NAMES.pool }).apply(x) as tfl.SymbolicTensor)
        : x;
  if (o.units > 0) {
    y = tfl.layers
      .dense({ name: HEAD_LAYER_NAMES.hidden, units: o.units, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' })
      .apply(y) as tfl.SymbolicTensor;
  }
  if (o.dropout > 0) y = new SeededDropout({ name: HEAD_LAYER_NAMES.dropout, rate: o.dropout, seed: seed + 1 }).apply(y) as tfl.SymbolicTensor;
  const binary = o.numClasses === 2;
  return tfl.layers
    .dense({
      name: HEAD_LAYER_NAMES.output,
      units: binary ? 1 : o.numClasses,
      activation: binary ? 'sigmoid' : 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 2 }),
      biasInitializer: 'zeros',
    })
    .apply(y) as tfl.SymbolicTensor;
}

/** The head as a model of its own, taking the base's features (shape without the batch axis). */
export function buildHeadModel(featureShape: number[], opts: HeadOptions): tfl.LayersModel {
  const input = tfl.input({ shape: featureShape, name: 'features' });
  return tfl.model({ inputs: input, outputs: applyHead(input, opts), name: 'head' });
}
