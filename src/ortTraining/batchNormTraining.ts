import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { GraphBuilder } from '../onnx/graphBuilder.js';
import type { HostTensor } from '../ort/ortRunner.js';
import { batchNormalization } from '../onnx/converters/normalization.js';
import { configOf, one, weightOf, type Converter, type Layer } from '../onnx/converters/types.js';
import { NotDifferentiable } from './notDifferentiable.js';

type LayerVariable = tfl.LayersModel['trainableWeights'][number];

/**
 * BatchNormalization that trains (fastai's train_bn): a layer whose `trainable` is true
 * normalises each training batch with the batch's own statistics, trains gamma and beta,
 * and moves its moving statistics towards the batch's, as tfjs-layers does when fit calls
 * it in training mode (tlkit pins the frozen ones, `trainable` false, to inference mode:
 * fit/suffixModel.ts). The evaluation graph normalises with the moving statistics, which
 * are its inputs, since they change as the model trains.
 *
 * The training graph writes the normalisation out in elementwise ops, which autodiff.ts
 * differentiates like any other (the mean and variance included), and outputs the batch's
 * mean and biased variance (tf.moments'); the trainer applies tfjs's moving average:
 *   moving <- moving - (moving - batch) (1 - momentum)
 */
export interface TrainingBatchNorm {
  layer: string;
  /** The layer's moving statistics (non-trainable variables) and its momentum. */
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
  momentum: number;
  channels: number;
  /** Training graph outputs: the batch's mean and variance ([1, C, 1, 1] or [1, C]). */
  batchMean: string;
  batchVariance: string;
  batchShape: number[];
}

/** The evaluation graph's inputs of a training BatchNormalization's moving statistics (the inference converter's constants). */
export const movingStatisticNames = (layer: string): [string, string] => [`${layer}/mean`, `${layer}/var`];

/** Whether tfjs runs `layer` as a BatchNormalization in training mode when fit trains the model. */
export function trainsBatchNorm(layer: Layer): boolean {
  return layer.getClassName() === 'BatchNormalization' && layer.trainable;
}

function variableOf(layer: Layer, short: string): LayerVariable {
  const v = layer.weights.find((w) => w.originalName.split('/').pop() === short);
  if (!v) throw new NotDifferentiable(`BatchNormalization ${layer.name} has no ${short}`);
  return v as LayerVariable;
}

/**
 * The BatchNormalization converter of training graphs: frozen layers as the exporter writes
 * them (inference mode), training ones in batch-statistics form; `found` hears of each of those.
 */
export function batchNormForTraining(found: (bn: TrainingBatchNorm) => void): Converter {
  return (b, layer, inputs, outputShapes) => {
    if (!trainsBatchNorm(layer)) return batchNormalization(b, layer, inputs, outputShapes);
    const cfg = configOf(layer);
    const x = one(inputs, layer);
    const rank = x.shape.length;
    const axisRaw = cfg.axis as number | number[] | undefined;
    const axis = Array.isArray(axisRaw) ? (axisRaw.length === 1 ? axisRaw[0] : Number.NaN) : (axisRaw ?? -1);
    if ((axis !== -1 && axis !== rank - 1) || (rank !== 2 && rank !== 4))
      throw new NotDifferentiable(
        `BatchNormalization ${layer.name} in training mode on axis ${JSON.stringify(axisRaw)} of a rank-${rank} tensor`,
      );
    const gamma = weightOf(layer, 'gamma');
    const beta = weightOf(layer, 'beta');
    // tfjs-layers itself cannot train a BatchNormalization without both.
    if (!gamma || !beta) throw new NotDifferentiable(`BatchNormalization ${layer.name} in training mode without gamma or beta`);
    const c = gamma.data.length;
    const xin = b.asNchw(x);
    const stats = rank === 4 ? [1, c, 1, 1] : [1, c];
    const y = emitBatchStatistics(b, layer.name, xin.name, rank === 4 ? [0, 2, 3] : [0], stats, {
      gamma: b.constant(`${layer.name}/gamma`, [c], gamma.data),
      beta: b.constant(`${layer.name}/beta`, [c], beta.data),
      epsilon: Number(cfg.epsilon ?? 1e-3),
    });
    found({
      layer: layer.name,
      movingMean: variableOf(layer, 'moving_mean'),
      movingVariance: variableOf(layer, 'moving_variance'),
      momentum: Number(cfg.momentum ?? 0.99),
      channels: c,
      batchMean: y.mean,
      batchVariance: y.variance,
      batchShape: stats,
    });
    return [{ name: y.output, shape: outputShapes[0], nchw: xin.nchw }];
  };
}

