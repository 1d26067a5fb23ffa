import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from './rng.js';
import { applyProjective, checkSampling, factorRange, type Factor, type SamplingOptions } from './transform.js';

/** Zoom of each image per axis: 1 = unchanged, > 1 zooms out, < 1 zooms in. */
export interface ZoomTransform {
  heightZoom: Float32Array;
  widthZoom: Float32Array;
}

/**
 * zoom = 1 + U(lower, upper) per image (Keras); with no widthFactor the width uses
 * the same draw as the height, so the aspect ratio is kept.
 */
export function sampleTransform(rng: Rng, n: number, heightFactor: Factor, widthFactor?: Factor): ZoomTransform {
  const [hl, hu] = checkZoomFactor(heightFactor, 'heightFactor');
  const wr = widthFactor === undefined ? undefined : checkZoomFactor(widthFactor, 'widthFactor');
  const heightZoom = new Float32Array(n);
  const widthZoom = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    heightZoom[i] = 1 + rng.uniform(hl, hu);
    widthZoom[i] = wr ? 1 + rng.uniform(wr[0], wr[1]) : heightZoom[i];
  }
  return { heightZoom, widthZoom };
}

/** Keras's zoom matrix about the image centre: output (x, y) samples input (zx x + ox, zy y + oy). */
export function zoomMatrices(t: ZoomTransform, height: number, width: number): Float32Array {
  const n = t.heightZoom.length;
  const m = new Float32Array(n * 8);
  for (let i = 0; i < n; i++) {
    const zx = t.widthZoom[i];
    const zy = t.heightZoom[i];
    m.set([zx, 0, ((width - 1) / 2) * (1 - zx), 0, zy, ((height - 1) / 2) * (1 - zy), 0, 0], i * 8);
  }
  return m;
}

export function applyTransform(images: tf.Tensor4D, t: ZoomTransform, opts: SamplingOptions = {}): tf.Tensor4D {
  const [, height, width] = images.shape;
  return applyProjective(images, zoomMatrices(t, height, width), opts);
}

function checkZoomFactor(f: Factor, name: string): [number, number] {
  const r = factorRange(f, `RandomZoom ${name}`);
  if (r[0] < -1) throw new Error(`RandomZoom ${name} must not go below -1 (a zoom of 0 or less), got ${JSON.stringify(f)}`);
  return r;
}

export interface RandomZoomArgs extends SamplingOptions {
  /** h means zoom in [1 - h, 1 + h] vertically; [lower, upper] for 1 + U(lower, upper). Positive = zoom out. */
  heightFactor: Factor;
  /** Same for the width; unset: the height's zoom is used (aspect ratio kept). */
  widthFactor?: Factor;
  seed?: number;
  name?: string;
  inputShape?: tfl.Shape;
  batchInputShape?: tfl.Shape;
}

/** Keras RandomZoom: random zooms while training (`training: true`), identity otherwise. */
export class RandomZoom extends tfl.layers.Layer {
  static className = 'RandomZoom';
  readonly heightFactor: Factor;
  readonly widthFactor?: Factor;
  readonly fillMode: NonNullable<SamplingOptions['fillMode']>;
  readonly interpolation: NonNullable<SamplingOptions['interpolation']>;
  readonly fillValue: number;
  readonly seed?: number;
  private readonly rng: Rng;

  constructor(args: RandomZoomArgs) {
    super({ name: args.name, inputShape: args.inputShape, batchInputShape: args.batchInputShape, trainable: false });
    checkZoomFactor(args.heightFactor, 'heightFactor');
    if (args.widthFactor !== undefined && args.widthFactor !== null) checkZoomFactor(args.widthFactor, 'widthFactor');
    checkSampling(args, 'RandomZoom');
    this.heightFactor = args.heightFactor;
    this.widthFactor = args.widthFactor ?? undefined;
    this.fillMode = args.fillMode ?? 'reflect';
    this.interpolation = args.interpolation ?? 'bilinear';
    this.fillValue = args.fillValue ?? 0;
    this.seed = args.seed;
    this.rng = new Rng(args.seed);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    if (!kwargs?.training) return tf.clone(x);
    const t = sampleTransform(this.rng, x.shape[0], this.heightFactor, this.widthFactor);
    return applyTransform(x, t, { fillMode: this.fillMode, interpolation: this.interpolation, fillValue: this.fillValue });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      heightFactor: this.heightFactor,
      ...(this.widthFactor !== undefined ? { widthFactor: this.widthFactor } : {}),
      fillMode: this.fillMode,
      interpolation: this.interpolation,
      fillValue: this.fillValue,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
    };
  }
}
tf.serialization.registerClass(RandomZoom);
