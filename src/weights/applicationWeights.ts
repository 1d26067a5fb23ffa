import type * as tfl from '@tensorflow/tfjs-layers';
import { kerasWeightFile, type WeightFileQuery } from './kerasWeightFiles.js';
import { ensureWeightFile, type EnsureWeightsOptions } from './download.js';
import { loadKerasH5Weights } from './kerasH5.js';

/**
 * Load an application's weights: 'imagenet' (the Keras file, downloaded and cached)
 * or the path of a Keras .h5 file.
 */
export async function loadApplicationWeights(
  model: tfl.LayersModel,
  weights: string,
  query: WeightFileQuery,
  downloadOptions: EnsureWeightsOptions = {},
): Promise<string> {
  const file = weights === 'imagenet' ? await ensureWeightFile(kerasWeightFile(query), downloadOptions) : weights;
  await loadKerasH5Weights(model, file);
  return file;
}
