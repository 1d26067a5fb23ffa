import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { UserError } from '../errors.js';
import { decodeBmp, type RgbImage } from './bmp.js';
import { aspectCropWindow, resizeRgb, type Interpolation } from './resize.js';

export type { RgbImage } from './bmp.js';
export type { Interpolation } from './resize.js';

/** File extensions image_dataset_from_directory accepts (Keras ALLOWLIST_FORMATS). */
export const IMAGE_EXTENSIONS = ['.bmp', '.gif', '.jpeg', '.jpg', '.png'] as const;

export type ImageType = 'jpeg' | 'png' | 'gif' | 'bmp';

/** True when the file name has one of the accepted image extensions (case-insensitive). */
export function hasImageExtension(file: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(file).toLowerCase());
}

/** The image type the extension promises, if any. */
export function typeFromExtension(file: string): ImageType | undefined {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.png') return 'png';
  if (ext === '.gif') return 'gif';
  if (ext === '.bmp') return 'bmp';
  return undefined;
}

/** The image type from the file's first bytes (its magic number), whatever its name says. */
export function sniffImageType(head: Uint8Array): ImageType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47) return 'png';
  if (head.length >= 4 && head[0] === 0x47 && head[1] === 0x49 && head[2] === 0x46 && head[3] === 0x38) return 'gif';
  if (head.length >= 2 && head[0] === 0x42 && head[1] === 0x4d) return 'bmp';
  return undefined;
}

/** libvips reports one warning a line, often the same ones repeated: keep each once, on one line (one-paragraph messages). */
function oneLine(message: string): string {
  const lines = message.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return [...new Set(lines)].join('; ');
}

/** A file that cannot be decoded as an image: a UserError that names the file and the reason. */
export class BadImageError extends UserError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(
      `Could not read the image ${file}: ${reason}. Expected a JPEG, PNG, BMP or GIF image. ` +
        'Remove or replace the file (train and extract can instead skip unreadable images with a warning: --skip-bad-images; ' +
        '`tlkit check-data <dir>` lists every problem in a dataset).',
    );
    this.name = 'UserError';
  }
}

/**
 * Decode an image file (or its bytes) to full-size RGB, 8 bits a channel, the way
 * tf.io.decode_image(channels=3, expand_animations=False) does: grayscale is
 * replicated to RGB, alpha dropped, 16-bit reduced to 8 (v >> 8), the first GIF
 * frame, EXIF orientation ignored. Throws BadImageError for empty, truncated or
 * non-image files.
 */
export async function decodeRgb(file: string, bytes?: Uint8Array): Promise<RgbImage> {
  let buf: Uint8Array;
  try {
    buf = bytes ?? (await readFile(file));
  } catch (e) {
    throw new BadImageError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.length === 0) throw new BadImageError(file, 'the file is empty (0 bytes)');
  const type = sniffImageType(buf.subarray(0, 16));
  if (!type) throw new BadImageError(file, `its content is not a JPEG, PNG, GIF or BMP image (first bytes: ${hexHead(buf)})`);
  if (type === 'bmp') {
    try {
      return decodeBmp(buf, file);
    } catch (e) {
      throw new BadImageError(file, (e as Error).message.replace(`${file}: `, '').replace(/\. Convert it.*$/, ''));
    }
  }
  try {
    // failOn 'truncated' rejects cut-off files (as TF's decoders do) but tolerates
    // harmless libjpeg warnings such as extraneous bytes before a marker.
    const { data, info } = await sharp(buf, { failOn: 'truncated', pages: 1 })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected channel count ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (e) {
    throw new BadImageError(file, `the ${type.toUpperCase()} data is corrupt or truncated (${oneLine((e as Error).message)})`);
  }
}

export interface DecodeOptions {
  /** Resize method: 'bilinear' (default, as Keras) or 'nearest'; both with half-pixel centres. */
  interpolation?: Interpolation;
  /** Crop the largest centred window with the target aspect ratio before resizing (Keras crop_to_aspect_ratio). */
  cropToAspectRatio?: boolean;
}

/**
 * Decode `file` and resize it to `size` = [height, width]: float32 NHWC RGB values
 * in 0..255 (not rounded), as Keras's image_dataset_from_directory yields them.
 */
export async function decodeImage(file: string, size: [number, number], opts: DecodeOptions = {}): Promise<Float32Array> {
  const out = new Float32Array(size[0] * size[1] * 3);
  await decodeImageInto(file, size, out, 0, opts);
  return out;
}

/** Like decodeImage, but writes into `out` at `offset` (one slot of a batch buffer). */
export async function decodeImageInto(
  file: string,
  size: [number, number],
  out: Float32Array,
  offset: number,
  opts: DecodeOptions = {},
): Promise<void> {
  const img = await decodeRgb(file);
  resizeDecoded(img, size, out, offset, opts);
}

/** Resize already decoded pixels into `out` (see decodeImage). */
export function resizeDecoded(img: RgbImage, size: [number, number], out: Float32Array, offset: number, opts: DecodeOptions = {}): void {
  const win = opts.cropToAspectRatio
    ? aspectCropWindow(img.height, img.width, size)
    : { top: 0, left: 0, height: img.height, width: img.width };
  resizeRgb(img.data, img.width, win, size[0], size[1], out, offset, opts.interpolation ?? 'bilinear');
}

function hexHead(buf: Uint8Array): string {
  return Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
