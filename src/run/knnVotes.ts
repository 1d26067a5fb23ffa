// The arithmetic of a kNN run, as the TypeScript reference of what its ONNX graph
// (knnOnnx.ts) computes: a feature map pooled over space and scaled to unit length,
// cosine similarities with the stored vectors, and the k nearest neighbours' votes.

/**
 * What a neighbour's vote weighs: its cosine similarity, never below 0 (a dissimilar
 * image does not vote against its class), plus a floor so that k neighbours with no
 * similarity at all still give a plain majority vote rather than 0 / 0.
 */
export const VOTE_FLOOR = 1e-6;

export function voteWeight(similarity: number): number {
  return Math.max(similarity, 0) + VOTE_FLOOR;
}

/**
 * Average a channels-last feature map (or a vector: one position) over every position
 * into `into` (length `dim`), then scale it to unit length, so that a dot product of
 * two pooled vectors is their cosine similarity. An all-zero map stays zero.
 */
export function poolFeatureMap(map: Float32Array, dim: number, into: Float32Array): void {
  const positions = map.length / dim;
  into.fill(0);
  for (let p = 0; p < positions; p++) {
    const offset = p * dim;
    for (let c = 0; c < dim; c++) into[c] += map[offset + c];
  }
  let norm = 0;
  for (let c = 0; c < dim; c++) norm += into[c] * into[c];
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let c = 0; c < dim; c++) into[c] *= scale;
}

/** The stored side of a kNN classifier: `count` unit vectors of length `dim`, row-major, and a class id each. */
export interface KnnVectors {
  dim: number;
  vectors: Float32Array;
  labels: ArrayLike<number>;
  classCount: number;
}

/**
 * Class probabilities of one pooled, unit-length `query`: the `k` stored vectors most
 * similar to it (ties: the one stored first) each vote for their class with
 * voteWeight(similarity); the probabilities are the votes over their sum.
 */
export function knnProbabilities(stored: KnnVectors, query: Float32Array, k: number): number[] {
  const { dim, vectors, labels } = stored;
  const count = vectors.length / dim;
  const similarity = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let s = 0;
    const offset = i * dim;
    for (let c = 0; c < dim; c++) s += query[c] * vectors[offset + c];
    similarity[i] = s;
  }
  const nearest = nearestIndices(similarity, Math.min(k, count));
  const votes = new Array<number>(stored.classCount).fill(0);
  for (const i of nearest) votes[labels[i]] += voteWeight(similarity[i]);
  const total = votes.reduce((a, b) => a + b, 0);
  return votes.map((v) => v / total);
}

/** The indices of the `k` largest values, largest first; equal values: the lower index first (ONNX TopK's rule). */
export function nearestIndices(values: ArrayLike<number>, k: number): number[] {
  // A bounded list kept sorted: k is small, the stored images may be many.
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === k && !(v > values[best[k - 1]])) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && v > values[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}
