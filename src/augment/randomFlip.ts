import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { flipImage } from './kernels.js';
import { isTraining, onImages, withTrainingDefault } from './layerCall.js';
import { Rng } from '../io/rng.js';

export type FlipMode = 'horizontal' | 'vertical' | 'horizontal_and_vertical';
export const FLIP_MODES: readonly FlipMode[] = ['horizontal', 'vertical', 'horizontal_and_vertical'];

/** Which images of a batch are flipped, along which axis. */
export interface FlipTransform {
  horizontal: boolean[];
  vertical: boolean[];
}

/**
 * One draw per image (Keras 3): with probability 1/2 the image is flipped along the
 * mode's axes, so 'horizontal_and_vertical' leaves an image unchanged or turns it
 * 180 degrees (tf.keras 2 drew each axis separately).
 */
export function sampleTransform(rng: Rng, n: number, mode: FlipMode = 'horizontal_and_vertical'): FlipTransform {
  const h = mode !== 'vertical';
  const v = mode !== 'horizontal';
  const horizontal: boolean[] = [];
  const vertical: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const flip = rng.next() < 0.5;
    horizontal.push(h && flip);
    vertical.push(v && flip);
  }
  return { horizontal, vertical };
}

/** Flip images left-right / top-bottom where the transform says so. */
export function applyTransform(images: tf.Tensor4D, t: FlipTransform): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  if (t.horizontal.length !== n || t.vertical.length !== n)
    throw new Error(`flip transform for ${t.horizontal.length} images applied to ${n}`);
  if (!t.horizontal.some(Boolean) && !t.vertical.some(Boolean)) return tf.clone(images);
  const src = images.dataSync() as Float32Array | Int32Array | Uint8Array;
  const out = new (src.constructor as Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor)(src.length);
  const per = h * w * c;
  for (let i = 0; i < n; i++) flipImage(src, i * per, out, i * per, [h, w, c], t.horizontal[i], t.vertical[i]);
  return tf.tensor4d(out, [n, h, w, c], images.dtype);
}

export interface RandomFlipArgs {
  /** 'horizontal' (left-right), 'vertical' (top-bottom) or 'horizontal_and_vertical'. Default 'horizontal_and_vertical' (Keras). */
  mode?: FlipMode;
  /** Seed of this layer's random generator; unseeded layers draw a fresh seed. */
  seed?: number;
  name?: string;
  inputShape?: tfl.Shape;
  batchInputShape?: tfl.Shape;
}

/**
 * Keras RandomFlip: random flips while training, identity with `training: false` and
 * inside predict/evaluate; called directly without `training` it flips (Keras 3's
 * default). Takes a batch [n, h, w, c] or one image [h, w, c].
 */
export class RandomFlip extends tfl.layers.Layer {
  static className = 'RandomFlip';
  readonly mode: FlipMode;
  readonly seed?: number;
  private readonly rng: Rng;

  constructor(args: RandomFlipArgs = {}) {
    super({ name: args.name, inputShape: args.inputShape, batchInputShape: args.batchInputShape, trainable: false });
    this.mode = args.mode ?? 'horizontal_and_vertical';
    if (!FLIP_MODES.includes(this.mode)) throw new Error(`RandomFlip: mode must be one of ${FLIP_MODES.join(', ')}, got '${this.mode}'`);
    this.seed = args.seed;
    this.rng = new Rng(args.seed);
  }

  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tfl.SymbolicTensor | tfl.SymbolicTensor[],
    kwargs?: { training?: boolean; [key: string]: unknown },
  ) {
    return super.apply(inputs, withTrainingDefault(inputs, kwargs));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!isTraining(kwargs)) return tf.clone(x);
    return onImages(x, 'RandomFlip', (batch) => applyTransform(batch, sampleTransform(this.rng, batch.shape[0], this.mode)));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode, ...(this.seed !== undefined ? { seed: this.seed } : {}) };
  }
}
tf.serialization.registerClass(RandomFlip);
