import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import type { TrainableHead } from '../ortTraining/trainableHead.js';
import type { LogitsTap } from '../ortTraining/trainingPlan.js';
import type { HeadActivation, HeadPooling } from '../run/meta.js';
import { SeededDropout } from './seededDropout.js';

export interface HeadOptions {
  /** Number of classes: 2 -> Dense(1, sigmoid) + binary cross-entropy; k > 2 -> Dense(k, softmax) + categorical cross-entropy. */
  numClasses: number;
  /** Any number of labels an image: Dense(k, sigmoid) + binary cross-entropy over the k outputs, even for k = 2. */
  multiLabel?: boolean;
  /** Units of the hidden Dense layer. Default 256 (the book). 0 = no hidden layer. */
  units?: number;
  /** Activation of the hidden Dense: 'linear' (the book's listing: `layers.Dense(256)`) or 'relu'. Default 'linear'. */
  activation?: HeadActivation;
  /** Dropout rate before the output layer. Default 0.5. */
  dropout?: number;
  /** How the base's feature map becomes a vector. Default 'flatten' (the book); 'avg' = GlobalAveragePooling2D. */
  pooling?: HeadPooling;
  /** Seeds the kernel initialisers and the dropout masks. */
  seed?: number;
}

/** Head layer names: distinct from every Keras base layer name, so base + head combine into one model. */
export const HEAD_LAYER_NAMES = {
  pool: 'head_pool',
  hidden: 'head_dense',
  dropout: 'head_dropout',
  output: 'head_output',
  activation: 'head_activation',
} as const;

export function headLoss(numClasses: number, multiLabel = false): 'binaryCrossentropy' | 'categoricalCrossentropy' {
  return numClasses === 2 || multiLabel ? 'binaryCrossentropy' : 'categoricalCrossentropy';
}

/** Label encoding the head expects (Keras label_mode; 'multi-label': multi-hot rows, one sigmoid a class). */
export function headLabelMode(numClasses: number, multiLabel = false): 'binary' | 'categorical' | 'multi-label' {
  if (multiLabel) return 'multi-label';
  return numClasses === 2 ? 'binary' : 'categorical';
}

/** Sigmoid units on the head's output: one for two classes, one a class for multi-label; 0 for a softmax. */
function sigmoidUnits(numClasses: number, multiLabel: boolean): number {
  return multiLabel ? numClasses : numClasses === 2 ? 1 : 0;
}

function checkOptions(o: HeadOptions): Required<HeadOptions> {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as HeadOptions;
  const full = {
    units: 256,
    activation: 'linear' as HeadActivation,
    dropout: 0.5,
    pooling: 'flatten' as HeadPooling,
    seed: 1337,
    multiLabel: false,
    ...given,
  };
  if (!Number.isInteger(full.numClasses) || full.numClasses < 2) {
    throw new UserError(`A classifier needs at least 2 classes, got ${full.numClasses}. Add a folder per class to the data dir.`);
  }
  if (!Number.isInteger(full.units) || full.units < 0) throw new UserError(`units must be a whole number >= 0, got ${full.units}.`);
  if (!(full.dropout >= 0 && full.dropout < 1)) throw new UserError(`dropout must be a number from 0 to below 1, got ${full.dropout}.`);
  if (full.pooling !== 'flatten' && full.pooling !== 'avg') throw new UserError(`pooling must be flatten or avg, got "${full.pooling}".`);
  if (full.activation !== 'linear' && full.activation !== 'relu')
    throw new UserError(`activation must be linear or relu, got "${full.activation}".`);
  return full;
}

/**
 * Apply the book's head to `x`, returning both the logits (output of the last Dense,
 * `head_output`, linear) and the probabilities (after `head_activation`: sigmoid or softmax).
 *
 * Train on the logits with headLossFromLogits: that is what Keras does under the hood
 * (its sigmoid/softmax outputs carry their logits into the cross-entropy), and it
 * matters: with probabilities, a saturated output (p rounds to 0 or 1) has a zero
 * gradient through tfjs's clipped cross-entropy and training gets stuck at loss 8.06.
 */
