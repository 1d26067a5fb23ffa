import fs from 'node:fs';
import { UserError } from '../errors.js';
import { PRECISIONS, type Precision } from '../ort/int8.js';
import { DECIMAL_NUMBER, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, WHOLE_NUMBER } from '../workflows/optionLimits.js';

// The one place where command-line values become numbers and paths, so that every
// command rejects the same typos with the same kind of message (flag, value, fix).
// `tlkit train`'s own options are parsed by their declaration (workflows/trainOptions.ts).

export { MAX_SEED } from '../workflows/optionLimits.js';

/** --precision: fp32 or int8 (undefined when not given). */
export function parsePrecisionOption(text: string | undefined, flag = '--precision'): Precision | undefined {
  if (text === undefined) return undefined;
  if (!(PRECISIONS as readonly string[]).includes(text)) {
    throw new UserError(
      `${flag} must be ${PRECISIONS.join(' or ')}, got '${text}'. Pass ${flag} int8 for the quantized base (faster on CPUs with AVX-512 VNNI or AVX2), or leave it out for fp32.`,
    );
  }
  return text as Precision;
}

export interface IntRange {
  min: number;
  /** Inclusive upper bound; none when absent. */
  max?: number;
  /** A good value to show in the message, e.g. '20'. Defaults to `min`. */
  example?: string;
}

/** `flag` as a whole number in [min, max]; undefined when the option was not given. */
export function parseIntOption(flag: string, text: string | undefined, range: IntRange): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  const inRange = Number.isSafeInteger(n) && n >= range.min && (range.max === undefined || n <= range.max);
  if (!WHOLE_NUMBER.test(text) || !inRange) {
    const bounds = range.max === undefined ? `>= ${range.min}` : `from ${range.min} to ${range.max}`;
    throw new UserError(`${flag} must be a whole number ${bounds}, got '${text}'. Pass e.g. ${flag} ${range.example ?? range.min}.`);
  }
  return n;
}

export interface NumberRange {
  min: number;
  /** Upper bound; none when absent. */
  max?: number;
  /** Whether `min` itself is allowed (default false: a learning rate of 0 trains nothing). */
  minInclusive?: boolean;
  /** Whether `max` itself is allowed (default true). */
  maxInclusive?: boolean;
  example?: string;
}

/** --tta [views]: absent -> undefined, bare -> fastai's 4 views, else a whole number >= 0. */
export function parseTtaOption(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 4;
  return parseIntOption('--tta', value, { min: 0, example: '4' });
}

/** `flag` as a finite decimal number within the range; undefined when not given. */
export function parseNumberOption(flag: string, text: string | undefined, range: NumberRange): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  const { min, max, minInclusive = false, maxInclusive = true } = range;
  const aboveMin = minInclusive ? n >= min : n > min;
  const belowMax = max === undefined || (maxInclusive ? n <= max : n < max);
  if (!DECIMAL_NUMBER.test(text) || !Number.isFinite(n) || !aboveMin || !belowMax) {
    const bounds =
      max === undefined ? `${minInclusive ? '>=' : '>'} ${min}` : `in ${minInclusive ? '[' : '('}${min}, ${max}${maxInclusive ? ']' : ')'}`;
    throw new UserError(`${flag} must be a number ${bounds}, got '${text}'.${range.example ? ` Pass e.g. ${flag} ${range.example}.` : ''}`);
  }
  return n;
}

/** --image-size N (meaning N x N): a whole number the conv bases and memory can take. */
export function parseImageSizeOption(text: string | undefined, flag = '--image-size'): number | undefined {
  return parseIntOption(flag, text, { min: MIN_IMAGE_SIZE, max: MAX_IMAGE_SIZE, example: '180' });
}

function statOrUndefined(flag: string, p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false });
  } catch (e) {
    // ENOTDIR: a parent in the path is a file, e.g. notes.txt/run.
    throw new UserError(
      `${flag} ${p} cannot be created: a part of that path is a file, not a folder (${(e as NodeJS.ErrnoException).code}). Give another path.`,
    );
  }
}

/** A file the command will write: it must not be an existing folder. */
export function checkOutputFile(flag: string, file: string): string {
  if (file.trim() === '') throw new UserError(`${flag} needs a file path, got an empty string.`);
  const stat = statOrUndefined(flag, file);
  if (stat?.isDirectory()) {
    throw new UserError(
      `${flag} ${file} is an existing folder. Give a file path inside it instead, e.g. ${flag} ${file.replace(/[\\/]+$/, '')}/out.png.`,
    );
  }
  return file;
}
