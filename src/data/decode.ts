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

/** Image formats recognised by their content (tlkit decodes all but HEIF). */
export type ImageType = 'jpeg' | 'png' | 'gif' | 'bmp' | 'webp' | 'tiff' | 'avif' | 'heif';

/** The format's usual name in messages. */
export function formatName(t: ImageType): string {
  return t === 'jpeg' ? 'JPEG' : t === 'webp' ? 'WebP' : t === 'heif' ? 'HEIF/HEIC' : t.toUpperCase();
}

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
  if (ext === '.webp') return 'webp';
  if (ext === '.tif' || ext === '.tiff') return 'tiff';
  if (ext === '.avif') return 'avif';
  if (ext === '.heic' || ext === '.heif') return 'heif';
  return undefined;
}

/** The usual extension of a type, for "rename it to ..." advice. */
export function extensionOf(t: ImageType): string {
  return t === 'jpeg' ? '.jpg' : t === 'tiff' ? '.tif' : t === 'heif' ? '.heic' : `.${t}`;
}

/** The image type from the file's first bytes (its magic number), whatever its name says. */
export function sniffImageType(head: Uint8Array): ImageType | undefined {
  const at = (offset: number, ascii: string) =>
    head.length >= offset + ascii.length && [...ascii].every((ch, i) => head[offset + i] === ch.charCodeAt(0));
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head[0] === 0x89 && at(1, 'PNG')) return 'png';
  if (at(0, 'GIF8')) return 'gif';
  if (at(0, 'BM')) return 'bmp';
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'webp';
  if ((at(0, 'II') && head[2] === 42 && head[3] === 0) || (at(0, 'MM') && head[2] === 0 && head[3] === 42)) return 'tiff';
  if (at(4, 'ftyp')) {
    const brand = String.fromCharCode(...head.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'heif';
  }
  return undefined;
}

/** libvips reports one warning a line, often the same ones repeated: keep each once, on one line (one-paragraph messages). */
function oneLine(message: string): string {
  const lines = message
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return [...new Set(lines)].join('; ');
}

/** A file that cannot be decoded as an image: a UserError that names the file and the reason. */
export class BadImageError extends UserError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(
      `Could not read the image ${file}: ${reason}. Expected a JPEG, PNG, BMP, GIF, WebP, TIFF or AVIF image. ` +
        'Remove or replace the file (train, extract, evaluate and predict can instead skip unreadable images with a warning: --skip-bad-images; ' +
        '`tlkit check-data <dir>` lists every problem in a dataset).',
    );
    this.name = 'UserError';
  }
}

/** What to do with a photo's EXIF orientation tag. */
export type ExifMode = 'apply' | 'ignore';
export const EXIF_MODES: readonly ExifMode[] = ['apply', 'ignore'];

export interface ReadOptions {
  /**
   * 'apply' (default): turn the pixels as the EXIF orientation tag says, as browsers
   * and phones show the photo. 'ignore': the stored pixels, as TF and Keras decode them.
   */
  exif?: ExifMode;
}

/**
 * Decode an image file (or its bytes) to full-size RGB, 8 bits a channel, the way
 * tf.io.decode_image(channels=3, expand_animations=False) does: grayscale is
 * replicated to RGB, alpha dropped, 16-bit reduced to 8 (v >> 8), the first GIF
 * frame, CMYK JPEGs converted with TF's plain formula (no ICC colour management).
 * The format is read from the content, not the name: WebP, TIFF and AVIF are read
 * too. EXIF orientation is applied unless `exif: 'ignore'` (Keras ignores it).
 * Throws BadImageError for empty, truncated or non-image files.
 */
export async function decodeRgb(file: string, bytes?: Uint8Array, opts: ReadOptions = {}): Promise<RgbImage> {
  const img = await decodePixels(file, bytes, { ...opts, alpha: false });
  return { data: img.data, width: img.width, height: img.height };
}

/** Decoded pixels with their channel count (3: RGB; 4: RGBA). */
export interface DecodedPixels extends RgbImage {
  channels: 3 | 4;
}

