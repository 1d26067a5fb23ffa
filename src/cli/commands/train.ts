import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { FLIP_CHOICES, type AugmentationParams } from '../../augment/params.js';
import { runPaths } from '../../run/paths.js';
import type { HeadActivation, HeadEngine, HeadPooling, OptimizerName, TrainMode, TrainOptionsInput, TrainResult } from '../../workflows/options.js';
import type { Precision } from '../../ort/int8.js';
import { MAX_SEED, parseImageSizeOption, parseIntOption, parseNumberOption } from '../parseOptions.js';

export interface TrainArgs {
  data: string;
  base: string;
  weights?: string;
  preprocess?: string;
  upTo?: string;
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
  headActivation?: string;
  dropout?: string;
  pooling?: string;
  engine?: string;
  precision?: string;
  earlyStopping?: string;
  skipBadImages?: boolean;
  cacheDir?: string;
  quiet?: boolean;
  augment?: boolean;
  augmentFlip?: string;
  augmentRotation?: string;
  augmentZoom?: string;
  json?: boolean;
}

/** Command-line strings to train()'s options; the ranges and cross-checks are train()'s own (validateTrainOptions). */
export function toTrainOptions(a: TrainArgs): TrainOptionsInput {
  const augmentation: Partial<AugmentationParams> = {
    flip: a.augmentFlip as AugmentationParams['flip'] | undefined,
    rotation: parseNumberOption('--augment-rotation', a.augmentRotation, { min: 0, max: 1, minInclusive: true, example: '0.1' }),
    zoom: parseNumberOption('--augment-zoom', a.augmentZoom, { min: 0, max: 1, minInclusive: true, example: '0.2' }),
  };
  const anyAugmentation = Object.values(augmentation).some((v) => v !== undefined);
  return {
    data: a.data,
    base: a.base,
    weights: a.weights,
    preprocess: a.preprocess,
    upTo: a.upTo,
    mode: a.mode as TrainMode,
    out: a.out,
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
    headActivation: a.headActivation as HeadActivation | undefined,
    dropout: parseNumberOption('--dropout', a.dropout, { min: 0, max: 0.95, minInclusive: true, example: '0.5' }),
    pooling: a.pooling as HeadPooling | undefined,
    engine: a.engine as HeadEngine | undefined,
    precision: a.precision as Precision | undefined,
    earlyStoppingPatience: parseIntOption('--early-stopping', a.earlyStopping, { min: 0, example: '5' }),
    skipBadImages: Boolean(a.skipBadImages),
    cacheDir: a.cacheDir,
    // --json: stdout carries the NDJSON events only; the progress bar (which writes to stdout) is replaced by one stderr line an epoch.
    verbose: a.quiet || a.json ? 0 : 1,
    augment: Boolean(a.augment),
    augmentation: anyAugmentation ? augmentation : undefined,
  };
}

/**
 * Ctrl-C once: stop after the current batch, keep the best checkpoint, say where it is.
 * Ctrl-C twice: quit at once (every file on disk is complete: all are written atomically,
 * and the next run or reader repairs a checkpoint swap cut in the middle).
 */
