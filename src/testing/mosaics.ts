import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { deriveSeed, Rng } from '../io/rng.js';
import { SHARED_DATA } from './linkedPhotos.js';

/**
 * A multi-label dataset made from the shared cats-vs-dogs photos: each image is two photos
 * of the same split side by side, labelled with the animals present ('cat', 'dog'), and a
 * third of them turned grayscale with the label 'bw'. The book's layout keeps cats and dogs
 * apart, so the pairs are cat+cat, cat+dog and dog+dog, in equal numbers.
 *
 * Layout: each photo is resized to a `size` x `size` square without cropping (Keras's
 * default resize, which squashes), and the two squares make a `size` x 2`size` mosaic.
 * Nothing is cropped, so an animal a label names is always in view; training then
 * resizes the mosaic to the base's input as it resizes any photo.
 *
 * Written as one flat folder: `<split>-NNNN.jpg`, `labels.csv` (`file,labels,is_valid`: the
 * training rows and the validation rows, labels separated by a space) and `test.csv`
 * (`file,labels`: the test rows, for `evaluate --labels`). Each photo is used at most once.
 */

export const MOSAIC_SPLITS = ['train', 'validation', 'test'] as const;
export type MosaicSplit = (typeof MOSAIC_SPLITS)[number];
/** The labels' separator in the tables (--label-delim). */
export const MOSAIC_DELIM = ' ';
/** The classes of a mosaic model, sorted as tlkit sorts labels. */
export const MOSAIC_CLASSES = ['bw', 'cat', 'dog'] as const;

export interface MosaicOptions {
  /** The folder to write (created; a set already there with the same options is reused). */
  out: string;
  /** The book's layout to draw from (train/ validation/ test/, each with cats/ dogs/); default the shared photos. */
  source?: string;
  /** Mosaics per split; default as many as the split's photos allow with each photo used once. */
  count?: Partial<Record<MosaicSplit, number>>;
  /** The mosaic's height, each half a square of this side (default 224). */
  size?: number;
  /** Fixes which photos pair up, their order and which mosaics are grayscale (default 1). */
  seed?: number;
  /** The share turned grayscale, spread evenly over the kinds of pair (default 1/3). */
  bwFraction?: number;
}

export interface Mosaic {
  /** The file name, relative to the set's folder. */
  file: string;
  split: MosaicSplit;
  /** Sorted: some of 'bw', 'cat', 'dog'. */
  labels: string[];
  /** The two photos, left then right (absolute). */
  sources: [string, string];
}

export interface MosaicSet {
  dir: string;
  /** `labels.csv`: training rows (is_valid false) and validation rows (true). */
  labels: string;
  /** `test.csv`: the test rows. */
  test: string;
  mosaics: Mosaic[];
}

type Kind = 'cat+cat' | 'cat+dog' | 'dog+dog';
const KINDS: readonly Kind[] = ['cat+cat', 'cat+dog', 'dog+dog'];
const MANIFEST = 'mosaics.json';