export function applyHeadWithLogits(
  x: tfl.SymbolicTensor,
  opts: HeadOptions,
): { logits: tfl.SymbolicTensor; probabilities: tfl.SymbolicTensor } {
  const o = checkOptions(opts);
  const seed = o.seed;
  // A base that ends in a vector (global pooling inside it, an ONNX embedding) is pooled already, whichever pooling.
  let y =
    x.shape.length <= 2
      ? x
      : o.pooling === 'avg'
        ? (tfl.layers.globalAveragePooling2d({ name: HEAD_LAYER_NAMES.pool }).apply(x) as tfl.SymbolicTensor)
        : (tfl.layers.flatten({ name: HEAD_LAYER_NAMES.pool }).apply(x) as tfl.SymbolicTensor);
  if (o.units > 0) {
    y = tfl.layers
      .dense({
        name: HEAD_LAYER_NAMES.hidden,
        units: o.units,
        activation: o.activation,
        kernelInitializer: tfl.initializers.glorotUniform({ seed }),
        biasInitializer: 'zeros',
      })
      .apply(y) as tfl.SymbolicTensor;
  }
  if (o.dropout > 0)
    y = new SeededDropout({ name: HEAD_LAYER_NAMES.dropout, rate: o.dropout, seed: seed + 1 }).apply(y) as tfl.SymbolicTensor;
  const sigmoid = sigmoidUnits(o.numClasses, o.multiLabel) > 0;
  const logits = tfl.layers
    .dense({
      name: HEAD_LAYER_NAMES.output,
      units: sigmoidUnits(o.numClasses, o.multiLabel) || o.numClasses,
      activation: 'linear',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 2 }),
      biasInitializer: 'zeros',
    })
    .apply(y) as tfl.SymbolicTensor;
  const probabilities = tfl.layers
    .activation({ name: HEAD_LAYER_NAMES.activation, activation: sigmoid ? 'sigmoid' : 'softmax' })
    .apply(logits) as tfl.SymbolicTensor;
  return { logits, probabilities };
}

/**
 * A head loss; it carries its label smoothing and whether it is multi-label, so that another
 * engine training the compiled model reads them (labelSmoothingOf, multiLabelOf).
 */
export type HeadLoss = ((yTrue: tf.Tensor, logits: tf.Tensor) => tf.Tensor) & {
  readonly labelSmoothing: number;
  readonly multiLabel: boolean;
  /** Multi-label: where each batch's targets and logits go as either engine trains or evaluates (an epoch's mAP). */
  readonly logitsTap?: LogitsTap;
};

/**
 * Keras's cross-entropy computed from logits (numerically stable, never a zero gradient from
 * clipping), with Keras's label smoothing: the targets become y (1 - ls) + ls / numClasses
 * (categorical) or y (1 - ls) + 0.5 ls (binary, one sigmoid unit). The accuracy still reads
 * the true labels. Multi-label: sigmoid cross-entropy of each of the k logits against the
 * multi-hot targets, the mean over the n k elements (Keras's binary_crossentropy).
 */
