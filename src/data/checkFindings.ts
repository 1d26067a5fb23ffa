import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BadImageError, decodeRgb, extensionOf, formatName, sniffImageType, typeFromExtension, type ImageType } from './decode.js';
import { byCodePoint } from './splits.js';

// What check-data finds, and the checks of each image, shared by the folder and the table scans.

export type ProblemKind =
  | 'corrupt' // unreadable, truncated or otherwise undecodable image
  | 'empty-file' // zero bytes
  | 'not-an-image' // content is not JPEG/PNG/GIF/BMP (e.g. a text file named .jpg)
  | 'wrong-extension' // a real image whose content type differs from its extension
  | 'tiny' // smaller than minSize on a side
  | 'duplicate' // identical bytes in two different splits (leakage)
  | 'imbalance' // largest class / smallest class above maxImbalance within a split
  | 'empty-class' // a class folder with no images
  | 'missing-class' // a class present in one split but not another
  | 'one-class' // a single class: no classifier can be trained on it
  | 'ignored-file' // a file training will not read (not an image extension, or not inside a class folder)
  | 'hidden-file' // dot files and macOS ._* AppleDouble files: skipped by every command
  | 'symlink' // a symlinked class folder (read, as Keras does) or sub-folder (not followed, as Keras's follow_links=False)
  // With a labels table (checkTable.ts):
  | 'missing-file' // a row naming no image of the data folder
  | 'duplicate-row' // two rows naming the same file
  | 'empty-label' // a row without a label
  | 'unknown-label' // a label that is not one of the classes given
  | 'not-in-table' // an image of the data folder that no row names: training leaves it out
  | 'rare-label' // a label only one row has: it cannot be both learnt and validated
  | 'unvalidated-label'; // multi-label: a label no validation row has, so no threshold can be chosen for it

/** 'error': breaks or misleads training; 'warning': harmless, or only worth a look. */
export type Severity = 'error' | 'warning';

/** Each kind's severity, from how train and the loaders treat it. */
export const SEVERITY: Readonly<Record<ProblemKind, Severity>> = {
  corrupt: 'error', // training stops on it (unless --skip-bad-images)
  'empty-file': 'error', // ditto
  'not-an-image': 'error', // its image extension makes training decode it, and stop
  duplicate: 'error', // leakage: validation/test accuracy is overstated
  'empty-class': 'error', // train refuses it
  'missing-class': 'error', // train refuses splits whose classes differ
  'one-class': 'error', // train refuses it: a classifier needs at least 2 classes
  'wrong-extension': 'warning', // tlkit reads by content
  tiny: 'warning',
  imbalance: 'warning',
  'ignored-file': 'warning', // not read, as Keras does not
  'hidden-file': 'warning', // skipped by every command
  symlink: 'warning', // read or skipped as Keras does
  'missing-file': 'error', // train refuses the table
  'duplicate-row': 'error', // ditto
  'empty-label': 'error', // ditto
  'unknown-label': 'error', // a typo makes a class of its own
  'not-in-table': 'warning', // left out, as intended or not
  'rare-label': 'warning',
  'unvalidated-label': 'warning', // trains, with the threshold 0.5 and no validation figure for that label
};

export interface Problem {
  kind: ProblemKind;
  severity: Severity;
  /** Files concerned, relative to the checked folder. */
  files: string[];
  message: string;
}

export interface SplitReport {
  /** 'train', 'validation', 'test', or '.' when class folders sit directly in the checked folder. */
  split: string;
  counts: Record<string, number>;
  total: number;
}

export interface CheckReport {
  dir: string;
  layout: 'splits' | 'classes' | 'table';
  classNames: string[];
  splits: SplitReport[];
  /** Layout 'table': the table as given. */
  table?: string;
  /**
   * A multi-label table (some row has several labels): how many rows have several. The
   * counts are then rows with each label, and a row counts once per label it has.
   */
  multiLabelRows?: number;
  /** Errors first, then warnings. */
  problems: Problem[];
  /** No findings at all. check-data exits 0 when `errors` is 0 (any finding with --strict). */
  ok: boolean;
  errors: number;
  warnings: number;
}

/** A problem before its severity is looked up. */
export type Finding = Omit<Problem, 'severity'>;

export interface ImageEntry {
  file: string;
  rel: string;
  split: string;
}

/**
 * Read, hash and decode every image with bounded concurrency: a finding for each unreadable,
 * mislabelled or tiny one, and one for each group of identical files in different splits.
 */
