import { existsSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { isOnnxBasePath } from '../../ort/onnxBase.js';
import { runPaths } from '../../run/paths.js';
import {
  describeTrainResult,
  TRAIN_OPTIONS,
  trainOptionsFromText,
  type TrainOption,
  type TrainOptionsInput,
} from '../../workflows/options.js';

// demo prints the same summary.
export { describeTrainResult as describeResult } from '../../workflows/options.js';

/** What commander hands the action: one attribute per flag, as typed (or the declared default). */
export type TrainArgs = Partial<Record<string, string | boolean | number>>;

/**
 * The flag of a declared option (workflows/trainOptions.ts): its help says the modes that
 * read it, its choices and its default. `extract` shares some, with its own help or default.
 */
export function optionFlag(o: TrainOption, own: { help?: string; default?: unknown } = {}): Option {
  const valueless = o.kind.name === 'switch' || o.sets !== undefined;
  const modes = o.needsAugment ? 'augment, finetune with --augment: ' : o.modes ? `${o.modes.join('/')}: ` : '';
  const choices = o.kind.choices && !valueless ? `${o.kind.choices.join(' | ')}: ` : '';
  const flag = new Option(valueless ? o.flag : `${o.flag} <${o.arg ?? o.kind.arg}>`, `${modes}${choices}${own.help ?? o.help}`);
  const value = own.default ?? o.default;
  if (!valueless && value !== undefined) flag.default(value, String(value));
  else if (o.defaultText !== undefined) flag.description += ` (default: ${o.defaultText})`;
  if (o.presence === 'required') flag.makeOptionMandatory();
  return flag;
}

const ID_OF_ATTRIBUTE = new Map(TRAIN_OPTIONS.map((o) => [new Option(o.flag).attributeName(), o.id]));

/**
 * Command-line values to train()'s options, parsed and range-checked by their declaration; train() checks the rest.
 * With `command`, the defaults commander filled in are left out (train() fills in the same), so that what a
 * recipe sets when nothing was typed (--recipe fine-tune: --optimizer adamw) is not taken for typed.
 */
export function toTrainOptions(a: TrainArgs, command?: Pick<Command, 'getOptionValueSource'>): TrainOptionsInput {
  const values: Record<string, unknown> = {};
  for (const [attribute, v] of Object.entries(a)) {
    const id = ID_OF_ATTRIBUTE.get(attribute);
    if (id !== undefined && command?.getOptionValueSource(attribute) !== 'default') values[id] = v;
  }
  const options = trainOptionsFromText(values, 'cli');
  // --json: stdout carries the NDJSON events only; the progress bar (which writes to stdout) is replaced by one stderr line an epoch.
  if (a.json) options.verbose = 0;
  return options;
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
  const { fineTuneEpochLabel } = await import('../../workflows/fineTuneText.js');
  const t0 = performance.now();
  class JsonProgress extends tfl.Callback {
    override async onEpochEnd(epoch: number, logs?: Record<string, unknown>): Promise<void> {
      let saved = false;
      let fineTuneStart = 0;
      try {
        const meta = await readMeta(out);
        saved = meta.bestEpoch === epoch;
        if (meta.phase === 'finetune') fineTuneStart = meta.fineTuneStartEpoch ?? 0;
      } catch {
        saved = false;
      }
      const epochs = Number((this.params as { epochs?: number }).epochs ?? epoch + 1);
      const event: EpochEvent = {
        event: 'epoch',
        epoch: epoch + 1,
        epochs,
        metrics: finite(logs),
        elapsed: (performance.now() - t0) / 1000,
        checkpointSaved: saved,
      };
      write(`${JSON.stringify(event)}\n`);
      const m = Object.entries(event.metrics)
        .map(([k, v]) => `${k} ${v === null ? 'nan' : v.toFixed(4)}`)
        .join(' - ');
      const header = fineTuneStart > 0 ? fineTuneEpochLabel(epoch, fineTuneStart, epochs) : `Epoch ${event.epoch}/${epochs}`;
      process.stderr.write(`${header} - ${m} - ${event.elapsed.toFixed(1)} s${saved ? ' - checkpoint saved' : ''}\n`);
    }
  }
  return new JsonProgress();
}

export function register(program: Command): void {
  const command = program
    .command('train')
    .description(
      'Train a classifier on a pretrained conv base (features: cached features + head; augment: augmentation + frozen base; finetune: unfreeze the top of the base).',
    );
  for (const o of TRAIN_OPTIONS) command.addOption(optionFlag(o));
  command
    .option(
      '--json',
      'machine-readable progress: one JSON object a line on stdout per epoch {event:"epoch", epoch, epochs, metrics, elapsed, checkpointSaved}, then {event:"end", ...}; human progress on stderr',
    )
    .action(async (a: TrainArgs, cmd: Command) => {
      const options = toTrainOptions(a, cmd);
      const { train } = await import('../../workflows/train.js');
      const interrupt = interruptController(options.out);
      const onnxBase = isOnnxBasePath(options.base) ? options.base : undefined;
      try {
        const write = (l: string) => process.stdout.write(l);
        const callbacks = a.json ? [await jsonProgress(options.out, write)] : [];
        const result = await train({ ...options, signal: interrupt.signal }, { naming: 'cli', callbacks });
        if (a.json) {
          const end = {
            event: 'end',
            bestEpoch: result.bestEpoch + 1,
            bestValLoss: Number.isFinite(result.bestValue) ? result.bestValue : null,
            model: runPaths(options.out).model,
            interrupted: Boolean(result.interrupted),
          };
          write(`${JSON.stringify(end)}\n`);
          process.stderr.write(`${describeTrainResult(result, options.out, onnxBase)}\n`);
        } else {
          process.stdout.write(`${describeTrainResult(result, options.out, onnxBase)}\n`);
        }
        if (result.interrupted) process.exitCode = 130;
      } finally {
        interrupt.dispose();
      }
    });
}
