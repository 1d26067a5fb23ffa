import type { Neighbours } from './neighbours.js';

/** How far an image sits from its own class in feature space. */
export interface OutlierScore {
  /** Share of its nearest neighbours with another label, 0 (all agree) .. 1 (none does). */
  score: number;
  /** The label most of those disagreeing neighbours carry (what the image looks like), or null when all agree. */
  looksLike: number | null;
  /** Cosine distance (1 - cosine similarity) to the mean vector of its own class. */
  centroidDistance: number;
}

/**
 * Each image's outlier score: the share of its k nearest neighbours (cosine, pooled
 * features) whose label differs from its own. A photo filed under the wrong class sits
 * among the other class's photos and scores near 1. Cheap and robust to class shape,
 * unlike a distance alone (a class can be spread out and still be clean).
 */
export function outlierScores(
  vectors: Float32Array,
  dim: number,
  labels: ArrayLike<number>,
  neighbours: Neighbours,
  classCount: number,
): OutlierScore[] {
  const n = labels.length;
  const centroids = classCentroids(vectors, dim, labels, classCount);
  const out: OutlierScore[] = [];
  const votes = new Float64Array(classCount);
  for (let i = 0; i < n; i++) {
    votes.fill(0);
    let other = 0;
    for (let j = 0; j < neighbours.k; j++) {
      const label = labels[neighbours.indices[i * neighbours.k + j]];
      if (label !== labels[i]) {
        other++;
        votes[label] += 1;
      }
    }
    let looksLike: number | null = null;
    for (let c = 0; c < classCount; c++) if (votes[c] > 0 && (looksLike === null || votes[c] > votes[looksLike])) looksLike = c;
    const centroid = centroids.subarray(labels[i] * dim, (labels[i] + 1) * dim);
    let dot = 0;
    for (let c = 0; c < dim; c++) dot += vectors[i * dim + c] * centroid[c];
    out.push({ score: neighbours.k > 0 ? other / neighbours.k : 0, looksLike, centroidDistance: 1 - dot });
  }
  return out;
}

/** The unit-length mean vector of each class (zero for a class with no images). */
function classCentroids(vectors: Float32Array, dim: number, labels: ArrayLike<number>, classCount: number): Float32Array {
  const sums = new Float32Array(classCount * dim);
  for (let i = 0; i < labels.length; i++) {
    const at = labels[i] * dim;
    for (let c = 0; c < dim; c++) sums[at + c] += vectors[i * dim + c];
  }
  for (let k = 0; k < classCount; k++) {
    const row = sums.subarray(k * dim, (k + 1) * dim);
    const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
    if (norm > 0) for (let c = 0; c < dim; c++) row[c] /= norm;
  }
  return sums;
}

/** Image indices, most outlying first: the higher score, then the farther from its class's centroid, then the lower index. */
export function outlierOrder(scores: readonly OutlierScore[]): number[] {
  return scores
    .map((_, i) => i)
    .sort((a, b) => scores[b].score - scores[a].score || scores[b].centroidDistance - scores[a].centroidDistance || a - b);
}
