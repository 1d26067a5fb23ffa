import { UserError } from '../errors.js';
import { decimal, int, onOff, type Kind, type OptionNaming } from './optionKinds.js';

/** The sweep of `lrFind` (fastai's lr_find arguments), besides the training options that say what trains. */
export interface LrSweepOptions {
  /** The learning rate of the first batch. Default 1e-7. */
  start: number;
  /** The rate the sweep heads for (its last batch trains just below it). Default 10. */
  end: number;
  /** Batches in the sweep, fastai's num_it. Default 100. */
  steps: number;
  /** Stop once the smoothed loss passes 4x its lowest value. Default true. */
  stopDiv: boolean;
}

interface SweepOption<T> {
  kind: Kind<T>;
  default: T;
  /** The command-line flag; stopDiv's turns it off. */
  flag: string;
  help: string;
}

/** At least this many steps: the suggestions leave out the first tenth and the last 5, and need 2 points. */
const MIN_STEPS = 10;

/** lr-find's own options: their checks, defaults and the words of `tlkit lr-find --help`. */
export const LR_SWEEP_OPTIONS: { [K in keyof LrSweepOptions]: SweepOption<LrSweepOptions[K]> } = {
  start: { kind: decimal(0, undefined), default: 1e-7, flag: '--start', help: 'the learning rate of the first batch' },
  end: {
    kind: decimal(0, undefined),
    default: 10,
    flag: '--end',
    help: 'the learning rate the sweep grows to, exponentially (its last batch trains just below it)',
  },
  steps: {
    kind: int(MIN_STEPS, 100_000),
    default: 100,
    flag: '--steps',
    help: "batches in the sweep (fastai's num_it); the training data is cycled when an epoch has fewer",
  },
  stopDiv: {
    kind: onOff,
    default: true,
    flag: '--no-stop-div',
    help: 'go on when the smoothed loss passes 4x its lowest value (by default the sweep stops there, as fastai)',
  },
};

function nameOf(key: keyof LrSweepOptions, naming: OptionNaming): string {
  return naming === 'cli' ? LR_SWEEP_OPTIONS[key].flag.replace('--no-', '--') : key;
}

/** The sweep's options with their defaults, checked: numbers in range, start below end. */
export function checkSweepOptions(given: Partial<LrSweepOptions>, naming: OptionNaming): LrSweepOptions {
  const o: LrSweepOptions = {
    start: given.start ?? LR_SWEEP_OPTIONS.start.default,
    end: given.end ?? LR_SWEEP_OPTIONS.end.default,
    steps: given.steps ?? LR_SWEEP_OPTIONS.steps.default,
    stopDiv: given.stopDiv ?? LR_SWEEP_OPTIONS.stopDiv.default,
  };
  for (const key of ['start', 'end', 'steps', 'stopDiv'] as const) {
    const { kind, default: example } = LR_SWEEP_OPTIONS[key];
    if (!kind.zod.safeParse(o[key]).success) {
      const pass = naming === 'cli' ? `Pass e.g. ${nameOf(key, naming)} ${example}` : `Use e.g. ${key}: ${example}`;
      throw new UserError(`${nameOf(key, naming)} must be ${kind.expect}, got ${String(o[key])}. ${pass}.`);
    }
  }
  if (!(o.start < o.end)) {
    throw new UserError(
      `${nameOf('start', naming)} (${o.start}) must be below ${nameOf('end', naming)} (${o.end}): the sweep grows the learning rate from one to the other. Use e.g. ${nameOf('start', naming)} 1e-7 and ${nameOf('end', naming)} 10.`,
    );
  }
  return o;
}
