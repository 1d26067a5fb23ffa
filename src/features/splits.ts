import path from 'node:path';
import { UserError } from '../errors.js';
import { readNpy } from '../io/npy.js';

/** The features of one split: row i of `features` (one `featureShape` sample) has label `labels[i]`. */
export interface FeatureSplit {
  features: Float32Array;
  labels: Int32Array;
  n: number;
  /** One sample's shape, e.g. [7, 7, 1024]. */
  featureShape: number[];
}

/** Read a split's features.npy + labels.npy, checking that they belong together. */
export async function readFeatureSplit(featuresFile: string, labelsFile: string): Promise<FeatureSplit> {
  const features = await readNpy(featuresFile);
  const labels = await readNpy(labelsFile);
  const dir = path.dirname(featuresFile);
  if (!(features.data instanceof Float32Array) || !(labels.data instanceof Int32Array) || features.shape[0] !== labels.shape[0]) {
    throw new UserError(
      `${dir}: features.npy must be float32 and labels.npy int32 with as many rows; got ${features.dtype} ${JSON.stringify(features.shape)} and ${labels.dtype} ${JSON.stringify(labels.shape)}. Run \`tlkit extract\` again.`,
    );
  }
  return { features: features.data, labels: labels.data, n: features.shape[0], featureShape: features.shape.slice(1) };
}
