import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import type { NamedArray, TrainState } from '../../run/trainState.js';
import type { FitCallback } from '../fitLoop.js';
import { isEngineTrainer, type TrainableModel } from '../trainable.js';

export interface BackupAndRestoreArgs {
  /** What trains (an engine trainer holds the current weights and slots itself). */
  model: TrainableModel;
  /** Tag stored with the state ('features', 'augment', 'head', 'finetune'). */
  phase: string;
  /** The state to continue from, put back at train begin; its `epoch` is where the phase resumes. */
  restore?: TrainState;
  /** Stores the state after every whole epoch (a run folder's state/). */
  save(state: TrainState): Promise<void>;
  /** The resume option as the caller names it in errors: 'resume' from code, '--resume' from the CLI. */
  resumeOption?: string;
}

/**
 * Keras's BackupAndRestore: after every epoch, the trainable weights and the optimizer's
 * slots are saved; at train begin, a saved state is put back. A state that does not fit
 * the model is refused when the callback is made, before anything is trained or written.
 */
export class BackupAndRestore implements FitCallback {
  private readonly args: BackupAndRestoreArgs;

  constructor(args: BackupAndRestoreArgs) {
    this.args = args;
    if (args.restore) checkStateFits(args.model, args.restore, args.resumeOption ?? 'resume');
  }

  async onTrainBegin(): Promise<void> {
    if (this.args.restore) await restoreTrainState(this.args.model, this.args.restore);
  }

  async onEpochEnd(epoch: number): Promise<void> {
    await this.args.save(await captureTrainState(this.args.model, this.args.phase, epoch + 1));
  }
}

async function captureTrainState(model: TrainableModel, phase: string, epoch: number): Promise<TrainState> {
  if (isEngineTrainer(model) && model.trainState) return { epoch, phase, ...(await model.trainState()) };
  const toArray = async (name: string, t: tf.Tensor): Promise<NamedArray> => {
    const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
    const data = (await t.data()) as Float32Array | Int32Array;
    return { name, shape: t.shape, dtype, data: dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data) };
  };
  const weights = await Promise.all(model.trainableWeights.map((w) => toArray(w.originalName, w.read())));
  const optimizer = await Promise.all((await model.optimizer.getWeights()).map((w) => toArray(w.name, w.tensor)));
  return { epoch, phase, weights, optimizer };
}

function checkStateFits(model: TrainableModel, state: TrainState, resumeOption: string): void {
  // The engine's own weights list (no write-back into tfjs needed to read shapes).
  const vars = isEngineTrainer(model) ? model.layersModel.trainableWeights : model.trainableWeights;
  const mismatch =
    vars.length !== state.weights.length
      ? `${state.weights.length} weights saved, ${vars.length} to train`
      : vars
          .map((v, i) =>
            v.shape.join('x') !== state.weights[i].shape.join('x')
              ? `${v.originalName} is ${v.shape.join('x')}, saved ${state.weights[i].shape.join('x')}`
              : '',
          )
          .find(Boolean);
  if (mismatch) {
    throw new UserError(
      `${resumeOption}: the saved training state does not fit this model (${mismatch}). Train with the options the run was started with, or drop ${resumeOption}.`,
    );
  }
}

async function restoreTrainState(model: TrainableModel, state: TrainState): Promise<void> {
  const vars = model.trainableWeights;
  vars.forEach((v, i) => {
    const t = tf.tensor(state.weights[i].data, state.weights[i].shape, state.weights[i].dtype);
    v.write(t);
    t.dispose();
  });
  const slots = state.optimizer.map((w) => ({ name: w.name, tensor: tf.tensor(w.data, w.shape, w.dtype) }));
  await model.optimizer.setWeights(slots);
  tf.dispose(slots.map((s) => s.tensor));
}
