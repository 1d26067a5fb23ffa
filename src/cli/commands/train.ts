import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { withTrainDefaults, type TrainMode, type TrainOptions, type TrainResult, type OptimizerName, type HeadPooling } from '../../workflows/options.js';
import { runPaths } from '../../run/runDir.js';
import { FLIP_MODES } from '../../augment/randomFlip.js';
import type { AugmentationParams } from '../../fit/batchSources.js';
import { checkOutputDir, MAX_SEED, parseImageSizeOption, parseIntOption, parseNumberOption } from '../parseOptions.js';

interface TrainArgs {
  data: string;
  base: string;
  weights?: string;
  mode: string;
  out: string;
  epochs?: string;
  imageSize?: string;
  batchSize?: string;
  learningRate?: string;
  optimizer?: string;
  unfreeze?: string;
  from?: string;
  seed?: string;
  resume?: boolean;
  validationSplit?: string;
  headUnits?: string;
  dropout?: string;
  pooling?: string;
  earlyStopping?: string;
  skipBadImages?: boolean;
  cacheDir?: string;
  quiet?: boolean;
  augment?: boolean;
  augmentFlip?: string;
  augmentRotation?: string;
  augmentZoom?: string;
}

/** TrainOptions plus the augmentation settings that augment and finetune modes read. */
export type CliTrainOptions = TrainOptions & { augment?: boolean; augmentation?: Partial<AugmentationParams> };

const FLIP_CHOICES = ['none', ...FLIP_MODES];

const MODES: TrainMode[] = ['features', 'augment', 'finetune'];

export function toTrainOptions(a: TrainArgs): CliTrainOptions {
  if (!MODES.includes(a.mode as TrainMode)) throw new UserError(`--mode must be one of ${MODES.join(', ')}, got '${a.mode}'.`);
  if (a.optimizer && !['rmsprop', 'adam', 'sgd'].includes(a.optimizer)) throw new UserError(`--optimizer must be rmsprop, adam or sgd, got '${a.optimizer}'.`);
  if (a.pooling && !['flatten', 'avg'].includes(a.pooling)) throw new UserError(`--pooling must be flatten or avg, got '${a.pooling}'.`);
  // Options of another mode would be ignored silently; say so instead.
  for (const [flag, value] of [['--from', a.from], ['--unfreeze', a.unfreeze]] as const) {
    if (value !== undefined && a.mode !== 'finetune') {
      throw new UserError(`${flag} applies to --mode finetune only (got --mode ${a.mode}). Add --mode finetune, or drop ${flag}.`);
    }
  }
  const augmentFlags = [['--augment-flip', a.augmentFlip], ['--augment-rotation', a.augmentRotation], ['--augment-zoom', a.augmentZoom]] as const;
  for (const [flag, value] of augmentFlags) {
    if (value !== undefined && a.mode === 'features') {
      throw new UserError(`${flag} applies to --mode augment (or finetune with --augment), got --mode features. Use --mode augment, or drop ${flag}.`);
    }
  }
  if (a.augment && a.mode !== 'finetune') {
    throw new UserError(`--augment applies to --mode finetune only (--mode augment always augments; got --mode ${a.mode}). Drop --augment.`);
  }
  if (a.augmentFlip !== undefined && !FLIP_CHOICES.includes(a.augmentFlip)) {
    throw new UserError(`--augment-flip must be one of ${FLIP_CHOICES.join(', ')}, got '${a.augmentFlip}'.`);
  }
  const augmentation: Partial<AugmentationParams> = {
    flip: a.augmentFlip as AugmentationParams['flip'] | undefined,
    rotation: parseNumberOption('--augment-rotation', a.augmentRotation, { min: 0, max: 1, minInclusive: true, example: '0.1' }),
    zoom: parseNumberOption('--augment-zoom', a.augmentZoom, { min: 0, max: 1, minInclusive: true, example: '0.2' }),
  };
  const base = withTrainDefaults({
    data: a.data,
    base: a.base,
    weights: a.weights,
    mode: a.mode as TrainMode,
    out: checkOutputDir('--out', a.out),
    epochs: parseIntOption('--epochs', a.epochs, { min: 1, example: '20' }),
    imageSize: parseImageSizeOption(a.imageSize),
    batchSize: parseIntOption('--batch-size', a.batchSize, { min: 1, example: '32' }),
    learningRate: parseNumberOption('--learning-rate', a.learningRate, { min: 0, max: 10, example: '1e-3' }),
    optimizer: a.optimizer as OptimizerName | undefined,
    unfreeze: parseIntOption('--unfreeze', a.unfreeze, { min: 1, example: '4' }),
    from: a.from,
    seed: parseIntOption('--seed', a.seed, { min: 0, max: MAX_SEED, example: '1337' }),
    resume: Boolean(a.resume),
    validationSplit: parseNumberOption('--validation-split', a.validationSplit, { min: 0, max: 0.9, example: '0.2' }),
    headUnits: parseIntOption('--head-units', a.headUnits, { min: 0, example: '256' }),
    dropout: parseNumberOption('--dropout', a.dropout, { min: 0, max: 0.95, minInclusive: true, example: '0.5' }),
    pooling: a.pooling as HeadPooling | undefined,
    earlyStoppingPatience: parseIntOption('--early-stopping', a.earlyStopping, { min: 0, example: '5' }),
    skipBadImages: Boolean(a.skipBadImages),
    cacheDir: a.cacheDir === undefined ? undefined : checkOutputDir('--cache-dir', a.cacheDir),
    verbose: a.quiet ? 0 : 1,
  });
  return { ...base, augment: Boolean(a.augment), augmentation };
}