/** Build the set (or reuse the one already in `out` with the same options): see the module comment. */
export async function makeMosaics(opts: MosaicOptions): Promise<MosaicSet> {
  const source = path.resolve(opts.source ?? SHARED_DATA);
  const size = opts.size ?? 224;
  const seed = opts.seed ?? 1;
  const bwFraction = opts.bwFraction ?? 1 / 3;
  const stamp = JSON.stringify({ source, size, seed, bwFraction, count: opts.count ?? {} });
  const dir = path.resolve(opts.out);
  const set: MosaicSet = { dir, labels: path.join(dir, 'labels.csv'), test: path.join(dir, 'test.csv'), mosaics: [] };
  const reused = reuse(dir, stamp);
  if (reused) return { ...set, mosaics: reused };

  fs.mkdirSync(dir, { recursive: true });
  // A set made with other options may have had more mosaics: none of them stays behind.
  for (const f of fs.readdirSync(dir)) if (/^(train|validation|test)-\d+\.jpg$/.test(f)) fs.rmSync(path.join(dir, f));
  for (const [s, split] of MOSAIC_SPLITS.entries()) {
    const rng = new Rng(deriveSeed(seed, s));
    const cats = rng.shuffle(photos(source, split, 'cats'));
    const dogs = rng.shuffle(photos(source, split, 'dogs'));
    const most = 3 * Math.floor(Math.min(cats.length, dogs.length) / 3);
    const n = opts.count?.[split] ?? most;
    const kinds = kindCounts(n);
    const needCats = 2 * kinds['cat+cat'] + kinds['cat+dog'];
    const needDogs = 2 * kinds['dog+dog'] + kinds['cat+dog'];
    if (needCats > cats.length || needDogs > dogs.length) {
      throw new Error(
        `${n} ${split} mosaics need ${needCats} cat and ${needDogs} dog photos; ${source}/${split} has ${cats.length} and ${dogs.length}`,
      );
    }
    const byKind = KINDS.map((kind) =>
      Array.from({ length: kinds[kind] }, () => {
        const pair: [string, string] =
          kind === 'cat+cat' ? [cats.pop()!, cats.pop()!] : kind === 'dog+dog' ? [dogs.pop()!, dogs.pop()!] : [cats.pop()!, dogs.pop()!];
        if (kind === 'cat+dog' && rng.next() < 0.5) pair.reverse();
        return { kind, sources: pair, bw: false };
      }),
    );
    // Taken in turn from each kind, so the grayscale ones are spread evenly over the kinds.
    const all = Array.from({ length: Math.max(...byKind.map((k) => k.length)) }, (_, i) => byKind.flatMap((k) => k[i] ?? [])).flat();
    for (const d of all.slice(0, Math.round(n * bwFraction))) d.bw = true;
    // The file order says nothing of the labels.
    rng.shuffle(all);
    for (const [i, d] of all.entries()) {
      const labels = [...new Set([...d.kind.split('+'), ...(d.bw ? ['bw'] : [])])].sort();
      set.mosaics.push({ file: `${split}-${String(i + 1).padStart(4, '0')}.jpg`, split, labels, sources: d.sources });
    }
  }

  await inBatches(set.mosaics, 4, (m) => writeMosaic(path.join(dir, m.file), m.sources, size, m.labels.includes('bw')));
  const row = (m: Mosaic) => `${m.file},${m.labels.join(MOSAIC_DELIM)}`;
  const trainRows = set.mosaics.filter((m) => m.split !== 'test').map((m) => `${row(m)},${m.split === 'validation'}`);
  await writeFileAtomic(set.labels, `file,labels,is_valid\n${trainRows.join('\n')}\n`);
  const testRows = set.mosaics.filter((m) => m.split === 'test').map(row);
  await writeFileAtomic(set.test, `file,labels\n${testRows.join('\n')}\n`);
  await writeFileAtomic(path.join(dir, MANIFEST), JSON.stringify({ stamp, mosaics: set.mosaics }));
  return set;
}

/** n mosaics as equal numbers of each kind of pair (the remainder to cat+dog, then cat+cat). */
function kindCounts(n: number): Record<Kind, number> {
  const m = Math.floor(n / 3);
  const r = n - 3 * m;
  return { 'cat+cat': m + (r >= 2 ? 1 : 0), 'cat+dog': m + (r >= 1 ? 1 : 0), 'dog+dog': m };
}

function photos(source: string, split: string, cls: string): string[] {
  const dir = path.join(source, split, cls);
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

async function writeMosaic(file: string, sources: [string, string], size: number, bw: boolean): Promise<void> {
  const halves = await Promise.all(
    sources.map((s) => sharp(s).rotate().removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'fill' }).raw().toBuffer()),
  );
  // Row by row: the left square's row, then the right one's.
  const row = size * 3;
  const mosaic = Buffer.alloc(2 * row * size);
  for (let y = 0; y < size; y++) for (const [i, h] of halves.entries()) h.copy(mosaic, (2 * y + i) * row, y * row, (y + 1) * row);
  let img = sharp(mosaic, { raw: { width: 2 * size, height: size, channels: 3 } });
  if (bw) img = img.grayscale();
  await img.jpeg({ quality: 90 }).toFile(file);
}

/** The set written before with the same options, when every file of it is still there. */
function reuse(dir: string, stamp: string): Mosaic[] | undefined {
  try {
    const saved = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as { stamp: string; mosaics: Mosaic[] };
    if (saved.stamp !== stamp) return undefined;
    if (!['labels.csv', 'test.csv', ...saved.mosaics.map((m) => m.file)].every((f) => fs.existsSync(path.join(dir, f)))) return undefined;
    return saved.mosaics;
  } catch {
    return undefined;
  }
}

async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: width }, worker));
}
