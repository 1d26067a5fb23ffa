import type { LogitsTap } from '../../ortTraining/trainingPlan.js';
import type { EpochLogs } from '../../run/history.js';
import { meanAveragePrecision } from '../../run/multiLabelMetrics.js';
import type { FitCallback } from '../fitLoop.js';

/** The targets and sigmoid probabilities of one pass, row-major n x k. */
class Pass {
  private targets: Float32Array[] = [];
  private probs: Float32Array[] = [];

  add(targets: Float32Array, logits: Float32Array): void {
    this.targets.push(Float32Array.from(targets));
    this.probs.push(Float32Array.from(logits, (z) => 1 / (1 + Math.exp(-z))));
  }

  /** The pass's mAP (NaN when it saw nothing). */
  meanAveragePrecision(k: number): number {
    if (this.probs.length === 0) return NaN;
    return meanAveragePrecision(concat(this.probs), concat(this.targets), k);
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Multi-label runs: mean average precision per epoch, `map` over the epoch's training
 * batches (as they trained: dropout on, weights before each step, as Keras's running
 * metrics) and `val_map` over the validation pass. It reads the logits the engine computes
 * for the loss anyway (the compiled loss's tap), so it costs no forward pass; it goes first
 * among the callbacks, so that the history, the log and the progress line record both.
 */
export class MeanAveragePrecision implements FitCallback {
  private train = new Pass();
  private validation = new Pass();
  private current: Pass | undefined;

  constructor(
    private readonly tap: LogitsTap,
    private readonly numClasses: number,
  ) {}

  onTrainBegin(): void {
    this.tap.listener = (targets, logits) => this.current?.add(targets, logits);
  }

  onEpochBegin(): void {
    this.train = new Pass();
    this.validation = new Pass();
    this.current = this.train;
  }

  onTestBegin(): void {
    this.current = this.validation;
  }

  onEpochEnd(_epoch: number, logs?: EpochLogs): void {
    this.current = undefined;
    if (!logs) return;
    logs.map = this.train.meanAveragePrecision(this.numClasses);
    logs.val_map = this.validation.meanAveragePrecision(this.numClasses);
  }

  onTrainEnd(): void {
    this.current = undefined;
    this.tap.listener = undefined;
  }
}
