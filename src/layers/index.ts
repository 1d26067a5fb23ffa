// Custom tfjs layers for Keras layers that tfjs-layers lacks. Importing this file
// registers them, so that saved models holding them load again.
export { Normalization, type NormalizationArgs } from './normalization.js';
export { LayerScale, type LayerScaleArgs } from './layerScale.js';
export { StochasticDepth, type StochasticDepthArgs } from './stochasticDepth.js';
export { GroupedConv2D, type GroupedConv2DArgs } from './groupedConv2d.js';