export function headLossFromLogits(numClasses: number, labelSmoothing = 0, multiLabel = false, logitsTap?: LogitsTap): HeadLoss {
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    throw new UserError(`label smoothing must be a number from 0 to below 1, got ${labelSmoothing}.`);
  // tfjs's losses smooth as Keras does; their default reduction is the mean over the batch.
  const loss =
    numClasses === 2 || multiLabel
      ? (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.sigmoidCrossEntropy(yTrue, logits, undefined, labelSmoothing)
      : (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, logits, undefined, labelSmoothing);
  return Object.assign(loss, { labelSmoothing, multiLabel, ...(logitsTap ? { logitsTap } : {}) });
}

/** The label smoothing a model was compiled with by compileHeadForTraining (0 for any other loss). */
export function labelSmoothingOf(model: tfl.LayersModel): number {
  const loss = model.loss as unknown as Partial<HeadLoss> | undefined;
  return typeof loss?.labelSmoothing === 'number' ? loss.labelSmoothing : 0;
}

/**
 * Accuracy on logits (threshold 0 for one unit, argmax otherwise), reported as `accuracy`.
 * Multi-label: Keras's binary_accuracy, each of the n k decisions at probability 0.5 (logit 0).
 */
export function headAccuracyFromLogits(
  numClasses: number,
  multiLabel = false,
  logitsTap?: LogitsTap,
): (yTrue: tf.Tensor, logits: tf.Tensor) => tf.Tensor {
  // tfjs names a metric function's log key after the function: `acc`, shown as `accuracy`.
  const acc =
    numClasses === 2 || multiLabel
      ? (yTrue: tf.Tensor, logits: tf.Tensor) => {
          // tfjs calls its metrics once a batch, training and evaluating: the tap sees the logits it computed anyway.
          if (logitsTap?.listener) logitsTap.listener(yTrue.dataSync() as Float32Array, logits.dataSync() as Float32Array);
          return tf.tidy(() => tf.mean(tf.cast(tf.equal(yTrue, tf.cast(tf.greater(logits, 0), 'float32')), 'float32'), -1));
        }
      : (yTrue: tf.Tensor, logits: tf.Tensor) => tf.tidy(() => tf.cast(tf.equal(tf.argMax(yTrue, -1), tf.argMax(logits, -1)), 'float32'));
  Object.defineProperty(acc, 'name', { value: 'acc' });
  return acc;
}

export interface HeadModels {
  /** Probabilities out: what is saved and predicts. */
  head: tfl.LayersModel;
  /** The same layers, logits out: what is trained. */
  logits: tfl.LayersModel;
}

/** The head on features, as the pair (probabilities model, logits model) sharing weights. */
export function buildHeadForTraining(featureShape: number[], opts: HeadOptions): HeadModels {
  const input = tfl.input({ shape: featureShape, name: 'features' });
  const { logits, probabilities } = applyHeadWithLogits(input, opts);
  return {
    head: tfl.model({ inputs: input, outputs: probabilities, name: 'head' }),
    logits: tfl.model({ inputs: input, outputs: logits, name: 'head_logits' }),
  };
}

/** Compile the logits model as Keras trains the head: optimizer, cross-entropy (label smoothing 0 by default), accuracy. */
export function compileHeadForTraining(
  logitsModel: tfl.LayersModel,
  numClasses: number,
  optimizer: tf.Optimizer,
  labelSmoothing = 0,
  multiLabel = false,
): void {
  const tap: LogitsTap | undefined = multiLabel ? {} : undefined;
  logitsModel.compile({
    optimizer,
    loss: headLossFromLogits(numClasses, labelSmoothing, multiLabel, tap),
    metrics: [headAccuracyFromLogits(numClasses, multiLabel, tap)],
  });
}

/**
 * Apply the book's head to `x` (the base's output):
 * Flatten -> Dense(256) -> Dropout(0.5) -> Dense(1, sigmoid) (or Dense(k, softmax), or
 * multi-label Dense(k, sigmoid)); the
 * hidden Dense is linear as in the book's listing, or relu (`activation`).
 * Kernels use Keras's glorot_uniform, seeded; dropout is SeededDropout (training only).
 */
export function applyHead(x: tfl.SymbolicTensor, opts: HeadOptions): tfl.SymbolicTensor {
  return applyHeadWithLogits(x, opts).probabilities;
}

/** The head as a model of its own, taking the base's features (shape without the batch axis). */
export function buildHeadModel(featureShape: number[], opts: HeadOptions): tfl.LayersModel {
  const input = tfl.input({ shape: featureShape, name: 'features' });
  return tfl.model({ inputs: input, outputs: applyHead(input, opts), name: 'head' });
}

/**
 * The head of a logits model from buildHeadForTraining, as ONNX Runtime's head graphs train it
 * (read back by the names this file gives its layers); undefined for any other model, such as
 * fine-tuning's suffix + head, which trains on generated graphs.
 */
export function trainableHead(logits: tfl.LayersModel): TrainableHead | undefined {
  const order: string[] = [HEAD_LAYER_NAMES.pool, HEAD_LAYER_NAMES.hidden, HEAD_LAYER_NAMES.dropout, HEAD_LAYER_NAMES.output];
  const layers = logits.layers.filter((l) => !logits.inputLayers.includes(l));
  const at = layers.map((l) => order.indexOf(l.name));
  // Only this file's layers, in the order applyHeadWithLogits applies them, the output last.
  if (at.some((i, k) => i < 0 || (k > 0 && i <= at[k - 1])) || at[at.length - 1] !== order.length - 1) return undefined;
  const [pool, hidden, dropout, output] = order.map((name) => layers.find((l) => l.name === name));
  const dense = (l: tfl.layers.Layer) => l.getConfig() as { units: number; activation: string };
  const out = dense(output as tfl.layers.Layer);
  const h = hidden && dense(hidden);
  if (out.activation !== 'linear' || (h && h.activation !== 'relu' && h.activation !== 'linear')) return undefined;
  if (dropout && !(dropout instanceof SeededDropout)) return undefined;
  return {
    // The pool is one of the two layers applyHeadWithLogits makes.
    pooling: !pool ? 'none' : pool.getClassName() === 'GlobalAveragePooling2D' ? 'avg' : 'flatten',
    ...(h ? { hidden: { units: h.units, activation: h.activation as HeadActivation } } : {}),
    ...(dropout instanceof SeededDropout && dropout.rate > 0 ? { dropout: { rate: dropout.rate, seed: dropout.seed } } : {}),
    output: { units: out.units },
  };
}
