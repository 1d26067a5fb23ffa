import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage } from '../data/decode.js';

/** The shared real photos (../shared beside the checkout), for tests and benches that want real images. */
export const SHARED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
export const SHARED_TRAIN = path.join(SHARED, 'data/cats_vs_dogs_small/train');

/** Photos `from`..`from + n/2` of each class of the shared training split (sorted names): n files, cats first. */
export function sharedPhotos(from: number, n: number): string[] {
  return ['cats', 'dogs'].flatMap((c) =>
    fs
      .readdirSync(path.join(SHARED_TRAIN, c))
      .sort()
      .slice(from, from + n / 2)
      .map((f) => path.join(SHARED_TRAIN, c, f)),
  );
}

/** `files` decoded at `size` (RGB 0..255, NHWC) in batches of `batch`. */
export async function decodedBatches(
  files: string[],
  size: [number, number],
  batch: number,
): Promise<Array<{ images: Float32Array; shape: number[] }>> {
  const per = size[0] * size[1] * 3;
  const out: Array<{ images: Float32Array; shape: number[] }> = [];
  for (let i = 0; i < files.length; i += batch) {
    const chunk = files.slice(i, i + batch);
    const images = new Float32Array(chunk.length * per);
    for (const [k, f] of chunk.entries()) images.set(await decodeImage(f, size), k * per);
    out.push({ images, shape: [chunk.length, size[0], size[1], 3] });
  }
  return out;
}
