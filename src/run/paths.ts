import path from 'node:path';

/**
 * A run folder, what `tlkit train --out DIR` writes and evaluate/predict/report read:
 *   model/          the best checkpoint: ONE tfjs layers model, RGB 0..255 in, preprocessing
 *                   + base + head, standard layers only (tf.loadLayersModel loads it in a browser);
 *                   with an ONNX base (meta.json onnxBase), the head alone, features in
 *   meta.json       classes, preprocessing, image size, base, mode, best epoch, options, timings
 *   history.json    Keras History (per-epoch loss/accuracy/val_loss/val_accuracy)
 *   log.csv         Keras CSVLogger columns
 *   accuracy.png/.svg, loss.png/.svg   the book's two figures
 *   state/          the last epoch's trainable weights and optimizer state (what --resume reads)
 *   int8-calibration.json   --precision int8: the activation ranges of the frozen base/prefix
 *                   and the int8-vs-fp32 error (evaluate/predict quantize the same way)
 *   knn/            --mode knn: the stored pooled features, their labels and files (model/ is then the base)
 *   report.html, evaluation.json       after `tlkit report` / `tlkit evaluate`
 *   map/            the dataset map the UI's Map panel computes (`tlkit map RUN --out RUN/map`)
 * and, only while a run is being written:
 *   .lock           pid of the process writing the folder
 *   .replaced/      the finished run this one replaces, until the new run's first checkpoint
 */
export const RUN_FILES = {
  model: 'model',
  meta: 'meta.json',
  history: 'history.json',
  log: 'log.csv',
  report: 'report.html',
  evaluation: 'evaluation.json',
  state: 'state',
  int8Calibration: 'int8-calibration.json',
  knn: 'knn',
  map: 'map',
  lock: '.lock',
  replaced: '.replaced',
} as const;

/** Files a run owns: what is set aside when a new run replaces it. */
export const RUN_OUTPUTS = [
  RUN_FILES.model,
  RUN_FILES.meta,
  RUN_FILES.history,
  RUN_FILES.log,
  RUN_FILES.report,
  RUN_FILES.evaluation,
  RUN_FILES.state,
  RUN_FILES.int8Calibration,
  RUN_FILES.knn,
  // The map shows the run's features: a new run's are other features.
  RUN_FILES.map,
  'accuracy.png',
  'accuracy.svg',
  'loss.png',
  'loss.svg',
] as const;

export type RunPaths = { dir: string } & { [K in keyof typeof RUN_FILES]: string };

export function runPaths(dir: string): RunPaths {
  const out = { dir } as RunPaths;
  for (const [k, v] of Object.entries(RUN_FILES)) (out as Record<string, string>)[k] = path.join(dir, v);
  return out;
}
