import { isAdam, type OptimizerSpec, type StepValues } from './trainingOps.js';
import { FloatPowers } from './floatPowers.js';

/** The rates a schedule sets before a batch (fit/stepRates.ts's StepRates, by shape: this tier cannot import fit/). */
export interface Rates {
  learningRate: number;
  /** rho (rmsprop) or beta1 (adam, adamw); SGD has none. */
  momentum?: number;
}

/**
 * The update's values that change between batches, computed as tlkit's tfjs optimizers
 * compute them (fit/rateOptimizer.ts, fit/adam.ts) so that both engines apply the same
 * float32 numbers: each parameter's rate is the base learning rate times its multiplier
 * (the layer groups of discriminative fine-tuning), in float64 before its one rounding;
 * the momentum term is the one a schedule set last; Adam's bias corrections are
 * 1 - b^t with b^t the float32 product of t factors of the current b, so they depend on
 * the step count alone (a resume continues them exactly).
 */
export class UpdateRates {
  private learningRate: number;
  private momentum: number;
  private readonly beta2: number;
  private readonly weightDecay: number;
  private readonly powers = [new FloatPowers(), new FloatPowers()];

  /** `multipliers[i]`: parameter i's multiplier (1 for a variable the config does not name). */
  constructor(
    private readonly spec: OptimizerSpec,
    private readonly multipliers: number[],
  ) {
    this.learningRate = spec.learningRate;
    this.momentum = spec.kind === 'rmsprop' ? spec.rho : spec.kind === 'sgd' ? 0 : spec.beta1;
    this.beta2 = spec.kind === 'adam' || spec.kind === 'adamw' ? spec.beta2 : 0;
    this.weightDecay = spec.kind === 'adamw' ? spec.weightDecay : 0;
  }

  /** The rates of the next step; a momentum for SGD (which has none) is ignored. */
  set(rates: Rates): void {
    if (!(Number.isFinite(rates.learningRate) && rates.learningRate >= 0))
      throw new RangeError(`learningRate must be a finite number >= 0, got ${rates.learningRate}.`);
    if (rates.momentum !== undefined && this.spec.kind !== 'sgd') {
      if (!(rates.momentum >= 0 && rates.momentum < 1)) throw new RangeError(`A momentum term must be in [0, 1), got ${rates.momentum}.`);
      this.momentum = rates.momentum;
    }
    this.learningRate = rates.learningRate;
  }

  get(): Rates {
    return this.spec.kind === 'sgd' ? { learningRate: this.learningRate } : { learningRate: this.learningRate, momentum: this.momentum };
  }

  /** The values step `t` (counted from 1) uses. */
  values(t: number): StepValues {
    const lrs = this.multipliers.map((m) => this.learningRate * m);
    const adam = isAdam(this.spec);
    return {
      rates: this.spec.kind === 'rmsprop' ? lrs : lrs.map((lr) => -lr),
      decays: this.spec.kind === 'adamw' ? lrs.map((lr) => lr * this.weightDecay) : [],
      momentum: this.momentum,
      keepMomentum: 1 - this.momentum,
      c1: adam ? Math.fround(1 - this.powers[0].of(this.momentum, t)) : 1,
      c2: adam ? Math.fround(1 - this.powers[1].of(this.beta2, t)) : 1,
    };
  }
}
