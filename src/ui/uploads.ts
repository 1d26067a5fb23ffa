import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { decodeRgb, extensionOf, formatName, sniffImageType, typeFromExtension, type ImageType } from '../data/decode.js';
import { SPLIT_NAMES } from '../data/splits.js';
import { writeFileAtomic } from '../io/atomicWrite.js';

/** Largest image the page may upload, and largest request (several images at once). */
export const DEFAULT_UPLOAD_LIMITS = { fileBytes: 20 * 1024 * 1024, requestBytes: 200 * 1024 * 1024 };
export type UploadLimits = typeof DEFAULT_UPLOAD_LIMITS;

/** What training reads (Keras's image_dataset_from_directory formats). */
const ACCEPTED: readonly ImageType[] = ['jpeg', 'png', 'gif', 'bmp'];

/** A class folder name: no separators, not hidden, not `.`/`..`, printable. */
export function checkClassName(name: string): string {
  const n = name.trim();
  if (!n || n.length > 100 || n.startsWith('.') || /[/\\\0]/.test(n) || /[\x00-\x1f]/.test(n)) {
    throw new UserError(
      `'${name}' cannot be a class folder name: use letters, digits, spaces, - or _ (no / or \\, not starting with a dot).`,
    );
  }
  return n;
}

/** The split folder uploads go to: '' for class folders directly under the data folder. */
export function checkSplit(split: string): string {
  if (split === '' || (SPLIT_NAMES as readonly string[]).includes(split)) return split;
  throw new UserError(`The split must be one of ${SPLIT_NAMES.join(', ')} (or none), got '${split}'.`);
}

/** A safe file name for the upload, with the extension of what it really is. */
function fileNameFor(original: string, type: ImageType): string {
  const stem =
    path
      .basename(original, path.extname(original))
      .replace(/[^\w.-]+/g, '_')
      .replace(/^[._]+/, '')
      .slice(0, 80) || 'image';
  const ext = typeFromExtension(original) === type ? path.extname(original).toLowerCase() : extensionOf(type);
  return `${stem}${ext}`;
}

function freeName(dir: string, name: string): string {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  let candidate = name;
  for (let i = 2; existsSync(path.join(dir, candidate)); i++) candidate = `${stem}-${i}${ext}`;
  return candidate;
}

/**
 * Check one uploaded file and write it into `classDir`: at most `limits.fileBytes`, and
 * an image training reads (JPEG, PNG, GIF or BMP by its content, whatever its name)
 * that decodes. Returns the name written; an existing file is never replaced.
 */
export async function saveUpload(classDir: string, name: string, bytes: Uint8Array, limits: UploadLimits): Promise<string> {
  if (bytes.length > limits.fileBytes) {
    throw new UserError(
      `${name} is ${(bytes.length / 1e6).toFixed(1)} MB, over the upload limit of ${(limits.fileBytes / 1e6).toFixed(1)} MB. Resize it or copy it into the folder yourself.`,
    );
  }
  const type = sniffImageType(bytes.subarray(0, 32));
  if (!type || !ACCEPTED.includes(type)) {
    throw new UserError(
      `${name} is not an image training can read (${type ? formatName(type) : 'unknown content'}). Upload JPEG, PNG, GIF or BMP files.`,
    );
  }
  await decodeRgb(name, bytes); // a truncated or corrupt image is refused here, with the decoder's reason
  const target = freeName(classDir, fileNameFor(name, type));
  await writeFileAtomic(path.join(classDir, target), bytes);
  return target;
}