/** decodeRgb, optionally keeping (or adding an opaque) alpha channel: RGBA. */
export async function decodePixels(
  file: string,
  bytes: Uint8Array | undefined,
  opts: ReadOptions & { alpha?: boolean } = {},
): Promise<DecodedPixels> {
  let buf: Uint8Array;
  try {
    buf = bytes ?? (await readFile(file));
  } catch (e) {
    throw new BadImageError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.length === 0) throw new BadImageError(file, 'the file is empty (0 bytes)');
  const type = sniffImageType(buf.subarray(0, 16));
  if (!type) {
    throw new BadImageError(
      file,
      `its content is not an image format tlkit reads (first bytes: ${hexHead(buf)}${looksLikeTextBytes(buf) ? ', it looks like a text file' : ''})`,
    );
  }
  if (type === 'heif') {
    throw new BadImageError(
      file,
      'its content is a HEIF/HEIC image (an iPhone photo format), which tlkit cannot decode; convert it to JPEG',
    );
  }
  const channels = opts.alpha ? 4 : 3;
  if (type === 'bmp') {
    let rgb: RgbImage;
    try {
      rgb = decodeBmp(buf, file);
    } catch (e) {
      throw new BadImageError(file, (e as Error).message.replace(`${file}: `, '').replace(/\. Convert it.*$/, ''));
    }
    return channels === 4 ? { ...addOpaqueAlpha(rgb), channels } : { ...rgb, channels };
  }
  try {
    // failOn 'truncated' rejects cut-off files (as TF's decoders do) but tolerates
    // harmless libjpeg warnings such as extraneous bytes before a marker.
    const open = () => sharp(buf, { failOn: 'truncated', pages: 1 });
    const meta = await open().metadata();
    let out: DecodedPixels;
    if (meta.space === 'cmyk') {
      const { data, info } = await open().pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      const rgb = cmykToRgb(data, info.width * info.height, info.channels);
      out =
        channels === 4
          ? { ...addOpaqueAlpha({ data: rgb, width: info.width, height: info.height }), channels }
          : { data: rgb, width: info.width, height: info.height, channels };
    } else {
      let p = open();
      p = channels === 4 ? p.ensureAlpha() : p.removeAlpha();
      const { data, info } = await p.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== channels) throw new Error(`unexpected channel count ${info.channels}`);
      out = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels };
    }
    const orientation = meta.orientation ?? 1;
    return (opts.exif ?? exifDefault) === 'apply' && orientation !== 1 ? orient(out, orientation) : out;
  } catch (e) {
    throw new BadImageError(file, `the ${formatName(type)} data is corrupt or truncated (${oneLine((e as Error).message)})`);
  }
}

/**
 * CMYK samples (as libvips hands them: 0 = no ink, Adobe-inverted files already
 * un-inverted) to RGB with TF's formula in decode_jpeg (jpeg_mem.cc):
 * R = (255 - C) * (255 - K) / 255 in integers, no ICC profile.
 */
export function cmykToRgb(cmyk: Uint8Array, pixels: number, stride = 4): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const k = 255 - cmyk[i * stride + 3];
    rgb[i * 3] = Math.floor(((255 - cmyk[i * stride]) * k) / 255);
    rgb[i * 3 + 1] = Math.floor(((255 - cmyk[i * stride + 1]) * k) / 255);
    rgb[i * 3 + 2] = Math.floor(((255 - cmyk[i * stride + 2]) * k) / 255);
  }
  return rgb;
}

function addOpaqueAlpha(img: RgbImage): RgbImage {
  const n = img.width * img.height;
  const data = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    data[i * 4] = img.data[i * 3];
    data[i * 4 + 1] = img.data[i * 3 + 1];
    data[i * 4 + 2] = img.data[i * 3 + 2];
    data[i * 4 + 3] = 255;
  }
  return { data, width: img.width, height: img.height };
}

/**
 * Apply EXIF orientation 2..8 to stored pixels: the result is the photo as a browser
 * shows it (orientation 6: the stored image turned 90 degrees clockwise).
 */
export function orient(img: DecodedPixels, orientation: number): DecodedPixels {
  const { width: w, height: h, channels: c } = img;
  const swap = orientation >= 5 && orientation <= 8;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // (sx, sy): the stored pixel that lands at output (x, y).
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2:
          [sx, sy] = [w - 1 - x, y];
          break;
        case 3:
          [sx, sy] = [w - 1 - x, h - 1 - y];
          break;
        case 4:
          [sx, sy] = [x, h - 1 - y];
          break;
        case 5:
          [sx, sy] = [y, x];
          break;
        case 6:
          [sx, sy] = [y, h - 1 - x];
          break;
        case 7:
          [sx, sy] = [w - 1 - y, h - 1 - x];
          break;
        case 8:
          [sx, sy] = [w - 1 - y, x];
          break;
        default:
          [sx, sy] = [x, y];
      }
      const o = (y * ow + x) * c;
      const i = (sy * w + sx) * c;
      for (let ch = 0; ch < c; ch++) data[o + ch] = img.data[i + ch];
    }
  }
  return { data, width: ow, height: oh, channels: c };
}

function looksLikeTextBytes(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 512);
  return head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));
}

export type ColorMode = 'rgb' | 'rgba' | 'grayscale';
export const COLOR_MODES: readonly ColorMode[] = ['rgb', 'rgba', 'grayscale'];

/** Channels of each colour mode. */
export function channelsOf(mode: ColorMode): 1 | 3 | 4 {
  return mode === 'grayscale' ? 1 : mode === 'rgba' ? 4 : 3;
}

export interface DecodeOptions extends ReadOptions {
  /** Resize method: 'bilinear' (default, as Keras) or 'nearest'; both with half-pixel centres. */
  interpolation?: Interpolation;
  /** Crop the largest centred window with the target aspect ratio before resizing (Keras crop_to_aspect_ratio). */
  cropToAspectRatio?: boolean;
  /** Pad with black to the target aspect ratio, the image centred, before resizing (Keras pad_to_aspect_ratio). */
  padToAspectRatio?: boolean;
  /** 'rgb' (default), 'rgba' (alpha kept, 255 where the file has none) or 'grayscale' (one channel). */
  colorMode?: ColorMode;
}

