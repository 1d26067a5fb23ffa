import type { z } from 'zod';
import { UserError } from '../errors.js';
import { closeMatches } from '../io/closeMatches.js';
import { isOnnxBasePath, parsePreprocess } from '../ort/onnxBase.js';
import type { HistoryData } from '../run/history.js';
import type { KnnRecord } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import type { OptionNaming } from './optionKinds.js';
import { TRAIN_DEFAULTS, TRAIN_MODES, TRAIN_OPTIONS, trainOption, type TRAIN_OPTIONS_SCHEMA, type TrainOption } from './trainOptions.js';

/**
 * The options of a training run as train() takes them: the types, defaults and checks
 * all come from the one declaration in ./trainOptions.ts. Checks name options as the
 * caller knows them (`epochs` from code, `--epochs` from the command line).
 */
export type { HeadActivation, HeadPooling, TrainMode } from '../run/meta.js';
export type { OptimizerName } from '../fit/optimizer.js';
export type { OptionNaming } from './optionKinds.js';
export {
  TRAIN_DEFAULTS,
  TRAIN_MODES,
  TRAIN_OPTIONS,
  trainOption,
  type HeadEngine,
  type TrainOption,
} from './trainOptions.js';

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Runtime = {
  /** Aborting it stops training after the current batch (the CLI wires Ctrl-C to it). */
  signal?: AbortSignal;
};

/** A run's options with every default filled in. */
export type TrainOptions = Simplify<z.output<typeof TRAIN_OPTIONS_SCHEMA> & Runtime>;
/** What `train()` takes: data, base and out are required, everything else has a default. */
export type TrainOptionsInput = Simplify<z.input<typeof TRAIN_OPTIONS_SCHEMA> & Runtime>;

