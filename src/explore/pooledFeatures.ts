import path from 'node:path';
import { UserError } from '../errors.js';
import { FEATURES_FILE, LABELS_FILE, readManifest, validSplitCache, type Manifest } from '../features/cache.js';
import { diskRows, rowSize } from '../features/featureRows.js';
import { poolFeatureMap } from '../run/knnVotes.js';

/** One image of the cache: its file (relative to the data folder), split and class id. */
export interface ImageRecord {
  file: string;
  split: string;
  label: number;
}

/**
 * One vector per image: the feature map averaged over space (what ml5's kNN takes from
 * MobileNet), scaled to unit length so that a dot product is the cosine similarity.
 */
export interface PooledFeatures {
  /** Row i (length `dim`) belongs to images[i]. */
  vectors: Float32Array;
  dim: number;
  images: ImageRecord[];
  classNames: string[];
  manifest: Manifest;
}

/** Rows read from disk at a time: a 7x7x1024 MobileNet map is 200 kB a row. */
const CHUNK = 128;

/**
 * The pooled, L2-normalised features of `splits` (default: every split of the cache, in
 * its order) of a feature folder (`tlkit extract --out`, or a training run's cache).
 * Rows are read in chunks, so memory holds the pooled vectors, not the feature maps.
 */
export async function pooledFeatures(
  featuresDir: string,
  opts: { splits?: string[]; onProgress?: (done: number, total: number) => void } = {},
): Promise<PooledFeatures> {
  const manifest = readManifest(featuresDir);
  const available = Object.keys(manifest.splits);
  const splits = opts.splits ?? available;
  const missing = splits.filter((s) => !available.includes(s));
  if (missing.length > 0)
    throw new UserError(
      `${path.join(featuresDir, 'manifest.json')} has no ${missing.join(', ')} split (it has ${available.join(', ') || 'none'}). Map the splits it has, or extract the data folder again.`,
    );
  const sources = await Promise.all(
    splits.map(async (split) => {
      const entry = manifest.splits[split];
      const dir = path.join(featuresDir, entry.dir);
      const meta = validSplitCache(dir, entry.key);
      if (!meta)
        throw new UserError(
          `The ${split} features in ${dir} are incomplete or do not match ${path.join(featuresDir, 'manifest.json')}. Run \`tlkit extract\` (or the training run) again to rebuild them.`,
        );
      return { split, meta, rows: await diskRows(path.join(dir, FEATURES_FILE), path.join(dir, LABELS_FILE)) };
    }),
  );
  const featureShape = sources[0]?.rows.featureShape ?? [];
  const dim = featureShape.length > 0 ? featureShape[featureShape.length - 1] : 0;
  const total = sources.reduce((a, s) => a + s.rows.n, 0);
  if (total === 0)
    throw new UserError(`${featuresDir} holds no images in ${splits.join(', ')}. Add images to the data folder and extract again.`);
  const vectors = new Float32Array(total * dim);
  const images: ImageRecord[] = [];
  for (const { split, meta, rows } of sources) {
    if (rows.featureShape.join('x') !== featureShape.join('x'))
      throw new UserError(
        `${featuresDir}: the ${split} features have shape [${rows.featureShape}] where ${sources[0].split} has [${featureShape}]. Extract every split with the same base and image size.`,
      );
    const per = rowSize(featureShape);
    const buffer = new Float32Array(Math.min(CHUNK, rows.n) * per);
    for (let start = 0; start < rows.n; start += CHUNK) {
      const count = Math.min(CHUNK, rows.n - start);
      await rows.read(
        Int32Array.from({ length: count }, (_, i) => start + i),
        buffer.subarray(0, count * per),
      );
      for (let i = 0; i < count; i++) {
        const row = images.length;
        poolFeatureMap(buffer.subarray(i * per, (i + 1) * per), dim, vectors.subarray(row * dim, (row + 1) * dim));
        images.push({ file: meta.files[start + i], split, label: rows.labels[start + i] });
      }
      opts.onProgress?.(images.length, total);
    }
  }
  return { vectors, dim, images, classNames: manifest.classNames, manifest };
}
