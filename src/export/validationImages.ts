import { existsSync } from 'node:fs';
import path from 'node:path';
import { labelsTableOptions, readLabelsTable, type LabelsTableOptions } from '../data/labelsTable.js';
import { listImageFiles, resolveDataDir } from '../data/splits.js';
import type { RunMeta } from '../run/meta.js';

// The images a quantized export is checked on: the validation split of the data the run was
// trained on (meta.json records the folder, absolute), or of --data; for a run trained from a
// labels table, that table's validation rows over the folder.

export interface AgreementImages {
  files: string[];
  /** 'validation': DATA/validation/ (or a labels table's validation rows); 'all': every image of class folders without a validation/ folder (or every row of a table without a validation column). */
  split: 'validation' | 'all';
  /** The folder holding the class folders (or the table's images). */
  dir: string;
}

/** The run's recorded data folder: meta.data (absolute), or, for older runs, options.data as typed. */
export function recordedData(meta: Pick<RunMeta, 'data' | 'options'>): string | undefined {
  return meta.data ?? (typeof meta.options?.data === 'string' ? meta.options.data : undefined);
}

/** A run trained from a labels table: the table's validation rows (its validation column), else every row. */
function tableImages(dir: string, options: LabelsTableOptions, pass: string): AgreementImages | { reason: string } {
  let rows;
  try {
    rows = readLabelsTable(dir, options).rows;
  } catch (e) {
    return { reason: `the run's labels table ${options.labels} cannot be read over ${dir} (${(e as Error).message}). ${pass}` };
  }
  const valid = rows.filter((r) => r.valid === true);
  const files = (valid.length ? valid : rows).flatMap((r) => (r.file ? [r.file] : []));
  if (files.length === 0) return { reason: `the run's labels table ${options.labels} names no image of ${dir}. ${pass}` };
  return { files, split: valid.length ? 'validation' : 'all', dir };
}

/**
 * The validation images of `data` (else of the run's recorded data folder), in class order;
 * a reason instead when there are none to read (no folder recorded, moved, other classes).
 */
export function agreementImages(meta: Pick<RunMeta, 'data' | 'options' | 'classes'>, data?: string): AgreementImages | { reason: string } {
  const dir = data ?? recordedData(meta);
  const pass = 'Pass --data DIR (a folder with validation/ or class folders) to measure it.';
  if (!dir) return { reason: `the run does not record the data folder it was trained on. ${pass}` };
  if (!existsSync(dir)) {
    return {
      reason: `${data ? '--data' : 'the data folder the run was trained on,'} ${dir}${data ? '' : ','} does not exist${data ? '' : ' (moved or deleted)'}. ${pass}`,
    };
  }
  const table = labelsTableOptions((meta.options ?? {}) as LabelsTableOptions);
  if (table) return tableImages(dir, table, pass);
  let resolved;
  try {
    resolved = resolveDataDir(dir);
  } catch (e) {
    return { reason: `${dir} cannot be read as a data folder (${(e as Error).message}). ${pass}` };
  }
  const folder = resolved.splits.validation ?? resolved.splits.train;
  const missing = meta.classes.filter((c) => !existsSync(path.join(folder, c)));
  if (missing.length) {
    return {
      reason: `${folder} lacks the class folder${missing.length > 1 ? 's' : ''} ${missing.map((c) => `'${c}'`).join(', ')} of the run. ${pass}`,
    };
  }
  const files = meta.classes.flatMap((c) => listImageFiles(path.join(folder, c)));
  if (files.length === 0) return { reason: `${folder} holds no images. ${pass}` };
  return { files, split: resolved.splits.validation ? 'validation' : 'all', dir: folder };
}
