// Custom tfjs layers for Keras layers that tfjs-layers lacks. Importing this file
// registers them, so that saved models holding them load again.
export { Normalization } from './normalization.js';
export { LayerScale } from './layerScale.js';
export { StochasticDepth } from './stochasticDepth.js';
export { GroupedConv2D } from './groupedConv2d.js';
