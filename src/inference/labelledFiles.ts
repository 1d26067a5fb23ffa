import { UserError } from '../errors.js';
import type { LabelsTableOptions } from '../data/labelsTable.js';
import { tableEvaluationFiles } from '../data/tableData.js';
import type { Evaluation } from '../run/evaluation.js';
import type { RunMeta } from '../run/meta.js';
import { isMultiLabel, scoreMultiLabel } from './multiLabel.js';
import { evaluationFiles, scoreEvaluation } from './predictor.js';

/** The labelled images a run is evaluated on, with their true labels. */
export interface EvaluationListing {
  /** The folder of class folders, or the table's data folder. */
  dir: string;
  files: string[];
  /** Index of each image's class; -1 for a multi-label run. */
  labels: number[];
  /** Multi-label runs: each image's true labels, in class order. */
  labelLists?: string[][];
}

/**
 * The images to evaluate a run on: class folders (test/ of the book's layout), or the rows
 * of a labels table. A multi-label run needs the table (a class folder holds one label an
 * image); a table given without --label-delim is split as the run's training table was.
 */
export function evaluationListing(data: string, meta: RunMeta, table?: LabelsTableOptions): EvaluationListing {
  const classes = meta.classes;
  if (!isMultiLabel(meta)) {
    if (!table?.labels) return evaluationFiles(data, classes);
    const { dir, files, labels } = tableEvaluationFiles(data, table, classes);
    return { dir, files, labels };
  }
  if (!table?.labels) {
    throw new UserError(
      `This run is multi-label (classes ${classes.join(', ')}, several labels an image), and class folders give one label an image: ` +
        `evaluate it with --labels FILE, a table of ${data}'s images and their labels (table.labels from code), with --label-delim as in training.`,
    );
  }
  const trained = meta.options?.labelDelim;
  const labelDelim = table.labelDelim ?? (typeof trained === 'string' && trained !== '' ? trained : undefined);
  return tableEvaluationFiles(data, { ...table, labelDelim }, classes, { multiLabel: true });
}

/** The figures of class scores against a listing's true labels: softmax/sigmoid-pair scoring, or multi-label at `thresholds`. */
export function scoreListing(scores: number[][], listing: EvaluationListing, classes: string[], thresholds?: number[]): Evaluation {
  if (listing.labelLists && thresholds) return scoreMultiLabel(scores, listing.labelLists, classes, thresholds);
  return scoreEvaluation(scores, listing.labels, classes);
}

/** A listing with only the images where keep[i] is true. */
export function keepListed(listing: EvaluationListing, keep: boolean[]): EvaluationListing {
  const pick = <T>(a: T[]) => a.filter((_, i) => keep[i]);
  return {
    dir: listing.dir,
    files: pick(listing.files),
    labels: pick(listing.labels),
    ...(listing.labelLists ? { labelLists: pick(listing.labelLists) } : {}),
  };
}
