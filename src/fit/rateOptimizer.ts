import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig, OptimizerKind } from './optimizerConfig.js';
import type { RateControl, StepRates } from './stepRates.js';

type NamedTensor = { name: string; tensor: tf.Tensor };
type Slot = { originalName: string; variable: tf.Variable };

/**
 * What tlkit's optimizers share: a base learning rate and a momentum term that a schedule
 * may change before any batch (RateControl), a rate multiplier per variable (layer groups:
 * each variable steps at learningRate x its multiplier, the step scaled, not the gradient),
 * and per-variable slots saved and restored through getWeights/setWeights in tfjs's layout
 * ('iter' first, then every variable's first slot, then every variable's second slot), so
 * that the resume state and the ONNX Runtime trainer read them as they read tfjs's own.
 */
export abstract class RateOptimizer extends tf.Optimizer implements RateControl {
  /** Suffixes of a variable's slots, in getWeights order: ['rms'], ['m', 'v'], or none. */
  protected abstract readonly slotNames: readonly string[];
  /** slots[i][k]: the k-th slot of the i-th variable applyGradients is given. */
  private slots: Slot[][] = [];
  private multipliersChecked = false;
  readonly multipliers: Readonly<Record<string, number>>;

  constructor(
    protected learningRate: number,
    multipliers: Record<string, number> = {},
  ) {
    super();
    checkRate('learningRate', learningRate);
    for (const [name, m] of Object.entries(multipliers)) {
      if (!(Number.isFinite(m) && m >= 0)) throw new Error(`The rate multiplier of ${name} must be a finite number >= 0, got ${m}.`);
    }
    this.multipliers = { ...multipliers };
  }

  abstract readonly kind: OptimizerKind;

  /** The rule's momentum term (rho, beta1), undefined when it has none (SGD). */
  protected abstract momentumTerm(): number | undefined;
  protected abstract setMomentumTerm(value: number): void;

  /** One variable's update at its rate `lr` (learningRate x multiplier), inside a tidy. */
  protected abstract update(value: tf.Variable, gradient: tf.Tensor, slots: tf.Variable[], lr: number): void;

  /** Called once a step, before any variable is updated (Adam's bias corrections). */
  protected beforeStep(): void {}

  /** The rule's own fields of its config (rho, beta1, epsilon, ...). */
  protected abstract ruleConfig(): Omit<OptimizerConfig, 'kind' | 'learningRate' | 'multipliers'>;

  setStepRates(rates: StepRates): void {
    checkRate('learningRate', rates.learningRate);
    this.learningRate = rates.learningRate;
    if (rates.momentum !== undefined && this.momentumTerm() !== undefined) {
      if (!(rates.momentum >= 0 && rates.momentum < 1)) throw new Error(`A momentum term must be in [0, 1), got ${rates.momentum}.`);
      this.setMomentumTerm(rates.momentum);
    }
  }

  stepRates(): StepRates {
    const momentum = this.momentumTerm();
    return momentum === undefined ? { learningRate: this.learningRate } : { learningRate: this.learningRate, momentum };
  }

  /** The rate a variable steps at now. */
  rateOf(variableName: string): number {
    return this.learningRate * (this.multipliers[variableName] ?? 1);
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    if (!this.multipliersChecked) this.checkMultipliers(names);
    this.beforeStep();
    names.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name];
      // Slots exist for every variable, as tfjs's Adam makes them: one layout, whatever the gradients.
      const slots = this.slotsOf(i, name, value);
      const g = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
      if (g == null) return;
      tf.tidy(() => this.update(value, g, slots, this.rateOf(name)));
    });
    this.incrementIterations();
  }

  override dispose(): void {
    for (const s of this.slots.flat()) s.variable.dispose();
    this.slots = [];
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const slots = this.slotNames.flatMap((_, k) => this.slots.filter((s) => s !== undefined).map((s) => s[k]));
    return [await this.saveIterations(), ...slots.map((s) => ({ name: s.originalName, tensor: s.variable }))];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const k = this.slotNames.length;
    if (k === 0 ? rest.length !== 0 : rest.length % k !== 0)
      throw new Error(`${this.getClassName()}.setWeights: ${rest.length} slots given, not ${k} a variable.`);
    this.dispose();
    const n = k === 0 ? 0 : rest.length / k;
    this.slots = Array.from({ length: n }, (_, i) =>
      this.slotNames.map((_, j) => ({ originalName: rest[j * n + i].name, variable: rest[j * n + i].tensor.variable(false) })),
    );
  }

  /** What another engine needs to apply the same update (optimizerConfig.ts). */
  optimizerConfig(): OptimizerConfig {
    return { kind: this.kind, learningRate: this.learningRate, ...this.ruleConfig(), multipliers: { ...this.multipliers } };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.optimizerConfig() } as unknown as tf.serialization.ConfigDict;
  }

  private slotsOf(i: number, name: string, value: tf.Variable): tf.Variable[] {
    let slots = this.slots[i];
    if (!slots) {
      slots = this.slotNames.map((suffix) => ({
        originalName: `${name}/${suffix}`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      }));
      this.slots[i] = slots;
    }
    return slots.map((s) => s.variable);
  }

  /** A multiplier for a variable this optimizer never trains is a wrong name: say so rather than train at 1. */
  private checkMultipliers(names: string[]): void {
    const unknown = Object.keys(this.multipliers).filter((n) => !names.includes(n));
    if (unknown.length > 0)
      throw new Error(
        `Rate multipliers were given for ${unknown.join(', ')}, which this optimizer does not train (it trains ${names.join(', ')}).`,
      );
    this.multipliersChecked = true;
  }
}

function checkRate(name: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${name} must be a finite number >= 0, got ${v}.`);
}
