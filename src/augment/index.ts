// Augmentation layers (importing this registers them for model loading); their pure parts are in each module.
export { RandomFlip, type RandomFlipArgs, type FlipMode } from './randomFlip.js';
export { RandomRotation, type RandomRotationArgs } from './randomRotation.js';
export { RandomZoom, type RandomZoomArgs } from './randomZoom.js';
export * as randomFlip from './randomFlip.js';
export * as randomRotation from './randomRotation.js';
export * as randomZoom from './randomZoom.js';
