import path from 'node:path';
import { UserError } from '../errors.js';
import { readNpy, type NpyContents } from '../io/npy.js';

/** The features of one split: row i of `features` (one `featureShape` sample) has label `labels[i]`. */
export interface FeatureSplit {
  features: Float32Array;
  labels: Int32Array;
  /** Multi-label: row i's multi-hot targets are targets[i k .. (i + 1) k) (labels.npy float32 [n, k]). */
  targets?: Float32Array;
  n: number;
  /** One sample's shape, e.g. [7, 7, 1024]. */
  featureShape: number[];
}

/**
 * The labels of a labels.npy: int32 [n] class ids, or (multi-label) float32 [n, k] multi-hot
 * rows, whose `labels` are each row's first class (-1 for a row without any); undefined for
 * any other array.
 */
export function splitLabels(npy: NpyContents): { labels: Int32Array; targets?: Float32Array } | undefined {
  if (npy.data instanceof Int32Array && npy.shape.length === 1) return { labels: npy.data };
  if (!(npy.data instanceof Float32Array) || npy.shape.length !== 2) return undefined;
  const [n, k] = npy.shape;
  const targets = npy.data;
  const labels = Int32Array.from({ length: n }, (_, i) => {
    for (let c = 0; c < k; c++) if (targets[i * k + c] > 0) return c;
    return -1;
  });
  return { labels, targets };
}

/** Read a split's features.npy + labels.npy, checking that they belong together. */
export async function readFeatureSplit(featuresFile: string, labelsFile: string): Promise<FeatureSplit> {
  const features = await readNpy(featuresFile);
  const labels = await readNpy(labelsFile);
  const dir = path.dirname(featuresFile);
  const read = splitLabels(labels);
  if (!(features.data instanceof Float32Array) || !read || features.shape[0] !== labels.shape[0]) {
    throw new UserError(
      `${dir}: features.npy must be float32 and labels.npy int32 [n] (or float32 [n, classes], multi-label) with as many rows; got ${features.dtype} ${JSON.stringify(features.shape)} and ${labels.dtype} ${JSON.stringify(labels.shape)}. Run \`tlkit extract\` again.`,
    );
  }
  return { features: features.data, ...read, n: features.shape[0], featureShape: features.shape.slice(1) };
}