export function optionName(key: keyof TrainOptions | string, naming: OptionNaming): string {
  const o = trainOption(key);
  if (naming === 'api') return o?.api ?? key;
  if (naming === 'form') return o ? formName(o) : `"${key}"`;
  return o?.flag ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The label of an option's field on the page's form: its declared label, else its name in words ("Batch size"). */
export function formLabel(o: TrainOption): string {
  const words = (o.path.at(-1) as string).replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
  return o.form?.label ?? words.replace(/^./, (c) => c.toUpperCase());
}

/** How the page's messages name an option: its field, quoted, or what the page sets instead of a field ("the run name"). */
function formName(o: TrainOption): string {
  return o.form?.hidden !== undefined ? o.form.hidden.split(':')[0] : `"${formLabel(o)}"`;
}

/** Fill in every default (undefined counts as not given). */
export function withTrainDefaults(input: TrainOptionsInput): TrainOptions {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return { ...TRAIN_DEFAULTS, ...given } as TrainOptions;
}

function valueAt(o: object, path: readonly string[]): unknown {
  let v: unknown = o;
  for (const k of path) v = v === null || typeof v !== 'object' ? undefined : (v as Record<string, unknown>)[k];
  return v;
}

function nameOf(o: TrainOption, naming: OptionNaming): string {
  return naming === 'api' ? o.api : naming === 'form' ? formName(o) : o.flag;
}

function shown(v: unknown): string {
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** "X must be <expected>, got <received>." and, for numbers, a value to pass instead. */
function invalid(o: TrainOption, got: string, naming: OptionNaming): UserError {
  let fix = '';
  if (o.kind.name === 'int' || o.kind.name === 'number') {
    const example = o.example ?? (o.default !== undefined ? String(o.default) : o.defaultText);
    const inCode = o.path.length > 1 ? `${o.path[0]}: { ${o.path[1]}: ${example} }` : `${o.api}: ${example}`;
    fix = ` ${naming === 'cli' ? `Pass e.g. ${o.flag} ${example}` : naming === 'form' ? `Enter e.g. ${example}` : `Use e.g. ${inCode}`}.`;
  }
  return new UserError(`${nameOf(o, naming)} must be ${o.kind.expect}, got ${got}.${fix}`);
}

/** One option's value from command-line or form text, checked against its declaration. */
function optionFromText(id: string, text: string, naming: OptionNaming): unknown {
  const o = trainOption(id);
  if (!o) throw new UserError(`There is no training option '${id}'.`);
  const v = o.kind.fromText(text);
  if (v === undefined || !o.kind.zod.safeParse(v).success) throw invalid(o, `'${text}'`, naming);
  return v;
}

/**
 * Options given as text (`tlkit train`'s flags, the page's form) to train()'s input: keys
 * are option ids (`epochs`, `augmentFlip`); a string is parsed and checked, `true` turns a
 * switch on (or sets what it sets: --quiet sets verbose 0), other values are taken as they are.
 */
export function trainOptionsFromText(values: Record<string, unknown>, naming: OptionNaming): TrainOptionsInput {
  const out: Record<string, unknown> = {};
  for (const [id, raw] of Object.entries(values)) {
    const o = trainOption(id);
    if (!o) throw new UserError(`There is no training option '${id}'.`);
    let v: unknown = raw;
    if (typeof raw === 'string') v = optionFromText(id, raw, naming);
    else if (raw === true && o.sets !== undefined) v = o.sets;
    else if (raw === false && o.sets !== undefined) v = undefined;
    if (v === undefined) continue;
    if (o.path.length === 1) out[o.path[0]] = v;
    else ((out[o.path[0]] ??= {}) as Record<string, unknown>)[o.path[1]] = v;
  }
  return out as TrainOptionsInput;
}

/** Every check that needs no file system: types, ranges, choices, options that only one mode or kind of base reads. */
export function validateTrainOptions(o: TrainOptions, naming: OptionNaming): void {
  const name = (k: string) => optionName(k, naming);
  // A misspelt option from code (epoch: 3) would otherwise be dropped without a word.
  const known = [...new Set(TRAIN_OPTIONS.map((opt) => opt.path[0])), 'signal'];
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const close = closeMatches(key, known);
    throw new UserError(
      `There is no training option '${key}'.${close.length ? ` Did you mean ${close.join(' or ')}?` : ''} The options are listed in docs/options.md.`,
    );
  }
  for (const opt of TRAIN_OPTIONS) {
    const v = valueAt(o, opt.path);
    if (opt.presence === 'required' && (v === undefined || (typeof v === 'string' && v.trim() === ''))) {
      throw new UserError(`${nameOf(opt, naming)} is required: give ${opt.missing ?? opt.kind.expect}.`);
    }
    if (v === undefined) continue;
    if (!opt.kind.zod.safeParse(v).success) throw invalid(opt, opt.kind.name === 'choice' ? `'${String(v)}'` : shown(v), naming);
  }
  const onnx = isOnnxBasePath(o.base);
  if (onnx) checkOnnxBase(o, naming);
  // An option another mode (or kind of base) reads would be ignored silently; say so instead.
  for (const opt of TRAIN_OPTIONS) {
    const v = valueAt(o, opt.path);
    if (v === undefined || v === opt.default) continue;
    const n = nameOf(opt, naming);
    if (opt.base === 'onnx' && !onnx) {
      throw new UserError(
        `${n} applies to an ONNX base (${name('base')} model.onnx), got ${name('base')} ${o.base}, whose preprocessing and layers tlkit knows. Drop ${n}.`,
      );
    }
    if (opt.base === 'family' && onnx)
      throw new UserError(`${n} cannot be combined with the ONNX base ${o.base}, which brings its own weights. Drop ${n}.`);
    const modes = opt.modes ?? TRAIN_MODES;
    const mode = name('mode');
    if (!modes.includes(o.mode)) {
      const where = opt.needsAugment
        ? `${mode} augment, or finetune with ${name('augment')}`
        : `${mode} ${modes.join(' or ')}${modes.length === 1 ? ' only' : ''}`;
      const note = opt.modeNotes?.[o.mode];
      throw new UserError(
        `${n} applies to ${where} (got ${mode} ${o.mode}${note ? `, ${note}` : ''}). Use ${mode} ${modes[0]}, or drop ${n}.`,
      );
    }
    if (opt.needsAugment && o.mode === 'finetune' && !o.augment) {
      throw new UserError(
        `${n} applies to ${mode} finetune only with ${name('augment')}, which was not given. Add ${name('augment')}, or drop ${n}.`,
      );
    }
  }
}

/** An ONNX base is a frozen graph at fp32: features and augment modes only. */
function checkOnnxBase(o: TrainOptions, naming: OptionNaming): void {
  const name = (k: string) => optionName(k, naming);
  if (o.mode === 'knn') {
    throw new UserError(
      `${name('mode')} knn runs tlkit's own bases for now (a Keras family, nsfwjs, a tfjs folder, a .h5), not the ONNX base ${o.base}. Use ${name('mode')} features with it, or ${name('mode')} knn with e.g. ${name('base')} mobilenet.`,
    );
  }
  if (o.mode === 'finetune') {
    throw new UserError(
      `${name('mode')} finetune cannot train an ONNX base (${o.base}): its graph is frozen, only the head on it trains. Use ${name('mode')} features or augment with it, or fine-tune a Keras family (${name('base')} resnet50, efficientnet_b0, convnext_tiny, mobilenet_v2, ...).`,
    );
  }
  if (o.precision === 'int8') {
    throw new UserError(
      `${name('precision')} int8 quantizes tlkit's own bases (the Keras families); ${name('base')} ${o.base} is an ONNX file, which runs at fp32. Drop ${name('precision')} int8, or quantize the ONNX file with its own tools.`,
    );
  }
  if (o.preprocess !== undefined) parsePreprocess(o.preprocess, name('preprocess'));
}

export interface TrainResult {
  runDir: string;
  /** 0-based epoch of the checkpoint kept in the run dir, -1 if none. */
  bestEpoch: number;
  /** The monitored value (val_loss) at bestEpoch. */
  bestValue: number;
  history: HistoryData;
  /** True when the abort signal (Ctrl-C) stopped training early. */
  interrupted: boolean;
  stoppedEarly: boolean;
  timings: Record<string, number>;
  /** Mode knn: what the run stores (no epoch ran: bestEpoch is -1). */
  knn?: KnnRecord;
}

/** What a finished run says (the CLI prints it, the page shows it): best epoch, where the model and curves are. */
export function describeTrainResult(r: TrainResult, out: string, onnxBase?: string, naming: OptionNaming = 'cli'): string {
  const h = r.history.history;
  const lines: string[] = [];
  if (r.knn) {
    const v = r.knn.validation;
    lines.push(
      `kNN: ${r.knn.count} images stored (pooled features of length ${r.knn.dim}), k ${r.knn.k}; nothing was trained.${v ? ` Validation: accuracy ${v.accuracy.toFixed(4)}, loss ${v.loss.toFixed(4)} on ${v.n} images.` : ''}`,
    );
    lines.push(
      `Base: ${runPaths(out).model}; stored features: ${runPaths(out).knn}. Add images or classes with \`tlkit add ${out} --data DIR\`.`,
    );
    return lines.join('\n');
  }
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
  const epochs = r.history.epoch.length;
  // The curves and the log exist once an epoch has finished.
  if (epochs > 0) lines.push(`Curves: ${runPaths(out).dir}/accuracy.png, loss.png; log: ${runPaths(out).log}`);
  // The page starts a new run each time: it has no command to repeat and no resume.
  const again = naming === 'form' ? 'Start the training again' : 'Run the same command again';
  if (r.interrupted && epochs > 0) {
    lines.push(
      `Training was interrupted after ${epochs} epoch(s).${naming === 'form' ? '' : ` Continue it with the same command plus ${optionName('resume', naming)}.`}`,
    );
  } else if (r.interrupted) {
    lines.push(
      `Stopped before the first epoch finished. ${again} to start over; the splits whose features were extracted in full come from the cache.`,
    );
  }
  return lines.join('\n');
}