export function interruptController(out: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) {
      const p = runPaths(out);
      const kept = existsSync(p.replaced)
        ? `No new checkpoint was saved; the run ${out} held before is kept in ${p.replaced} and comes back the next time the folder is used.`
        : existsSync(path.join(p.model, 'model.json'))
          ? `The best checkpoint so far is in ${p.model}.`
          : 'No checkpoint was saved.';
      process.stderr.write(`\ntlkit: stopped. ${kept}\n`);
      process.exit(130);
    }
    controller.abort();
    process.stderr.write('\ntlkit: interrupted; stopping after the current batch (Ctrl-C again to quit now).\n');
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export function describeResult(r: TrainResult, out: string, onnxBase?: string): string {
  const h = r.history.history;
  const lines: string[] = [];
  if (r.bestEpoch >= 0) {
    const acc = h.val_accuracy?.[r.history.epoch.indexOf(r.bestEpoch)];
    const num = (v: number) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2));
    lines.push(`Best epoch ${r.bestEpoch + 1}: val_loss ${num(r.bestValue)}${acc !== undefined ? `, val_accuracy ${num(acc)}` : ''}.`);
    lines.push(
      onnxBase
        ? `Model (best checkpoint, the head alone, tfjs format; predict runs ${onnxBase} before it): ${runPaths(out).model}`
        : `Model (best checkpoint, base + head, tfjs format): ${runPaths(out).model}`,
    );
  } else {
    lines.push('No checkpoint was saved (no epoch finished).');
  }
  lines.push(`Curves: ${runPaths(out).dir}/accuracy.png, loss.png; log: ${runPaths(out).log}`);
  if (r.interrupted) {
    lines.push(`Training was interrupted after ${r.history.epoch.length} epoch(s). Continue it with the same command plus --resume.`);
  }
  return lines.join('\n');
}

/** One `train --json` event an epoch (and one at the end), a line of JSON on stdout. */
export interface EpochEvent {
  event: 'epoch';
  /** 1-based, counted over the whole run (a finetune run without --from counts the head's epochs first). */
  epoch: number;
  epochs: number;
  metrics: Record<string, number>;
  /** Seconds since training started (this process). */
  elapsed: number;
  /** Whether this epoch's model became the run's best checkpoint (model/). */
  checkpointSaved: boolean;
}

function finite(logs: Record<string, unknown> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(logs ?? {})) if (typeof v === 'number') out[k] = Number.isFinite(v) ? v : (null as unknown as number);
  return out;
}

/** A tfjs callback (run after tlkit's own checkpointing) that writes the NDJSON events and a human line to stderr. */
async function jsonProgress(out: string, write: (line: string) => void): Promise<import('@tensorflow/tfjs-layers').Callback> {
  const tfl = await import('@tensorflow/tfjs-layers');
  const { readMeta } = await import('../../run/meta.js');
  const t0 = performance.now();
  class JsonProgress extends tfl.Callback {
    override async onEpochEnd(epoch: number, logs?: Record<string, unknown>): Promise<void> {
      let saved = false;
      try {
        saved = (await readMeta(out)).bestEpoch === epoch;
      } catch {
        saved = false;
      }
      const epochs = Number((this.params as { epochs?: number }).epochs ?? epoch + 1);
      const event: EpochEvent = { event: 'epoch', epoch: epoch + 1, epochs, metrics: finite(logs), elapsed: (performance.now() - t0) / 1000, checkpointSaved: saved };
      write(`${JSON.stringify(event)}\n`);
      const m = Object.entries(event.metrics).map(([k, v]) => `${k} ${v === null ? 'nan' : v.toFixed(4)}`).join(' - ');
      process.stderr.write(`Epoch ${event.epoch}/${epochs} - ${m} - ${event.elapsed.toFixed(1)} s${saved ? ' - checkpoint saved' : ''}\n`);
    }
  }
  return new JsonProgress();
}

