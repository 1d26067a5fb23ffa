import type { DataDir } from '../data/splits.js';
import type { TrainOptions, TrainOptionsInput } from './options.js';

/**
 * Multi-label data changes one default: the head pools the feature map (GlobalAveragePooling2D)
 * instead of flattening it. On the book's flattened head (50,176 MobileNet features into an
 * unscaled Dense) the sigmoids saturate: most probabilities come out as exactly 0 or 1 in float32,
 * so images tie, average precision cannot rank them and the thresholds chosen on validation
 * land at 0 or 1. A pooled head keeps them apart. Given explicitly, pooling stays as given.
 */
export function withMultiLabelDefaults(
  opts: TrainOptions,
  given: Partial<TrainOptionsInput>,
  data: Pick<DataDir, 'multiLabel'>,
): TrainOptions {
  if (!data.multiLabel || given.pooling !== undefined) return opts;
  return { ...opts, pooling: 'avg' };
}
