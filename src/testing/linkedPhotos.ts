import fs from 'node:fs';
import path from 'node:path';
import { SHARED } from './photos.js';

/** The shared photos in the book's layout (train/ validation/ test/, cats/ dogs/), for tests and benches. */
export const SHARED_DATA = path.join(SHARED, 'data/cats_vs_dogs_small');
/** The shared pretrained MobileNet v1 (tfjs layers folder). */
export const SHARED_MOBILENET = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');

/**
 * A data folder of `perClass` real photos per class and split, as symlinks to the shared
 * data (the first ones by name), in the book's layout under `root`. Returns `root`.
 */
export function linkedPhotoData(root: string, perClass: number, splits: readonly string[] = ['train', 'validation', 'test']): string {
  for (const split of splits) {
    for (const cls of ['cats', 'dogs']) {
      const src = path.join(SHARED_DATA, split, cls);
      const dst = path.join(root, split, cls);
      fs.mkdirSync(dst, { recursive: true });
      for (const f of fs.readdirSync(src).sort().slice(0, perClass)) fs.symlinkSync(path.join(src, f), path.join(dst, f));
    }
  }
  return root;
}
