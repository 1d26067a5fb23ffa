import { UMAP } from 'umap-js';
import { Rng } from '../io/rng.js';
import type { Neighbours } from './neighbours.js';

export type MapMetric = 'cosine' | 'euclidean';

export interface UmapSettings {
  /** Neighbours each point's fuzzy neighbourhood spans, the point itself included (umap-learn's n_neighbors). */
  nNeighbors: number;
  /** How tightly points may pack in the layout (umap-learn's min_dist). */
  minDist: number;
  /** The distance between unit vectors UMAP sees: 1 - cosine, or the Euclidean sqrt(2 - 2 cosine). Same neighbours, other weights. */
  metric: MapMetric;
  /** Optimisation epochs; 0: umap-js's choice (500 up to 2,500 points, fewer above). */
  nEpochs: number;
  seed: number;
}

export const UMAP_DEFAULTS: UmapSettings = { nNeighbors: 15, minDist: 0.1, metric: 'cosine', nEpochs: 0, seed: 42 };

/**
 * 2-D coordinates of n unit vectors by UMAP (umap-js), on the exact neighbour graph
 * `neighbours` (at least nNeighbors - 1 per point). umap-js draws every random number
 * (the initial layout, the negative samples) from the function it is given: a seeded
 * generator makes the layout a pure function of the inputs and the seed.
 */
export function umapLayout(
  vectors: Float32Array,
  dim: number,
  neighbours: Neighbours,
  settings: UmapSettings,
  onEpoch?: (epoch: number, epochs: number) => void,
  signal?: AbortSignal,
): Float64Array {
  const n = vectors.length / dim;
  // umap-js wants more points than neighbours.
  const others = Math.max(0, Math.min(settings.nNeighbors - 1, neighbours.k, n - 2));
  const knnIndices: number[][] = [];
  const knnDistances: number[][] = [];
  for (let i = 0; i < n; i++) {
    // umap-js, like umap-learn, counts the point itself as its nearest neighbour, at distance 0.
    const idx = [i];
    const dist = [0];
    for (let j = 0; j < others; j++) {
      const s = neighbours.similarities[i * neighbours.k + j];
      idx.push(neighbours.indices[i * neighbours.k + j]);
      dist.push(settings.metric === 'cosine' ? Math.max(0, 1 - s) : Math.sqrt(Math.max(0, 2 - 2 * s)));
    }
    knnIndices.push(idx);
    knnDistances.push(dist);
  }
  const rng = new Rng(settings.seed);
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: others + 1,
    minDist: settings.minDist,
    nEpochs: settings.nEpochs > 0 ? settings.nEpochs : undefined,
    random: () => rng.next(),
  });
  umap.setPrecomputedKNN(knnIndices, knnDistances);
  // With the graph given, umap-js reads only the number of rows: views, not copies.
  const rows = Array.from({ length: n }, (_, i) => vectors.subarray(i * dim, (i + 1) * dim) as unknown as number[]);
  const epochs = umap.initializeFit(rows);
  for (let e = 0; e < epochs; e++) {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    umap.step();
    onEpoch?.(e + 1, epochs);
  }
  const embedding = umap.getEmbedding();
  const xy = new Float64Array(n * 2);
  embedding.forEach(([x, y], i) => {
    xy[2 * i] = x;
    xy[2 * i + 1] = y;
  });
  return xy;
}