export function register(program: Command): void {
  program
    .command('train')
    .description('Train a classifier on a pretrained conv base (features: cached features + head; augment: augmentation + frozen base; finetune: unfreeze the top of the base).')
    .requiredOption('--data <dir>', 'data folder: train/ validation/ (test/) with class folders, or class folders directly (with --validation-split)')
    .requiredOption('--base <base>', 'conv base: a family (vgg16, mobilenet, mobilenet_v2, resnet50, efficientnet_b0, convnext_tiny), nsfwjs, a tfjs model folder, a Keras .h5 file, or an ONNX image model (model.onnx: features and augment modes)')
    .option('--weights <w>', 'imagenet | none | a Keras .h5 weights file (default for a family: imagenet, downloaded once and cached)')
    .option('--preprocess <p>', 'ONNX base: caffe | tf | torch | clip | none, or keys "scale=1/255,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,order=rgb" (default none: RGB 0..255)')
    .option('--up-to <node>', 'ONNX base: cut it at this node output (default: its first output)')
    .option('--mode <mode>', 'features | augment | finetune', 'features')
    .requiredOption('--out <run dir>', 'where to write the run (model, meta.json, history.json, log.csv, plots)')
    .option('--epochs <n>', 'epochs (default 20)')
    .option('--image-size <n>', "N means N x N (default: the base's usual size)")
    .option('--batch-size <n>', 'batch size (default 32)')
    .option('--learning-rate <x>', 'learning rate (default 1e-3; finetune 1e-5)')
    .option('--optimizer <name>', 'rmsprop | adam | sgd (default rmsprop, Keras defaults)')
    .option('--unfreeze <n>', 'finetune: layers at the end of the base to train')
    .option('--from <run dir>', 'finetune: start from this run')
    .option('--seed <n>', 'seed for initialisation, shuffling, dropout and augmentation (default 1337)')
    .option('--resume', 'continue the run in --out from its last finished epoch (weights and optimizer state), any mode')
    .option('--validation-split <f>', 'fraction of train to validate on when there is no validation/ folder')
    .option('--head-units <n>', "units of the head's hidden Dense layer (default 256; 0 = none)")
    .option('--head-activation <a>', "linear | relu: the hidden Dense's activation (default linear, the book's Dense(256))")
    .option('--dropout <f>', 'dropout rate in the head (default 0.5)')
    .option('--pooling <p>', "flatten | avg: how the base's feature map enters the head (default flatten)")
    .option('--engine <e>', 'ort | tfjs: what trains the head and, in finetune mode, the unfrozen layers (default ort = ONNX Runtime, generated training graphs; tfjs = the wasm backend)')
    .option('--early-stopping <patience>', 'stop when val_loss has not improved for this many epochs')
    .option('--skip-bad-images', 'skip undecodable images instead of stopping')
    .option('--precision <p>', 'fp32 | int8: the frozen base (or finetune\'s frozen prefix) on ONNX Runtime; int8 is quantized, calibrated on 128 training images (default fp32)')
    .option('--cache-dir <dir>', 'where extracted features are cached')
    .option('--quiet', 'no progress output')
    .option('--json', 'machine-readable progress: one JSON object a line on stdout per epoch {event:"epoch", epoch, epochs, metrics, elapsed, checkpointSaved}, then {event:"end", ...}; human progress on stderr')
    .option('--augment', 'finetune: augment the training images on the fly (the prefix then runs every epoch instead of being cached)')
    .option('--augment-flip <mode>', `augment/finetune: ${FLIP_CHOICES.join(' | ')} (default horizontal)`)
    .option('--augment-rotation <f>', 'augment/finetune: RandomRotation factor, a fraction of a full turn (default 0.1; 0 = off)')
    .option('--augment-zoom <f>', 'augment/finetune: RandomZoom factor (default 0.2; 0 = off)')
    .action(async (a: TrainArgs) => {
      const options = toTrainOptions(a);
      const { train } = await import('../../workflows/train.js');
      const interrupt = interruptController(options.out);
      const onnxBase = /\.onnx$/i.test(options.base.trim()) ? options.base : undefined;
      try {
        const write = (l: string) => process.stdout.write(l);
        const callbacks = a.json ? [await jsonProgress(options.out, write)] : [];
        const result = await train({ ...options, signal: interrupt.signal }, { naming: 'cli', callbacks });
        if (a.json) {
          const end = { event: 'end', bestEpoch: result.bestEpoch + 1, bestValLoss: Number.isFinite(result.bestValue) ? result.bestValue : null, model: runPaths(options.out).model, interrupted: Boolean(result.interrupted) };
          write(`${JSON.stringify(end)}\n`);
          process.stderr.write(`${describeResult(result, options.out, onnxBase)}\n`);
        } else {
          process.stdout.write(`${describeResult(result, options.out, onnxBase)}\n`);
        }
        if (result.interrupted) process.exitCode = 130;
      } finally {
        interrupt.dispose();
      }
    });
}
