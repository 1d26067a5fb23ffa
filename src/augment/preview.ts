import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { decodeImage } from '../data/decode.js';
import { initBackend } from '../tfjs/backend.js';
import * as flip from './randomFlip.js';
import * as rotation from './randomRotation.js';
import * as zoom from './randomZoom.js';
import { Rng } from '../io/rng.js';
import type { FillMode } from './transform.js';

export interface PreviewOptions {
  /** Number of augmented copies. Default 9. */
  n?: number;
  /** Tile size in pixels (square). Default 180, the book's size. */
  imageSize?: number;
  seed?: number;
  /** RandomFlip mode, or 'none'. Default 'horizontal' (the book's pipeline). */
  flip?: flip.FlipMode | 'none';
  /** RandomRotation factor. Default 0.1. */
  rotation?: number;
  /** RandomZoom factor. Default 0.2. */
  zoom?: number;
  fillMode?: FillMode;
}

/**
 * A PNG grid of one image augmented n times with the book's pipeline (flip, rotation,
 * zoom, each with Keras semantics), so users can see what training will feed the model.
 */
export async function augmentPreview(file: string, opts: PreviewOptions = {}): Promise<Buffer> {
  const n = opts.n ?? 9;
  const size = opts.imageSize ?? 180;
  const rng = new Rng(opts.seed);
  await initBackend();
  const pixels = await decodeImage(file, [size, size]);
  const sampling = { fillMode: opts.fillMode ?? 'reflect' };
  const batch = tf.tidy(() => {
    let x = tf.tile(tf.tensor4d(pixels, [1, size, size, 3]), [n, 1, 1, 1]) as tf.Tensor4D;
    const step = (f: (t: tf.Tensor4D) => tf.Tensor4D) => {
      x = f(x);
    };
    if ((opts.flip ?? 'horizontal') !== 'none')
      step((t) => flip.applyTransform(t, flip.sampleTransform(rng, n, (opts.flip as flip.FlipMode) ?? 'horizontal')));
    if ((opts.rotation ?? 0.1) !== 0)
      step((t) => rotation.applyTransform(t, rotation.sampleTransform(rng, n, opts.rotation ?? 0.1), sampling));
    if ((opts.zoom ?? 0.2) !== 0) step((t) => zoom.applyTransform(t, zoom.sampleTransform(rng, n, opts.zoom ?? 0.2), sampling));
    return x;
  });
  const data = batch.dataSync();
  batch.dispose();
  return gridPng(data, n, size);
}

/** Tile n square RGB float images (0..255) into a near-square grid with 4 px gaps. */
export async function gridPng(data: ArrayLike<number>, n: number, size: number): Promise<Buffer> {
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const gap = 4;
  const width = cols * size + (cols + 1) * gap;
  const height = rows * size + (rows + 1) * gap;
  const tiles = [];
  const per = size * size * 3;
  for (let i = 0; i < n; i++) {
    const tile = Buffer.alloc(per);
    for (let k = 0; k < per; k++) tile[k] = Math.max(0, Math.min(255, Math.round(data[i * per + k])));
    tiles.push({
      input: tile,
      raw: { width: size, height: size, channels: 3 as const },
      left: gap + (i % cols) * (size + gap),
      top: gap + Math.floor(i / cols) * (size + gap),
    });
  }
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(tiles)
    .png()
    .toBuffer();
}