/** y = (x - mean) / sqrt(var + eps) gamma + beta over the batch's statistics (the reduced axes); mean and variance are kept. */
function emitBatchStatistics(
  b: GraphBuilder,
  name: string,
  x: string,
  axes: number[],
  stats: number[],
  w: { gamma: string; beta: string; epsilon: number },
): { output: string; mean: string; variance: string } {
  const mean = b.op('ReduceMean', [x], `${name}/batch_mean`, { axes, keepdims: 1 });
  const centered = b.op('Sub', [x, mean], `${name}/centered`);
  // (x - mean)^2 as Pow: Mul(centered, centered) would name one input twice, which the gradient rules do not sum.
  const squared = b.op('Pow', [centered, b.scalar(`${name}/two`, 2)], `${name}/squared`);
  const variance = b.op('ReduceMean', [squared], `${name}/batch_variance`, { axes, keepdims: 1 });
  const std = b.op('Sqrt', [b.op('Add', [variance, b.scalar(`${name}/epsilon`, w.epsilon)], `${name}/var_eps`)], `${name}/std`);
  const shape = b.int64(`${name}/stats_shape`, stats);
  const gamma = b.op('Reshape', [w.gamma, shape], `${name}/gamma_b`);
  const beta = b.op('Reshape', [w.beta, shape], `${name}/beta_b`);
  const scaled = b.op('Mul', [b.op('Div', [centered, std], `${name}/normalized`), gamma], `${name}/scaled`);
  return { output: b.op('Add', [scaled, beta], name), mean, variance };
}

/**
 * The moving statistics of the BatchNormalization layers that train, as the trainer keeps
 * them between steps: read from and written back to the tfjs variables with the weights,
 * moved after every training step, fed to the evaluation graph.
 */
export class MovingStatistics {
  /** Per layer: [mean, variance]. */
  private readonly values: Array<[Float32Array, Float32Array]>;

  constructor(private readonly layers: TrainingBatchNorm[]) {
    this.values = layers.map((bn) => [new Float32Array(bn.channels), new Float32Array(bn.channels)]);
  }

  /** Take the tfjs variables' values. */
  read(): void {
    this.layers.forEach((bn, i) => {
      this.values[i][0].set(bn.movingMean.read().dataSync() as Float32Array);
      this.values[i][1].set(bn.movingVariance.read().dataSync() as Float32Array);
    });
  }

  /** Write them into the tfjs variables. */
  write(): void {
    this.layers.forEach((bn, i) =>
      [bn.movingMean, bn.movingVariance].forEach((v, k) => {
        const t = tf.tensor(this.values[i][k], v.shape as number[]);
        v.write(t);
        t.dispose();
      }),
    );
  }

  /** After a training step: tfjs-layers' moving average towards the batch's statistics, every op in float32. */
  update(outputs: Record<string, HostTensor>): void {
    const f = Math.fround;
    this.layers.forEach((bn, i) => {
      const decay = f(1 - bn.momentum);
      [bn.batchMean, bn.batchVariance].forEach((name, k) => {
        const batch = outputs[name].data;
        const moving = this.values[i][k];
        for (let j = 0; j < moving.length; j++) moving[j] = f(moving[j] - f(f(moving[j] - batch[j]) * decay));
      });
    });
  }

  /** The evaluation graph's inputs. */
  feed(feeds: Record<string, HostTensor>): void {
    this.layers.forEach((bn, i) =>
      movingStatisticNames(bn.layer).forEach((name, k) => (feeds[name] = { data: this.values[i][k], dims: [bn.channels] })),
    );
  }
}
