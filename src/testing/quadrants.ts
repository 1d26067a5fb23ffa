import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../io/rng.js';
import { initBackend } from '../tfjs/backend.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';

/**
 * Images whose class lies in one quadrant only: a patch of the class's colour (red for
 * 'reds', blue for 'blues') fills one quadrant, chosen at random per image, and the other
 * three are fresh grey noise (uniform 0..255) drawn the same way for both classes. A model can only
 * tell the classes apart by that quadrant, so Grad-CAM's answer is known: the file name
 * carries it (`q<quadrant>.<i>.png`, quadrant 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right).
 */
export const QUADRANT_SIZE = 32;
export const QUADRANT_CLASSES = ['blues', 'reds'] as const;

export async function makeQuadrantDataset(root: string, perClass: Record<string, number>, seed = 11): Promise<string> {
  const rng = new Rng(seed);
  const s = QUADRANT_SIZE;
  const half = s / 2;
  for (const [split, n] of Object.entries(perClass)) {
    for (const cls of QUADRANT_CLASSES) {
      const dir = path.join(root, split, cls);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < n; i++) {
        const q = Math.floor(rng.next() * 4);
        const px = Buffer.alloc(s * s * 3);
        for (let y = 0; y < s; y++) {
          for (let x = 0; x < s; x++) {
            const at = (y * s + x) * 3;
            const inPatch = (y < half ? 0 : 2) + (x < half ? 0 : 1) === q;
            const noise = rng.next() * 255;
            for (let c = 0; c < 3; c++) {
              // the patch: the class's channel high, the others low, a little noise
              const hot = cls === 'reds' ? 0 : 2;
              px[at + c] = inPatch ? (c === hot ? 200 : 30) + noise * 0.2 : noise;
            }
          }
        }
        await sharp(px, { raw: { width: s, height: s, channels: 3 } })
          .png()
          .toFile(path.join(dir, `q${q}.${i}.png`));
      }
    }
  }
  return root;
}

/** The quadrant a dataset file's class lies in (from its name). */
export function quadrantOf(file: string): number {
  const m = /^q(\d)\./.exec(path.basename(file));
  if (!m) throw new Error(`${file} is not a quadrant image`);
  return Number(m[1]);
}

/** The quadrant of a point of a size x size image. */
export function quadrantAt(y: number, x: number, size: number): number {
  return (y < size / 2 ? 0 : 2) + (x < size / 2 ? 0 : 1);
}

/**
 * A small conv base (seeded weights, not trained) as a tfjs model folder: 0..255 scaled to
 * -1..1, two 3x3 convs with a pool between, then a 4x4 grid of 16 channels (each quadrant
 * of the image is 2x2 cells of it).
 */
export function quadrantBaseModel(): tfl.LayersModel {
  const s = QUADRANT_SIZE;
  const input = tfl.input({ shape: [s, s, 3], name: 'input_1' });
  const kernel = tf.tidy(() => tf.reshape(tf.mul(tf.eye(3), 1 / 127.5), [1, 1, 3, 3]));
  const bias = tf.fill([3], -1);
  let x = tfl.layers.conv2d({ filters: 3, kernelSize: 1, name: 'q_scale', weights: [kernel, bias], trainable: false }).apply(input);
  x = tfl.layers
    .conv2d({
      filters: 16,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'q_conv1',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }),
    })
    .apply(x);
  x = tfl.layers.maxPooling2d({ poolSize: 2, name: 'q_pool1' }).apply(x);
  x = tfl.layers
    .conv2d({
      filters: 16,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'q_conv2',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }),
    })
    .apply(x);
  const out = tfl.layers.averagePooling2d({ poolSize: 4, name: 'q_pool2' }).apply(x) as tfl.SymbolicTensor;
  tf.dispose([kernel, bias]);
  return tfl.model({ inputs: input, outputs: out, name: 'quadrant_base' });
}

/** quadrantBaseModel saved as a tfjs model folder (what `base` accepts). */
export async function makeQuadrantBase(dir: string): Promise<string> {
  await initBackend();
  const model = quadrantBaseModel();
  await model.save(fileSystemIO(dir));
  model.dispose();
  return dir;
}
