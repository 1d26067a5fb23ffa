import type { RunMeta } from '../run/meta.js';

/** Rows of the report's configuration table that describe training, which a kNN run did not do. */
const TRAINING_ROWS = new Set(['Epochs', 'Batch size', 'Optimizer', 'Head', 'Augmentation', 'Calibration', 'Best epoch', 'Seed']);

/**
 * The configuration rows of a kNN run: the training rows give way to one that says what
 * votes (k, the stored images, the validation figures when it was built).
 */
export function knnConfigRows(meta: RunMeta, rows: Array<[string, unknown]>): Array<[string, unknown]> {
  const knn = meta.knn;
  if (!knn) return rows;
  const v = knn.validation;
  const fact =
    `no training: the ${knn.k} stored images nearest by cosine similarity of the pooled features vote, each with weight max(similarity, 0); ` +
    `${knn.count} images stored (vectors of length ${knn.dim})${v ? `; validation accuracy ${v.accuracy.toFixed(4)}, loss ${v.loss.toFixed(4)} on ${v.n} images when built` : ''}`;
  const kept = rows.filter(([name]) => !TRAINING_ROWS.has(name));
  const at = kept.findIndex(([name]) => name === 'Data') + 1;
  return [...kept.slice(0, at), ['kNN', fact], ...kept.slice(at)];
}