let exifDefault: ExifMode = 'apply';

/** The EXIF mode used where none is passed (the CLI's global `--exif` sets it for every command). */
export function setExifDefault(mode: ExifMode): void {
  if (!EXIF_MODES.includes(mode))
    throw new UserError(
      `--exif must be 'apply' or 'ignore', got '${mode}'. Use --exif ignore for Keras's pixels exactly, or leave the default (apply).`,
    );
  exifDefault = mode;
}

export function getExifDefault(): ExifMode {
  return exifDefault;
}

/**
 * Decode `file` and resize it to `size` = [height, width]: float32 NHWC values in
 * 0..255 (not rounded), as Keras's image_dataset_from_directory yields them; 3
 * channels unless colorMode says otherwise.
 */
export async function decodeImage(file: string, size: [number, number], opts: DecodeOptions = {}): Promise<Float32Array> {
  const out = new Float32Array(size[0] * size[1] * channelsOf(opts.colorMode ?? 'rgb'));
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
  const img = await decodePixels(file, undefined, { exif: opts.exif, alpha: opts.colorMode === 'rgba' });
  resizeDecoded(img, size, out, offset, opts);
}

/**
 * Resize already decoded pixels into `out` (see decodeImage). RGB images resize
 * directly; grayscale (ITU-R 601 luma, as tf.image.rgb_to_grayscale, rounded) and the
 * alpha plane go through the same RGB resize, one plane at a time.
 */
export function resizeDecoded(
  img: RgbImage | DecodedPixels,
  size: [number, number],
  out: Float32Array,
  offset: number,
  opts: DecodeOptions = {},
): void {
  const mode = opts.colorMode ?? 'rgb';
  const channels = 'channels' in img ? img.channels : 3;
  if (mode === 'rgb' && channels === 3) return resizePlane(img, size, out, offset, opts);
  const n = img.width * img.height;
  const rgb = channels === 3 ? img.data : new Uint8Array(n * 3);
  if (channels === 4) for (let i = 0; i < n; i++) rgb.set(img.data.subarray(i * 4, i * 4 + 3), i * 3);
  const [h, w] = size;
  const tmp = new Float32Array(h * w * 3);
  if (mode === 'grayscale') {
    const gray = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const y = Math.round(0.2989 * rgb[i * 3] + 0.587 * rgb[i * 3 + 1] + 0.114 * rgb[i * 3 + 2]);
      gray[i * 3] = gray[i * 3 + 1] = gray[i * 3 + 2] = y;
    }
    resizePlane({ data: gray, width: img.width, height: img.height }, size, tmp, 0, opts);
    for (let i = 0; i < h * w; i++) out[offset + i] = tmp[i * 3];
    return;
  }
  resizePlane({ data: rgb, width: img.width, height: img.height }, size, tmp, 0, opts);
  const alpha = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) alpha[i * 3] = alpha[i * 3 + 1] = alpha[i * 3 + 2] = channels === 4 ? img.data[i * 4 + 3] : 255;
  const a = new Float32Array(h * w * 3);
  resizePlane({ data: alpha, width: img.width, height: img.height }, size, a, 0, opts);
  for (let i = 0; i < h * w; i++) {
    out.set(tmp.subarray(i * 3, i * 3 + 3), offset + i * 4);
    out[offset + i * 4 + 3] = a[i * 3];
  }
}

/** Resize interleaved RGB: crop or pad to the target aspect ratio first when asked. */
function resizePlane(img: RgbImage, size: [number, number], out: Float32Array, offset: number, opts: DecodeOptions): void {
  const src = opts.padToAspectRatio ? padToAspect(img, size) : img;
  const win = opts.cropToAspectRatio
    ? aspectCropWindow(src.height, src.width, size)
    : { top: 0, left: 0, height: src.height, width: src.width };
  resizeRgb(src.data, src.width, win, size[0], size[1], out, offset, opts.interpolation ?? 'bilinear');
}

/**
 * Keras's pad_to_aspect_ratio: the same number of black rows (or columns) on both
 * sides, trunc((target-aspect size - size) / 2) each, before resizing.
 */
export function padToAspect(img: RgbImage, size: [number, number]): RgbImage {
  const [th, tw] = size;
  const { width: w, height: h } = img;
  const padH = Math.max(h, Math.trunc((w * th) / tw));
  const padW = Math.max(w, Math.trunc((h * tw) / th));
  const top = Math.trunc((padH - h) / 2);
  const left = Math.trunc((padW - w) / 2);
  if (top === 0 && left === 0) return img;
  const ow = w + 2 * left;
  const oh = h + 2 * top;
  const data = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((y + top) * ow + left) * 3);
  return { data, width: ow, height: oh };
}

function hexHead(buf: Uint8Array): string {
  return Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
