import { existsSync, promises as fsp, statSync } from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import type { PreprocessMode } from '../applications/preprocess.js';
import type { HistoryData, TrainMode } from '../workflows/options.js';
import { parseHistory, saveHistory } from '../fit/callbacks/history.js';
import { writeHistoryPlots } from '../report/plots.js';

/**
 * A run dir, what `tlkit train --out DIR` writes and evaluate/predict/report read:
 *   model/          the best checkpoint: ONE tfjs layers model, RGB 0..255 in, preprocessing
 *                   + base + head, standard layers only (tf.loadLayersModel loads it in a browser)
 *   meta.json       classes, preprocessing, image size, base, mode, best epoch, options, timings
 *   history.json    Keras History (per-epoch loss/accuracy/val_loss/val_accuracy)
 *   log.csv         Keras CSVLogger columns
 *   accuracy.png/.svg, loss.png/.svg   the book's two figures
 *   report.html     after `tlkit report`
 */
export const RUN_FILES = {
  model: 'model',
  meta: 'meta.json',
  history: 'history.json',
  log: 'log.csv',
  report: 'report.html',
} as const;

export const META_VERSION = 1;

export interface RunMeta {
  version: number;
  tool: 'tlkit';
  classes: string[];
  /** 'binary': one sigmoid output = P(classes[1]); 'categorical': softmax over classes. */
  labelMode: 'binary' | 'categorical';
  preprocessing: PreprocessMode;
  /** [height, width] the model takes. */
  imageSize: [number, number];
  /** What --base was, and its family / description / weights hash. */
  base: string;
  baseFamily: string;
  baseSource: string;
  weightsHash?: string;
  mode: TrainMode;
  /** 0-based epoch of the saved checkpoint, -1 before the first one. */
  bestEpoch: number;
  bestValLoss: number | null;
  epochsDone: number;
  /** True once training ended normally (false while running or after an interruption). */
  finished: boolean;
  interrupted?: boolean;
  /** The training options (without the abort signal). */
  options: Record<string, unknown>;
  /** Seconds per phase (extract, train, ...). */
  timings: Record<string, number>;
  createdAt: string;
  updatedAt: string;
}

export function runPaths(dir: string) {
  return {
    dir,
    model: path.join(dir, RUN_FILES.model),
    meta: path.join(dir, RUN_FILES.meta),
    history: path.join(dir, RUN_FILES.history),
    log: path.join(dir, RUN_FILES.log),
    report: path.join(dir, RUN_FILES.report),
  };
}

export async function writeMeta(dir: string, meta: RunMeta): Promise<void> {
  const clean = { ...meta, updatedAt: new Date().toISOString() };
  await writeFileAtomic(runPaths(dir).meta, `${JSON.stringify(clean, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
}

/** Check a run dir has what evaluate/predict/report need; every gap is a UserError with the fix. */
export function checkRunDir(dir: string): void {
  const p = runPaths(dir);
  if (!existsSync(dir)) {
    throw new UserError(`The run dir ${dir} does not exist. Give the --out folder of a finished \`tlkit train\` (or \`tlkit demo\`) run.`);
  }
  if (!statSync(dir).isDirectory()) throw new UserError(`${dir} is a file; expected a run dir (the --out folder of \`tlkit train\`).`);
  if (!existsSync(p.meta)) {
    throw new UserError(`${dir} is not a complete tlkit run dir: it has no ${RUN_FILES.meta}. Train into it with \`tlkit train --out ${dir}\`, or give the right folder.`);
  }
  if (!existsSync(path.join(p.model, 'model.json'))) {
    throw new UserError(
      `${dir} is an incomplete tlkit run dir: it has no saved model (${path.join(RUN_FILES.model, 'model.json')}), so training stopped before its first checkpoint. ` +
        `Run \`tlkit train ... --out ${dir} --resume\` or train again.`,
    );
  }
}

export async function readMeta(dir: string): Promise<RunMeta> {
  const file = runPaths(dir).meta;
  let meta: RunMeta;
  try {
    meta = JSON.parse(await fsp.readFile(file, 'utf8')) as RunMeta;
  } catch (e) {
    throw new UserError(`${file} is not valid JSON (${(e as Error).message}). The run dir is damaged; train again.`);
  }
  const missing = ['classes', 'preprocessing', 'imageSize', 'labelMode'].filter((k) => !(k in (meta ?? {})));
  if (missing.length > 0 || meta.tool !== 'tlkit') {
    throw new UserError(`${file} is not a tlkit run's meta.json (missing ${missing.join(', ') || 'tool: tlkit'}). Give the --out folder of \`tlkit train\`.`);
  }
  return meta;
}

export async function readHistory(dir: string): Promise<HistoryData | null> {
  const file = runPaths(dir).history;
  if (!existsSync(file)) return null;
  return parseHistory(await fsp.readFile(file, 'utf8'));
}

export interface LoadedRun {
  dir: string;
  meta: RunMeta;
  model: tfl.LayersModel;
  history: HistoryData | null;
}

/** Load a run for evaluate/predict/report. */
export async function loadRun(dir: string, opts: { withModel?: boolean } = {}): Promise<Omit<LoadedRun, 'model'> & { model?: tfl.LayersModel }> {
  checkRunDir(dir);
  const meta = await readMeta(dir);
  const history = await readHistory(dir);
  const model = opts.withModel === false ? undefined : await tfl.loadLayersModel(fileSystemIO(runPaths(dir).model));
  return { dir, meta, history, model };
}

/** Write history.json and the plots (after training, or after each epoch). */
export async function writeHistoryAndPlots(dir: string, history: HistoryData): Promise<void> {
  await saveHistory(runPaths(dir).history, history);
  await writeHistoryPlots(history, dir);
}
