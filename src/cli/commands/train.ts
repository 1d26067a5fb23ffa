import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { withTrainDefaults, type TrainMode, type TrainOptions, type TrainResult, type OptimizerName, type HeadPooling } from '../../train/options.js';
import { runPaths } from '../../train/runDir.js';

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
}

const MODES: TrainMode[] = ['features', 'augment', 'finetune'];

export function parseIntArg(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} must be a whole number >= ${min}, got '${v}'.`);
  return n;
}

export function parseFloatArg(flag: string, v: string | undefined, lo: number, hi: number, inclusiveLo = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n > hi || (inclusiveLo ? n < lo : n <= lo)) {
    throw new UserError(`${flag} must be a number in ${inclusiveLo ? '[' : '('}${lo}, ${hi}], got '${v}'.`);
  }
  return n;
}

export function toTrainOptions(a: TrainArgs): TrainOptions {
  if (!MODES.includes(a.mode as TrainMode)) throw new UserError(`--mode must be one of ${MODES.join(', ')}, got '${a.mode}'.`);
  if (a.optimizer && !['rmsprop', 'adam', 'sgd'].includes(a.optimizer)) throw new UserError(`--optimizer must be rmsprop, adam or sgd, got '${a.optimizer}'.`);
  if (a.pooling && !['flatten', 'avg'].includes(a.pooling)) throw new UserError(`--pooling must be flatten or avg, got '${a.pooling}'.`);
  return withTrainDefaults({
    data: a.data,
    base: a.base,
    weights: a.weights,
    mode: a.mode as TrainMode,
    out: a.out,
    epochs: parseIntArg('--epochs', a.epochs, 1),
    imageSize: parseIntArg('--image-size', a.imageSize, 1),
    batchSize: parseIntArg('--batch-size', a.batchSize, 1),
    learningRate: parseFloatArg('--learning-rate', a.learningRate, 0, 10),
    optimizer: a.optimizer as OptimizerName | undefined,
    unfreeze: parseIntArg('--unfreeze', a.unfreeze, 0),
    from: a.from,
    seed: parseIntArg('--seed', a.seed, 0),
    resume: Boolean(a.resume),
    validationSplit: parseFloatArg('--validation-split', a.validationSplit, 0, 0.9),
    headUnits: parseIntArg('--head-units', a.headUnits, 0),
    dropout: parseFloatArg('--dropout', a.dropout, 0, 0.95, true),
    pooling: a.pooling as HeadPooling | undefined,
    earlyStoppingPatience: parseIntArg('--early-stopping', a.earlyStopping, 0),
    skipBadImages: Boolean(a.skipBadImages),
    cacheDir: a.cacheDir,
    verbose: a.quiet ? 0 : 1,
  });
}

type ModeFn = (opts: TrainOptions) => Promise<TrainResult>;

/** The workflow of each mode; augment and finetune live in Engineer D's files, loaded on demand. */
async function modeFunction(mode: TrainMode): Promise<ModeFn> {
  if (mode === 'features') return (await import('../../train/featuresMode.js')).trainFeatures;
  // Non-literal specifiers: these modules may be added independently of this file.
  const file = mode === 'augment' ? '../../train/augmentMode.js' : '../../train/finetuneMode.js';
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
    .option('--weights <w>', 'imagenet | none | a weights file')
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
