import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readNpy } from '../io/npy.js';
import { SHARED_CATS_DOGS, SHARED_MOBILENET } from './catsDogsSubset.js';

// A mislabelled photo among real ones, for the review tests: a dog filed under cats/.

/** The dog photo planted (from the shared test split): one the brief run below calls a dog with P >= 0.8. */
export const PLANTED_DOG = 'dog.4503.jpg';

/** Real copies (not links) of the first photos of each class, and a dog photo filed as validation/cats/planted.jpg. */
export function plantedPhotos(root: string, perClass: { train: number; validation: number }): { data: string; planted: string } {
  for (const [split, n] of Object.entries(perClass))
    for (const cls of ['cats', 'dogs']) {
      const from = path.join(SHARED_CATS_DOGS, split, cls);
      fs.mkdirSync(path.join(root, split, cls), { recursive: true });
      for (const f of fs.readdirSync(from).sort().slice(0, n)) fs.copyFileSync(path.join(from, f), path.join(root, split, cls, f));
    }
  fs.copyFileSync(path.join(SHARED_CATS_DOGS, 'test/dogs', PLANTED_DOG), path.join(root, 'validation/cats/planted.jpg'));
  return { data: root, planted: 'validation/cats/planted.jpg' };
}

/** The settings of the brief run the review tests train (features mode, the shared MobileNet at 128 px). */
export const BRIEF_RUN = { base: SHARED_MOBILENET, imageSize: 128, pooling: 'avg' as const, epochs: 6, batchSize: 8, verbose: 0 as const };

/** The label of each cached file of a split (the feature cache's meta.json and labels.npy). */
export async function cachedLabels(cache: string, splitName: string): Promise<Map<string, number>> {
  const split = fs
    .readdirSync(cache, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(cache, f))
    .find((f) => f.endsWith(`${path.sep}${splitName}${path.sep}meta.json`));
  assert.ok(split, `a ${splitName} split under ${cache}`);
  const meta = JSON.parse(fs.readFileSync(split, 'utf8')) as { files: string[] };
  const labels = await readNpy(path.join(path.dirname(split), 'labels.npy'));
  return new Map(meta.files.map((f, i) => [f.split(path.sep).join('/'), labels.data[i]]));
}