export async function scanImages(
  images: ImageEntry[],
  opts: { minSize: number; concurrency?: number; onProgress?: (done: number, total: number) => void },
  problems: Finding[],
): Promise<void> {
  const hashes = new Map<string, ImageEntry[]>();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < images.length) {
      const img = images[next++];
      const p = await inspectImage(img, opts.minSize);
      if (p.problem) problems.push(p.problem);
      if (p.hash) {
        const group = hashes.get(p.hash);
        if (group) group.push(img);
        else hashes.set(p.hash, [img]);
      }
      opts.onProgress?.(++done, images.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));

  for (const group of hashes.values()) {
    const splitsOf = new Set(group.map((g) => g.split));
    if (splitsOf.size < 2) continue;
    const files = group.map((g) => g.rel).sort(byCodePoint);
    problems.push({
      kind: 'duplicate',
      files,
      message: `identical files in ${[...splitsOf].join(' and ')} (validation/test leakage): ${files.join(', ')}`,
    });
  }
}

/** An 'imbalance' finding for each split whose largest class has more than maxImbalance times the images of its smallest. */
export function imbalanceFindings(splits: SplitReport[], maxImbalance: number, problems: Finding[]): void {
  for (const s of splits) {
    const nonEmpty = Object.entries(s.counts).filter(([, n]) => n > 0);
    if (nonEmpty.length < 2) continue;
    const max = nonEmpty.reduce((a, b) => (b[1] > a[1] ? b : a));
    const min = nonEmpty.reduce((a, b) => (b[1] < a[1] ? b : a));
    if (max[1] / min[1] > maxImbalance) {
      problems.push({
        kind: 'imbalance',
        files: [],
        message: `${s.split === '.' ? 'the dataset' : s.split + '/'} is imbalanced: '${max[0]}' has ${max[1]} images, '${min[0]}' only ${min[1]} (${(max[1] / min[1]).toFixed(1)}x); accuracy will be misleading — collect more '${min[0]}' images or weight the classes`,
      });
    }
  }
}

/** The report: each finding with its severity, errors first. */
export function finishReport(
  r: Pick<CheckReport, 'dir' | 'layout' | 'classNames' | 'splits' | 'table' | 'multiLabelRows'>,
  problems: Finding[],
): CheckReport {
  const found = problems.map(({ kind, files, message }): Problem => ({ kind, severity: SEVERITY[kind], files, message }));
  const rank = (p: Problem) => (p.severity === 'error' ? 0 : 1);
  found.sort((a, b) => rank(a) - rank(b) || byCodePoint(a.kind, b.kind) || byCodePoint(a.files[0] ?? '', b.files[0] ?? ''));
  const errors = found.filter((p) => p.severity === 'error').length;
  return { ...r, problems: found, ok: found.length === 0, errors, warnings: found.length - errors };
}

async function inspectImage(img: ImageEntry, minSize: number): Promise<{ hash?: string; problem?: Finding }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(img.file);
  } catch (e) {
    return {
      problem: {
        kind: 'corrupt',
        files: [img.rel],
        message: `${img.rel} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      },
    };
  }
  if (bytes.length === 0) return { problem: { kind: 'empty-file', files: [img.rel], message: `${img.rel} is empty (0 bytes)` } };
  const hash = createHash('sha256').update(bytes).digest('hex');
  const actual = sniffImageType(bytes.subarray(0, 16));
  if (!actual) {
    const text = looksLikeText(bytes) ? ' (it looks like a text file)' : '';
    return {
      hash,
      problem: {
        kind: 'not-an-image',
        files: [img.rel],
        message: `${img.rel} is not an image (not JPEG, PNG, GIF, BMP, WebP, TIFF or AVIF)${text}`,
      },
    };
  }
  try {
    const decoded = await decodeRgb(img.file, bytes);
    const expected = typeFromExtension(img.file);
    if (expected && expected !== actual) {
      return { hash, problem: { kind: 'wrong-extension', files: [img.rel], message: wrongExtensionMessage(img, actual) } };
    }
    if (Math.min(decoded.width, decoded.height) < minSize) {
      return {
        hash,
        problem: {
          kind: 'tiny',
          files: [img.rel],
          message: `${img.rel} is tiny (${decoded.width}x${decoded.height}, under ${minSize} px a side); upscaling it adds no information`,
        },
      };
    }
    return { hash };
  } catch (e) {
    const reason = e instanceof BadImageError ? e.reason : (e as Error).message;
    return { hash, problem: { kind: 'corrupt', files: [img.rel], message: `${img.rel} cannot be decoded: ${reason}` } };
  }
}

/** tlkit reads the file by its content; the advice depends on whether Keras could read it. */
function wrongExtensionMessage(img: ImageEntry, actual: ImageType): string {
  const base = `${img.rel} is a ${formatName(actual)} image named ${path.extname(img.file)}`;
  if (['jpeg', 'png', 'gif', 'bmp'].includes(actual))
    return `${base}; tlkit reads it by its content, but rename it to ${extensionOf(actual)}`;
  return `${base}; tlkit reads it by its content, but Keras (tf.io.decode_image) cannot read ${formatName(actual)}: convert it to PNG or JPEG for Keras parity`;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 512);
  return head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 128);
}
