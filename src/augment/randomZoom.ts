import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../io/rng.js';
import { ResamplingLayer, type ResamplingLayerArgs } from './resamplingLayer.js';
import { applyProjective, factorRange, type Factor, type SamplingOptions } from './transform.js';

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

/** Keras's bounds for a zoom factor: every value in (-1, 1] (a zoom of 0 would be degenerate); a reversed pair is sorted. */
export function checkZoomFactor(f: Factor, name: string): [number, number] {
  return factorRange(f, `RandomZoom ${name}`, { min: -1, max: 1, minExclusive: true });
}

export interface RandomZoomArgs extends ResamplingLayerArgs {
  /** h means zoom in [1 - h, 1 + h] vertically; [lower, upper] for 1 + U(lower, upper). Positive = zoom out. */
  heightFactor: Factor;
  /** Same for the width; unset: the height's zoom is used (aspect ratio kept). */
  widthFactor?: Factor;
}

/** Keras RandomZoom: random zooms while training (`training: true`), identity otherwise. */
export class RandomZoom extends ResamplingLayer {
  static className = 'RandomZoom';
  readonly heightFactor: Factor;
  readonly widthFactor?: Factor;

  constructor(args: RandomZoomArgs) {
    super(args, 'RandomZoom');
    checkZoomFactor(args.heightFactor, 'heightFactor');
    if (args.widthFactor !== undefined && args.widthFactor !== null) checkZoomFactor(args.widthFactor, 'widthFactor');
    this.heightFactor = args.heightFactor;
    this.widthFactor = args.widthFactor ?? undefined;
  }

  protected augment(x: tf.Tensor4D, sampling: SamplingOptions): tf.Tensor4D {
    return applyTransform(x, sampleTransform(this.rng, x.shape[0], this.heightFactor, this.widthFactor), sampling);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      heightFactor: this.heightFactor,
      ...(this.widthFactor !== undefined ? { widthFactor: this.widthFactor } : {}),
    };
  }
}
tf.serialization.registerClass(RandomZoom);
