// Augmentation layers (importing this registers them for model loading) and their pure parts.
export { RandomFlip, type RandomFlipArgs, type FlipMode, type FlipTransform } from './randomFlip.js';
export { RandomRotation, type RandomRotationArgs, type RotationTransform } from './randomRotation.js';
export { RandomZoom, type RandomZoomArgs, type ZoomTransform } from './randomZoom.js';
export * as randomFlip from './randomFlip.js';
export * as randomRotation from './randomRotation.js';
export * as randomZoom from './randomZoom.js';
export { Rng, deriveSeed, randomSeed } from '../io/rng.js';
export { applyProjective, type FillMode, type TransformInterpolation, type SamplingOptions, type Factor } from './transform.js';
