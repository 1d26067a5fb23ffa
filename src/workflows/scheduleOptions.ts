import { UserError } from '../errors.js';
import { LearningRateScheduler } from '../fit/callbacks/index.js';
import type { FitCallback } from '../fit/fitLoop.js';
import type { OptimizerName } from '../fit/optimizer.js';
import { changesRates, scheduleRates, type ScheduleSpec } from '../fit/schedule.js';
import { hasRateControl } from '../fit/stepRates.js';
import type { TrainableModel } from '../fit/trainable.js';
import { optionName, type OptionNaming, type TrainOptions } from './options.js';

/** What phase.ts's PhaseOptimizer holds of the options (that module imports this one). */
interface OptionsOptimizer {
  name: OptimizerName;
  learningRate: number | undefined;
  weightDecay?: number;
  schedule: ScheduleSpec;
}

type RateOptions = Pick<TrainOptions, 'optimizer' | 'weightDecay' | 'schedule' | 'warmup' | 'div' | 'finalDiv' | 'pctStart'>;

/**
 * The optimizer of a phase as the options ask for it: the rule, its rate (`learningRate`:
 * the phase's own, undefined for the rule's default), AdamW's decay and the schedule.
 * The options are checked first (checkScheduleOptions).
 */
export function phaseOptimizer(opts: TrainOptions, naming: OptionNaming, learningRate: number | undefined): OptionsOptimizer {
  checkScheduleOptions(opts, naming);
  return {
    name: opts.optimizer,
    learningRate,
    ...(opts.weightDecay !== undefined ? { weightDecay: opts.weightDecay } : {}),
    schedule: scheduleOf(opts),
  };
}

function scheduleOf(o: RateOptions): ScheduleSpec {
  const spec: ScheduleSpec = { name: o.schedule, warmup: o.warmup };
  if (o.div !== undefined) spec.div = o.div;
  if (o.finalDiv !== undefined) spec.finalDiv = o.finalDiv;
  if (o.pctStart !== undefined) spec.pctStart = o.pctStart;
  return spec;
}

/** Options that one optimizer or schedule reads, given with another: said, rather than ignored. */
export function checkScheduleOptions(o: RateOptions, naming: OptionNaming): void {
  const name = (k: string) => optionName(k, naming);
  if (o.weightDecay !== undefined && o.optimizer !== 'adamw')
    throw new UserError(
      `${name('weightDecay')} applies to ${name('optimizer')} adamw (got ${name('optimizer')} ${o.optimizer}). Use ${name('optimizer')} adamw, or drop ${name('weightDecay')}.`,
    );
  const oneCycleOnly = (['div', 'finalDiv', 'pctStart'] as const).filter((k) => o[k] !== undefined);
  if (oneCycleOnly.length > 0 && o.schedule !== 'one-cycle') {
    const given = oneCycleOnly.map(name).join(', ');
    throw new UserError(
      `${given} ${oneCycleOnly.length > 1 ? 'apply' : 'applies'} to ${name('schedule')} one-cycle (got ${name('schedule')} ${o.schedule}). Use ${name('schedule')} one-cycle, or drop ${given}.`,
    );
  }
  if (o.schedule === 'one-cycle' && o.warmup > 0)
    throw new UserError(
      `${name('warmup')} applies to ${name('schedule')} constant or cosine: one-cycle warms up by itself, over ${name('pctStart')} of the steps. Drop ${name('warmup')}, or set ${name('pctStart')}.`,
    );
}

/** The callback that sets a phase's rates before every batch; none when they stay fixed. */
export function phaseSchedulers(
  phase: { optimizer: { schedule?: ScheduleSpec }; firstEpoch: number },
  model: TrainableModel,
  learningRate: number,
): FitCallback[] {
  const spec = phase.optimizer.schedule;
  if (!spec || !changesRates(spec)) return [];
  return [new LearningRateScheduler({ model, firstEpoch: phase.firstEpoch, schedule: scheduleRates(spec, learningRate) })];
}

/**
 * ONNX Runtime's trainer applies its own update: if it cannot change its rates between
 * batches (no setStepRates/stepRates), a schedule fails here, before anything trains,
 * rather than being dropped without a word. (It reads the label smoothing from the
 * compiled loss itself, fit/head.ts.)
 */
export function checkEngineFollows(trainer: object | undefined, optimizer: { schedule?: ScheduleSpec }, naming: OptionNaming): void {
  if (!trainer || !changesRates(optimizer.schedule) || hasRateControl(trainer)) return;
  const name = (k: string) => optionName(k, naming);
  const spec = optimizer.schedule as ScheduleSpec;
  const what = spec.name === 'constant' ? `${name('warmup')} ${spec.warmup}` : `${name('schedule')} ${spec.name}`;
  throw new UserError(
    `${what}: the ONNX Runtime trainer cannot change its rates between batches. Use ${name('engine')} tfjs, or drop ${what}.`,
  );
}
