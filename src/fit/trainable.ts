import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TrainState } from '../run/trainState.js';

/**
 * A trainer that computes elsewhere what a compiled tfjs model would (ortTraining/'s
 * OrtTrainer trains the head, or fine-tuning's suffix + head, on ONNX Runtime) and keeps
 * `layersModel` in step: callbacks see `layersModel`, whose weights are current after
 * `syncWeights()`, which the loop calls before each epoch's callbacks (so the checkpoint
 * saves them).
 */
export interface EngineTrainer {
  readonly layersModel: tfl.LayersModel;
  readonly metricsNames: string[];
  readonly trainableWeights: tfl.LayersModel['trainableWeights'];
  readonly optimizer: Pick<tf.Optimizer, 'getWeights' | 'setWeights'>;
  stopTraining: boolean;
  trainOnBatch(x: tf.Tensor, y: tf.Tensor): Promise<number | number[]>;
  evaluate(x: tf.Tensor, y: tf.Tensor, args: { batchSize: number; verbose: 0 }): Promise<tf.Scalar | tf.Scalar[]>;
  syncWeights(): Promise<void>;
  /** The weights and optimizer slots as the resume state stores them, straight from the engine (no round trip through tfjs). */
  trainState?(): Promise<Pick<TrainState, 'weights' | 'optimizer'>>;
}

/** What the loop trains: a compiled tfjs model, or an engine trainer standing in for one. */
export type TrainableModel = tfl.LayersModel | EngineTrainer;

export function isEngineTrainer(m: TrainableModel): m is EngineTrainer {
  return 'layersModel' in m && 'syncWeights' in m;
}

/** The tfjs model callbacks see (and set `stopTraining` on). */
export function layersModelOf(m: TrainableModel): tfl.LayersModel {
  return isEngineTrainer(m) ? m.layersModel : m;
}