type ModeFn = (opts: TrainOptions) => Promise<TrainResult>;

/** The workflow of each mode; augment and finetune live in Engineer D's files, loaded on demand. */
async function modeFunction(mode: TrainMode): Promise<ModeFn> {
  if (mode === 'features') return (await import('../../workflows/features.js')).trainFeatures;
  // Non-literal specifiers: these modules may be added independently of this file.
  const file = mode === 'augment' ? '../../workflows/augment.js' : '../../workflows/finetune.js';
  const name = mode === 'augment' ? 'trainAugment' : 'trainFinetune';
  const mod = (await import(file)) as Record<string, unknown>;
  if (typeof mod[name] !== 'function') throw new Error(`${file} does not export ${name}(opts: TrainOptions)`);
  return mod[name] as ModeFn;
}

/**
 * Ctrl-C once: stop after the current batch, keep the best checkpoint, say where it is.
 * Ctrl-C twice: quit at once (the checkpoint on disk is still complete: it is written atomically).
 */
export function interruptController(out: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) {
      process.stderr.write(`\ntlkit: stopped. The best checkpoint so far is in ${runPaths(out).model}.\n`);
      process.exit(130);
    }
    controller.abort();
    process.stderr.write('\ntlkit: interrupted; stopping after the current batch (Ctrl-C again to quit now).\n');
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export function describeResult(r: TrainResult, opts: TrainOptions): string {
  const h = r.history.history;
  const lines: string[] = [];
  if (r.bestEpoch >= 0) {
    const acc = h.val_accuracy?.[r.history.epoch.indexOf(r.bestEpoch)];
    const num = (v: number) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2));
    lines.push(`Best epoch ${r.bestEpoch + 1}: val_loss ${num(r.bestValue)}${acc !== undefined ? `, val_accuracy ${num(acc)}` : ''}.`);
    lines.push(`Model (best checkpoint, base + head, tfjs format): ${runPaths(opts.out).model}`);
  } else {
    lines.push('No checkpoint was saved (no epoch finished).');
  }
  lines.push(`Curves: ${runPaths(opts.out).dir}/accuracy.png, loss.png; log: ${runPaths(opts.out).log}`);
  if (r.interrupted) {
    lines.push(`Training was interrupted after ${r.history.epoch.length} epoch(s). Continue it with the same command plus --resume.`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('train')
    .description('Train a classifier on a pretrained conv base (features: cached features + head; augment: augmentation + frozen base; finetune: unfreeze the top of the base).')
    .requiredOption('--data <dir>', 'data folder: train/ validation/ (test/) with class folders, or class folders directly (with --validation-split)')
    .requiredOption('--base <base>', 'conv base: vgg16, mobilenet, mobilenet_v2, nsfwjs, a tfjs model folder or a Keras .h5 file')
    .option('--weights <w>', 'imagenet | none | a Keras .h5 weights file (default for a family: imagenet, downloaded once and cached)')
    .option('--mode <mode>', 'features | augment | finetune', 'features')
    .requiredOption('--out <run dir>', 'where to write the run (model, meta.json, history.json, log.csv, plots)')
    .option('--epochs <n>', 'epochs (default 20)')
    .option('--image-size <n>', 'N means N x N (default: the base\'s usual size)')
    .option('--batch-size <n>', 'batch size (default 32)')
    .option('--learning-rate <x>', 'learning rate (default 1e-3; finetune 1e-5)')
    .option('--optimizer <name>', 'rmsprop | adam | sgd (default rmsprop, Keras defaults)')
    .option('--unfreeze <n>', 'finetune: layers at the end of the base to train')
    .option('--from <run dir>', 'finetune: start from this run')
    .option('--seed <n>', 'seed for initialisation, shuffling, dropout and augmentation (default 1337)')
    .option('--resume', 'continue an interrupted run in --out from its best checkpoint')
    .option('--validation-split <f>', 'fraction of train to validate on when there is no validation/ folder')
    .option('--head-units <n>', 'units of the head\'s hidden Dense layer (default 256; 0 = none)')
    .option('--dropout <f>', 'dropout rate in the head (default 0.5)')
    .option('--pooling <p>', 'flatten | avg: how the base\'s feature map enters the head (default flatten)')
    .option('--early-stopping <patience>', 'stop when val_loss has not improved for this many epochs')
    .option('--skip-bad-images', 'skip undecodable images instead of stopping')
    .option('--cache-dir <dir>', 'where extracted features are cached')
    .option('--quiet', 'no progress output')
    .option('--augment', 'finetune: augment the training images on the fly (the prefix then runs every epoch instead of being cached)')
    .option('--augment-flip <mode>', `augment/finetune: ${FLIP_CHOICES.join(' | ')} (default horizontal)`)
    .option('--augment-rotation <f>', 'augment/finetune: RandomRotation factor, a fraction of a full turn (default 0.1; 0 = off)')
    .option('--augment-zoom <f>', 'augment/finetune: RandomZoom factor (default 0.2; 0 = off)')
    .action(async (a: TrainArgs) => {
      const opts = toTrainOptions(a);
      const train = await modeFunction(opts.mode);
      const interrupt = interruptController(opts.out);
      try {
        const result = await train({ ...opts, signal: interrupt.signal });
        process.stdout.write(`${describeResult(result, opts)}\n`);
        if (result.interrupted) process.exitCode = 130;
      } finally {
        interrupt.dispose();
      }
    });
}
