import { initBackend, tf } from '../tfjs/backend.js';

/**
 * Each point's k nearest neighbours among unit vectors, by cosine similarity (a dot
 * product), found exactly: a few thousand images take seconds, and an exact graph keeps
 * the map's only randomness in UMAP's layout, where the seed fixes it.
 */
export interface Neighbours {
  k: number;
  /** Row i: the indices of point i's k nearest other points, nearest first. */
  indices: Int32Array;
  /** Row i: their cosine similarities, matching `indices`. */
  similarities: Float32Array;
}

/** Rows compared at once: a block of similarities is BLOCK x n floats. */
const BLOCK = 256;

export async function cosineNeighbours(
  vectors: Float32Array,
  dim: number,
  k: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Neighbours> {
  const n = dim > 0 ? vectors.length / dim : 0;
  const kk = Math.min(k, Math.max(0, n - 1));
  const indices = new Int32Array(n * kk);
  const similarities = new Float32Array(n * kk);
  if (kk === 0) return { k: kk, indices, similarities };
  // The products are tfjs's (wasm, XNNPACK): 3,000 MobileNet vectors take a second, plain loops twenty.
  await initBackend();
  const all = tf.tensor2d(vectors, [n, dim]);
  // Transposed once: wasm's product with transposeB set runs about 8x slower than on a transposed copy.
  const allT = tf.transpose(all);
  // One more than wanted: the point itself is among the largest, and is dropped.
  const take = Math.min(n, kk + 1);
  try {
    for (let start = 0; start < n; start += BLOCK) {
      const rows = Math.min(BLOCK, n - start);
      const { values, indices: idx } = tf.tidy(() => {
        const sims = tf.matMul(tf.slice(all, [start, 0], [rows, dim]), allT);
        return tf.topk(sims, take, true);
      });
      const [v, ix] = [await values.data(), await idx.data()];
      values.dispose();
      idx.dispose();
      for (let b = 0; b < rows; b++) {
        const i = start + b;
        let filled = 0;
        for (let t = 0; t < take && filled < kk; t++) {
          const j = ix[b * take + t];
          if (j === i) continue;
          indices[i * kk + filled] = j;
          similarities[i * kk + filled] = v[b * take + t];
          filled++;
        }
        // Exact duplicates of i can push i itself out of the first k + 1: find the rest by hand.
        if (filled < kk) topK(vectors, dim, i, kk, indices.subarray(i * kk, (i + 1) * kk), similarities.subarray(i * kk, (i + 1) * kk));
      }
      onProgress?.(start + rows, n);
    }
  } finally {
    all.dispose();
    allT.dispose();
  }
  return { k: kk, indices, similarities };
}

/** The `k` most similar vectors to vector `self`, itself left out, most similar first (ties: the lower index first). */
export function topK(vectors: Float32Array, dim: number, self: number, k: number, outIndex: Int32Array, outSim: Float32Array): void {
  const n = vectors.length / dim;
  let size = 0;
  for (let j = 0; j < n; j++) {
    if (j === self) continue;
    let s = 0;
    for (let c = 0; c < dim; c++) s += vectors[self * dim + c] * vectors[j * dim + c];
    // Compared as stored (float32), so that equal similarities tie and keep the lower index first.
    s = Math.fround(s);
    if (size === k && !(s > outSim[k - 1])) continue;
    let at = size < k ? size++ : k - 1;
    while (at > 0 && s > outSim[at - 1]) {
      outSim[at] = outSim[at - 1];
      outIndex[at] = outIndex[at - 1];
      at--;
    }
    outSim[at] = s;
    outIndex[at] = j;
  }
}
