import * as tf from '@tensorflow/tfjs-core';
import type { EpochLogs } from '../../run/history.js';

type RawLogs = Record<string, unknown> | undefined;

/**
 * tfjs hands callbacks logs whose values may still be scalar tensors. Resolve them
 * to numbers in place (as tfjs's own CustomCallback does, so every later callback
 * sees numbers) and return a plain copy without tfjs's bookkeeping keys.
 */
export async function resolveLogs(logs: RawLogs): Promise<EpochLogs> {
  const out: EpochLogs = {};
  if (!logs) return out;
  for (const [key, value] of Object.entries(logs)) {
    if (key === 'batch' || key === 'size') continue;
    let n: number | undefined;
    if (typeof value === 'number') n = value;
    else if (value instanceof tf.Tensor) {
      n = (await value.data())[0];
      logs[key] = n;
    }
    if (n !== undefined) out[kerasName(key)] = n;
  }
  return out;
}

/** tfjs names the accuracy metric `acc`; Keras (and our logs, CSV and plots) say `accuracy`. */
export function kerasName(key: string): string {
  return key.replace(/^(val_)?acc$/, '$1accuracy');
}

/**
 * When training stops in the middle of an epoch (SIGINT, NaN), tfjs still calls
 * onEpochEnd, with no validation numbers. Such a partial epoch must not reach the
 * history, the CSV log or the checkpoint.
 */
export function isPartialEpoch(params: Record<string, unknown> | undefined, logs: EpochLogs): boolean {
  return Boolean(params?.doValidation) && !('val_loss' in logs);
}

/** 'auto' mode as Keras decides it: maximise accuracy-like metrics, minimise the rest. */
export function resolveMode(monitor: string, mode: 'auto' | 'min' | 'max'): 'min' | 'max' {
  if (mode !== 'auto') return mode;
  return /acc|auc|precision|recall|fmeasure/.test(monitor) ? 'max' : 'min';
}

export function isImprovement(mode: 'min' | 'max', current: number, best: number, minDelta = 0): boolean {
  return mode === 'min' ? current < best - minDelta : current > best + minDelta;
}
