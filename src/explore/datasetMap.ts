import { UserError } from '../errors.js';
import { cosineNeighbours } from './neighbours.js';
import { outlierOrder, outlierScores } from './outliers.js';
import { pooledFeatures } from './pooledFeatures.js';
import { UMAP_DEFAULTS, umapLayout, type MapMetric, type UmapSettings } from './umapLayout.js';

/** One image on the map. */
export interface MapPoint {
  /** Relative to the data folder (`dataRoot`). */
  file: string;
  split: string;
  label: string;
  x: number;
  y: number;
  /** Share of its nearest neighbours (cosine, pooled features) with another label: 0 .. 1, higher is more suspect. */
  outlier: number;
  /** The label most of those neighbours carry, or null when they all share this image's label. */
  looksLike: string | null;
  /** Cosine distance to its class's mean vector (breaks ties between equal outlier scores). */
  centroidDistance: number;
}

export interface DatasetMap {
  format: 'tlkit-map';
  version: 1;
  /** The feature folder the map was computed from. */
  features: string;
  /** The data folder the files are relative to. */
  dataRoot: string;
  base: string;
  imageSize: [number, number];
  classNames: string[];
  splits: string[];
  umap: UmapSettings;
  /** Neighbours each outlier score counts. */
  outlierNeighbors: number;
  points: MapPoint[];
  /** Indices into `points`, most outlying first (every image). */
  outliers: number[];
  seconds: number;
}

export interface MapProgress {
  stage: 'read' | 'neighbours' | 'layout';
  done: number;
  total: number;
}

export interface MapOptions {
  /** Default: every split in the folder. */
  splits?: string[];
  seed?: number;
  /** Default 15. */
  nNeighbors?: number;
  /** Default 0.1. */
  minDist?: number;
  /** Default 'cosine'. */
  metric?: MapMetric;
  /** Default 0: umap-js picks (500 epochs up to 2,500 images). */
  nEpochs?: number;
  /** Neighbours an outlier score counts; default nNeighbors - 1 (the layout's neighbours besides the image). */
  outlierNeighbors?: number;
  onProgress?: (p: MapProgress) => void;
  signal?: AbortSignal;
}

function checkSettings(o: MapOptions): UmapSettings & { outlierNeighbors: number } {
  const s: UmapSettings = {
    nNeighbors: o.nNeighbors ?? UMAP_DEFAULTS.nNeighbors,
    minDist: o.minDist ?? UMAP_DEFAULTS.minDist,
    metric: o.metric ?? UMAP_DEFAULTS.metric,
    nEpochs: o.nEpochs ?? UMAP_DEFAULTS.nEpochs,
    seed: o.seed ?? UMAP_DEFAULTS.seed,
  };
  const whole = (name: string, v: number, min: number, example: number) => {
    if (!Number.isInteger(v) || v < min) throw new UserError(`${name} must be a whole number >= ${min}, got ${v}. Pass e.g. ${example}.`);
  };
  whole('nNeighbors', s.nNeighbors, 2, 15);
  whole('nEpochs', s.nEpochs, 0, 200);
  whole('seed', s.seed, 0, 42);
  if (!(s.minDist >= 0 && s.minDist <= 1)) throw new UserError(`minDist must be between 0 and 1, got ${s.minDist}. Pass e.g. 0.1.`);
  if (s.metric !== 'cosine' && s.metric !== 'euclidean')
    throw new UserError(`metric must be cosine or euclidean, got '${String(s.metric)}'.`);
  const outlierNeighbors = o.outlierNeighbors ?? s.nNeighbors - 1;
  whole('outlierNeighbors', outlierNeighbors, 1, 14);
  return { ...s, outlierNeighbors };
}

/**
 * A 2-D map of a feature folder's images: each feature map averaged over space and scaled
 * to unit length, laid out by UMAP (seeded: the same seed gives the same coordinates), and
 * each image's outlier score from its nearest neighbours in the pooled space (not on the
 * map, which distorts distances).
 */
export async function mapFeatures(featuresDir: string, options: MapOptions = {}): Promise<DatasetMap> {
  const t0 = performance.now();
  const settings = checkSettings(options);
  const progress = options.onProgress;
  const pooled = await pooledFeatures(featuresDir, {
    splits: options.splits,
    onProgress: progress && ((done, total) => progress({ stage: 'read', done, total })),
  });
  const n = pooled.images.length;
  if (n < 3)
    throw new UserError(
      `${featuresDir} holds ${n} image${n === 1 ? '' : 's'}; a map needs at least 3 (UMAP places points by their neighbours). Add images and extract again.`,
    );
  const labels = Int32Array.from(pooled.images, (im) => im.label);
  const k = Math.max(settings.nNeighbors - 1, settings.outlierNeighbors);
  const neighbours = await cosineNeighbours(
    pooled.vectors,
    pooled.dim,
    k,
    progress && ((done, total) => progress({ stage: 'neighbours', done, total })),
  );
  const xy = umapLayout(
    pooled.vectors,
    pooled.dim,
    neighbours,
    settings,
    progress && ((done, total) => progress({ stage: 'layout', done, total })),
    options.signal,
  );
  const outlierK = Math.min(settings.outlierNeighbors, neighbours.k);
  const scores = outlierScores(
    pooled.vectors,
    pooled.dim,
    labels,
    { k: outlierK, ...firstColumns(neighbours.indices, neighbours.similarities, neighbours.k, outlierK) },
    pooled.classNames.length,
  );
  const name = (c: number | null) => (c === null ? null : (pooled.classNames[c] ?? String(c)));
  const points: MapPoint[] = pooled.images.map((im, i) => ({
    file: im.file,
    split: im.split,
    label: name(im.label) as string,
    x: xy[2 * i],
    y: xy[2 * i + 1],
    outlier: scores[i].score,
    looksLike: name(scores[i].looksLike),
    centroidDistance: scores[i].centroidDistance,
  }));
  const { nNeighbors, minDist, metric, nEpochs, seed } = settings;
  return {
    format: 'tlkit-map',
    version: 1,
    features: featuresDir,
    dataRoot: pooled.manifest.dataRoot,
    base: pooled.manifest.base.source,
    imageSize: pooled.manifest.imageSize,
    classNames: pooled.classNames,
    splits: [...new Set(pooled.images.map((im) => im.split))],
    umap: { nNeighbors, minDist, metric, nEpochs, seed },
    outlierNeighbors: outlierK,
    points,
    outliers: outlierOrder(scores),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The first `k` of each row's `width` neighbours (nearest first). */
function firstColumns(indices: Int32Array, similarities: Float32Array, width: number, k: number) {
  if (k === width) return { indices, similarities };
  const n = indices.length / Math.max(1, width);
  const outIdx = new Int32Array(n * k);
  const outSim = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    outIdx.set(indices.subarray(i * width, i * width + k), i * k);
    outSim.set(similarities.subarray(i * width, i * width + k), i * k);
  }
  return { indices: outIdx, similarities: outSim };
}
