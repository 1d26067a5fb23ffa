import fs from 'node:fs';
import path from 'node:path';
import { SHARED } from './photos.js';

/** The shared MobileNet v1 (tfjs layers folder, cut after conv_dw_13_relu, "tf" preprocessing). */
export const SHARED_MOBILENET = path.join(SHARED, 'models/mobilenet_v1_1.0_224_imagenet_truncated');
export const SHARED_CATS_DOGS = path.join(SHARED, 'data/cats_vs_dogs_small');

/**
 * A small copy of the shared cats-vs-dogs data in the book's layout, as symlinks to the
 * photos (the first `perClass[split]` files of each class, sorted by name): a real dataset
 * that a test extracts in seconds.
 */
export function catsDogsSubset(root: string, perClass: { train: number; validation: number }): string {
  for (const [split, n] of Object.entries(perClass)) {
    for (const cls of ['cats', 'dogs']) {
      const from = path.join(SHARED_CATS_DOGS, split, cls);
      const to = path.join(root, split, cls);
      fs.mkdirSync(to, { recursive: true });
      for (const f of fs.readdirSync(from).sort().slice(0, n)) fs.symlinkSync(path.join(from, f), path.join(to, f));
    }
  }
  return root;
}
