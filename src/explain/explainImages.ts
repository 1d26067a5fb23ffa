import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { decodeRgb, resizeDecoded, type RgbImage } from '../data/decode.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { normalizedCam, type GradCamMap } from './gradCam.js';
import { overlayPng } from './overlay.js';
import type { GradCamExplainer } from './runGradCam.js';

/** `explain` of predict: true gives each prediction its Grad-CAM (the PNG in memory); a folder also writes <name>.gradcam.png there. */
export type ExplainSetting = boolean | string;

export interface Explanation extends GradCamMap {
  /** The class explained, by name. */
  label: string;
  /** The map scaled to 0..1 ([height, width] of the feature map, row-major). */
  heatmap: Float32Array;
  /** The map over the photo (jet colours), as a PNG. */
  png: Uint8Array;
  /** Where the PNG was written, with a folder. */
  file?: string;
}

/** An image to explain: its photo (what the overlay is drawn on) and the name its PNG takes. */
export interface ExplainImage {
  photo: RgbImage;
  name: string;
}

/** `<name without extension>.gradcam.png`, with -2, -3 ... when an earlier image of the same call took that name. */
export function gradCamFileName(image: string, taken: Set<string>): string {
  const stem = path.basename(image, path.extname(image)) || 'image';
  let name = `${stem}.gradcam.png`;
  for (let i = 2; taken.has(name); i++) name = `${stem}-${i}.gradcam.png`;
  taken.add(name);
  return name;
}

/** Pixels at the model's size (float32 NHWC 0..255, one image) as an 8-bit photo to draw on. */
export function photoOfPixels(pixels: Float32Array, [height, width]: [number, number]): RgbImage {
  const data = Uint8Array.from(pixels.subarray(0, height * width * 3), (v) => Math.min(255, Math.max(0, Math.round(v))));
  return { data, width, height };
}

/**
 * Grad-CAM of images already at the run's size (`pixels`, `images.length` of them), each
 * drawn over its photo; with `dir`, written to dir/<name>.gradcam.png (names de-duplicated
 * through `taken`, which a caller keeps across batches).
 */
export async function explainPixels(
  explainer: GradCamExplainer,
  pixels: Float32Array,
  images: ExplainImage[],
  opts: { targets?: ReadonlyArray<number | undefined>; dir?: string; taken?: Set<string> } = {},
): Promise<Explanation[]> {
  const maps = await explainer.explainPixels(pixels, images.length, opts.targets);
  const taken = opts.taken ?? new Set<string>();
  const out: Explanation[] = [];
  for (let i = 0; i < maps.length; i++) {
    const heatmap = normalizedCam(maps[i].cam);
    const png = await overlayPng(images[i].photo, heatmap, maps[i].size);
    const explanation: Explanation = { ...maps[i], label: explainer.classNames[maps[i].classIndex], heatmap, png };
    if (opts.dir !== undefined) {
      explanation.file = path.join(opts.dir, gradCamFileName(images[i].name, taken));
      await writeFileAtomic(explanation.file, png);
    }
    out.push(explanation);
  }
  return out;
}

/**
 * Grad-CAM of image files (decoded once: resized for the model as predict does, and drawn
 * on at their own size, EXIF orientation applied), `targets[i]` the class to explain for
 * file i (undefined: the predicted one).
 */
export async function explainFiles(
  explainer: GradCamExplainer,
  files: string[],
  opts: { targets?: ReadonlyArray<number | undefined>; dir?: string; taken?: Set<string> } = {},
): Promise<Explanation[]> {
  const [h, w] = explainer.imageSize;
  const per = h * w * 3;
  const pixels = new Float32Array(files.length * per);
  const photos = await Promise.all(files.map((f) => decodeRgb(f)));
  photos.forEach((photo, i) => resizeDecoded(photo, [h, w], pixels, i * per));
  return explainPixels(
    explainer,
    pixels,
    files.map((f, i) => ({ photo: photos[i], name: f })),
    opts,
  );
}

/** One input of Classifier.predict as explain sees it: its pixels at the run's size (n images) and, for a file or its bytes, the photo. */
export interface ExplainInput {
  source?: string | Uint8Array;
  pixels: Float32Array;
  n: number;
}

/**
 * Grad-CAM for the inputs of one predict call, each explaining the label its prediction gave
 * (`labels`, one per image in order). Files and image bytes are drawn over at their own size;
 * tensors over their pixels at the run's size. `setting` a folder: the PNGs are written there
 * (<file name>.gradcam.png; inputs without a name are image-<k>.gradcam.png, k from 1).
 */
export async function explainPredictions(
  explainer: GradCamExplainer,
  inputs: ExplainInput[],
  labels: string[],
  setting: ExplainSetting,
): Promise<Explanation[]> {
  const dir = typeof setting === 'string' ? setting : undefined;
  const taken = new Set<string>();
  const [h, w] = explainer.imageSize;
  const per = h * w * 3;
  const out: Explanation[] = [];
  for (const input of inputs) {
    const k = out.length;
    const photos =
      input.source === undefined
        ? Array.from({ length: input.n }, (_, i) => photoOfPixels(input.pixels.subarray(i * per, (i + 1) * per), [h, w]))
        : [typeof input.source === 'string' ? await decodeRgb(input.source) : await decodeRgb('<image bytes>', input.source)];
    const images = photos.map((photo, i) => ({ photo, name: typeof input.source === 'string' ? input.source : `image-${k + i + 1}` }));
    const targets = images.map((_, i) => {
      const c = explainer.classNames.indexOf(labels[k + i]);
      return c >= 0 ? c : undefined;
    });
    out.push(...(await explainPixels(explainer, input.pixels, images, { targets, dir, taken })));
  }
  return out;
}

/** The folder of `--explain DIR` checked before any work: a UserError when it names a file (an image taken as the folder). */
export function checkExplainDir(dir: string, option = '--explain'): string {
  if (dir.trim() === '')
    throw new UserError(`${option} takes a folder for the Grad-CAM PNGs, got an empty value. Pass e.g. ${option} gradcam.`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new UserError(
      `${option} takes a folder for the Grad-CAM PNGs, and ${dir} is a file. Give a folder (it is created when missing), e.g. ${option} gradcam, before or after the images.`,
    );
  }
  return dir;
}
