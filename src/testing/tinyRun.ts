import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { train } from '../workflows/train.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';

/** Test fixtures: a tiny dataset of PNGs and a tiny trained run, built in a few seconds on CPU. */

export const TINY_SIZE = 16;

/** Two classes: reddish images ("cats") and bluish images ("dogs"), with noise; book layout. */
export async function makeTinyDataset(
  root: string,
  perClass: { train: number; validation: number; test?: number } = { train: 16, validation: 8, test: 8 },
): Promise<string> {
  let s = 7;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const [split, n] of Object.entries(perClass)) {
    for (const cls of ['cats', 'dogs']) {
      const dir = path.join(root, split, cls);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(TINY_SIZE * TINY_SIZE * 3);
        for (let p = 0; p < TINY_SIZE * TINY_SIZE; p++) {
          const strong = 120 + rand() * 120;
          const weak = rand() * 110;
          px[p * 3] = cls === 'cats' ? strong : weak;
          px[p * 3 + 1] = rand() * 100;
          px[p * 3 + 2] = cls === 'cats' ? weak : strong;
        }
        await sharp(px, { raw: { width: TINY_SIZE, height: TINY_SIZE, channels: 3 } })
          .png()
          .toFile(path.join(dir, `${cls}.${i}.png`));
      }
    }
  }
  return root;
}

/**
 * A tiny conv base saved as a tfjs model folder (what `base` accepts): a fixed 1x1
 * conv scaling 0..255 to -1..1 (the folder declares no preprocessing), a conv, a pool.
 */
export async function makeTinyBase(dir: string): Promise<string> {
  await initBackend(process.env.TLKIT_BACKEND === 'wasm' ? 'wasm' : 'cpu');
  const input = tfl.input({ shape: [TINY_SIZE, TINY_SIZE, 3], name: 'input_1' });
  const kernel = tf.tidy(() => tf.reshape(tf.mul(tf.eye(3), 1 / 127.5), [1, 1, 3, 3]));
  const bias = tf.fill([3], -1);
  const scale = tfl.layers
    .conv2d({ filters: 3, kernelSize: 1, name: 'tiny_scale', weights: [kernel, bias], trainable: false })
    .apply(input);
  const conv = tfl.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv1',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }),
    })
    .apply(scale);
  const pool = tfl.layers.maxPooling2d({ poolSize: 4, name: 'pool1' }).apply(conv) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: pool, name: 'tiny_base' });
  await model.save(fileSystemIO(dir));
  model.dispose();
  tf.dispose([kernel, bias]);
  return dir;
}

/** A dataset and a trained features-mode run on it: { data, run }. */
export async function makeTinyRun(epochs = 4): Promise<{ data: string; run: string }> {
  await initBackend(process.env.TLKIT_BACKEND === 'wasm' ? 'wasm' : 'cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const data = await makeTinyDataset(path.join(root, 'data'));
  const base = await makeTinyBase(path.join(root, 'tiny-base'));
  const run = path.join(root, 'run');
  await train(
    { data, base, out: run, epochs, batchSize: 8, headUnits: 8, verbose: 0, learningRate: 0.01, cacheDir: path.join(root, 'cache') },
    { log: () => {} },
  );
  return { data, run };
}
