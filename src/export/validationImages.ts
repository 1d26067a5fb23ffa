import { existsSync } from 'node:fs';
import path from 'node:path';
import { listImageFiles, resolveDataDir } from '../data/splits.js';
import type { RunMeta } from '../run/meta.js';

// The images a quantized export is checked on: the validation split of the data the run was
// trained on (meta.json records the folder, absolute), or of --data.

export interface AgreementImages {
  files: string[];
  /** 'validation': DATA/validation/; 'all': every image of class folders without a validation/ folder. */
  split: 'validation' | 'all';
  /** The folder holding the class folders. */
  dir: string;
}

/** The run's recorded data folder: meta.data (absolute), or, for older runs, options.data as typed. */
export function recordedData(meta: Pick<RunMeta, 'data' | 'options'>): string | undefined {
  return meta.data ?? (typeof meta.options?.data === 'string' ? meta.options.data : undefined);
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
