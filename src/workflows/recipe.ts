import type * as tfl from '@tensorflow/tfjs-layers';
import { stageEndsOf } from '../applications/catalog.js';
import type { ScheduleSpec } from '../fit/schedule.js';
import type { OptionNaming, TrainOptions, TrainOptionsInput } from './options.js';
import type { PhaseOptimizer } from './phase.js';
import { phaseOptimizer } from './scheduleOptions.js';

/**
 * How finetune trains, as data: the two phases (a head on the frozen base, then the top of
 * the base unfrozen with the head) each get their epochs, optimizer, schedule and layer-group
 * spread from a recipe. finetune.ts runs whichever plan it is given; a recipe is a table here.
 *
 *   book       Keras's chapter 8.3: the head for --epochs at the optimizer's rate, then the
 *              unfrozen layers at one constant rate (RMSprop 1e-5).
 *   fine-tune  fastai's Learner.fine_tune(epochs, base_lr=2e-3, freeze_epochs=1, lr_mult=100,
 *              pct_start=0.3, div=5.0): freeze; fit_one_cycle(freeze_epochs, base_lr,
 *              pct_start=0.99); base_lr /= 2; unfreeze; fit_one_cycle(epochs,
 *              slice(base_lr/lr_mult, base_lr), pct_start, div), with fastai's default
 *              optimizer, Adam with decoupled weight decay 0.01 (tlkit's adamw), and a head
 *              as fastai's create_head makes it: the feature map pooled, a ReLU hidden layer.
 */

/** The book's fine-tuning learning rate (RMSprop). */
export const FINETUNE_LEARNING_RATE = 1e-5;

/** What `recipe: 'fine-tune'` sets when the options do not (each can still be given). */
export const FINE_TUNE_DEFAULTS = {
  mode: 'finetune',
  optimizer: 'adamw',
  learningRate: 2e-3,
  schedule: 'one-cycle',
  lrMult: 100,
  freezeEpochs: 1,
  // fastai's head pools the feature map (average and max, concatenated) before a ReLU layer;
  // the book's Flatten of a 7x7x1024 map gives a head that lr-find can only run at ~1e-5.
  pooling: 'avg',
  headActivation: 'relu',
  // fastai's vision models train behind aug_transforms, and the book fine-tunes behind its
  // augmentation: the unfrozen phase sees augmented images (the head phase, cached features).
  augment: true,
  // fastai's fine_tune has no default; 8 reached 0.993 test accuracy with MobileNet on the
  // book's 2,000 photos (bench/recipe.ts, docs/performance.md), where 5 without augmentation gave 0.986.
  epochs: 8,
} as const satisfies Partial<TrainOptionsInput>;

/**
 * fine_tune's one-cycle of each phase. The head's rises over 99% of its steps from
 * fit_one_cycle's default lr/25; the unfrozen phase's over 30% from lr/5, at half the base
 * rate. `--pct-start` and `--div` set the unfrozen phase's (fine_tune's own arguments);
 * `--final-div` both.
 */
export const FINE_TUNE_CYCLES = {
  head: { pctStart: 0.99 },
  unfreeze: { pctStart: 0.3, div: 5, rateFactor: 0.5 },
} as const;

/**
 * The recipe's unfreeze point when `unfreeze` is not given: the base's last two stages
 * (STAGE_ENDS), so that the layer groups spread the rates as fastai's do over a body, the
 * late stage at lr/10 and the one before at lr/100 (lrMult 100); with the family's default
 * (its last stage, one group) every unfrozen layer would train at lr/100. Undefined for a
 * base whose stages tlkit does not know (the family's default applies).
 */
export function recipeUnfreeze(model: tfl.LayersModel, family: string): number | undefined {
  const ends = stageEndsOf(family);
  const body = model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);
  const at = ends.length >= 2 ? body.indexOf(ends[ends.length - 2]) : -1;
  return at < 0 ? undefined : body.length - 1 - at;
}

/** train()'s input with the recipe's defaults filled in where nothing was given (before the book's defaults). */
export function withRecipeDefaults<T extends Partial<TrainOptionsInput>>(input: T): T {
  // Given with another mode, the recipe adds nothing: the checks then name --recipe, not an option it set.
  if (input.recipe !== 'fine-tune' || (input.mode !== undefined && input.mode !== 'finetune')) return input;
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return { ...FINE_TUNE_DEFAULTS, ...given } as T;
}

/** One phase of fine-tuning as the recipe sets it. */
export interface PhasePlan {
  epochs: number;
  /** Its optimizer, rate and schedule (the layer groups' multipliers are added once the model is cut). */
  optimizer: PhaseOptimizer;
  /** The first unfrozen group trains at rate / lrMult, the head at the rate (1: one rate for all). */
  lrMult: number;
}

export interface FineTunePlan {
  /** The head on the frozen base (skipped when `from` gives one). */
  head: PhasePlan;
  /** The top of the base unfrozen, with the head. */
  unfreeze: PhasePlan;
}

/** The two phases of finetune under `opts.recipe`. */
export function fineTunePlan(opts: TrainOptions, naming: OptionNaming): FineTunePlan {
  if (opts.recipe !== 'fine-tune') {
    return {
      head: { epochs: opts.freezeEpochs ?? opts.epochs, optimizer: phaseOptimizer(opts, naming, opts.learningRate), lrMult: 1 },
      unfreeze: {
        epochs: opts.epochs,
        optimizer: phaseOptimizer(opts, naming, opts.learningRate ?? FINETUNE_LEARNING_RATE),
        lrMult: opts.lrMult ?? 1,
      },
    };
  }
  const baseRate = opts.learningRate ?? FINE_TUNE_DEFAULTS.learningRate;
  const { head, unfreeze } = FINE_TUNE_CYCLES;
  const cycle = (spec: ScheduleSpec | undefined, own: Omit<ScheduleSpec, 'name'>): ScheduleSpec | undefined =>
    spec?.name === 'one-cycle' ? { name: 'one-cycle', ...(opts.finalDiv !== undefined ? { finalDiv: opts.finalDiv } : {}), ...own } : spec;
  const headOptimizer = phaseOptimizer(opts, naming, baseRate);
  const unfreezeOptimizer = phaseOptimizer(opts, naming, baseRate * unfreeze.rateFactor);
  return {
    head: {
      epochs: opts.freezeEpochs ?? FINE_TUNE_DEFAULTS.freezeEpochs,
      optimizer: { ...headOptimizer, schedule: cycle(headOptimizer.schedule, { pctStart: head.pctStart }) },
      lrMult: 1,
    },
    unfreeze: {
      epochs: opts.epochs,
      optimizer: {
        ...unfreezeOptimizer,
        schedule: cycle(unfreezeOptimizer.schedule, { pctStart: opts.pctStart ?? unfreeze.pctStart, div: opts.div ?? unfreeze.div }),
      },
      lrMult: opts.lrMult ?? FINE_TUNE_DEFAULTS.lrMult,
    },
  };
}
