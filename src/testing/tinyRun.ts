import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../engine/backend.js';
import { preprocessInput } from '../applications/preprocess.js';
import { decodeImage } from '../data/decode.js';
import { trainHeadOnFeatures, type BaseLike, type FeatureSplit } from '../workflows/features.js';
import { withTrainDefaults } from '../workflows/options.js';

/** Test fixtures: a tiny dataset of PNGs and a tiny trained run, built in a few seconds on CPU. */

export const TINY_SIZE = 16;

/** Two classes: reddish images ("cats") and bluish images ("dogs"), with noise; book layout. */
export async function makeTinyDataset(root: string, perClass: { train: number; validation: number; test?: number } = { train: 16, validation: 8, test: 8 }): Promise<string> {
  let s = 7;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
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
        await sharp(px, { raw: { width: TINY_SIZE, height: TINY_SIZE, channels: 3 } }).png().toFile(path.join(dir, `${cls}.${i}.png`));
      }
    }
  }
  return root;
}

export function tinyBase(): BaseLike {
  const input = tfl.input({ shape: [TINY_SIZE, TINY_SIZE, 3], name: 'input_1' });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }).apply(input);
  const pool = tfl.layers.maxPooling2d({ poolSize: 4, name: 'pool1' }).apply(conv) as tfl.SymbolicTensor;
  return { model: tfl.model({ inputs: input, outputs: pool, name: 'tiny_base' }), family: 'custom', preprocessing: 'tf', imageSize: [TINY_SIZE, TINY_SIZE], source: 'tiny test base', weightsHash: 'tiny' };
}

async function featuresOf(base: BaseLike, dir: string): Promise<FeatureSplit> {
  const files: string[] = [];
  const labels: number[] = [];
  ['cats', 'dogs'].forEach((c, i) => {
    for (const f of fs.readdirSync(path.join(dir, c)).sort()) {
      files.push(path.join(dir, c, f));
      labels.push(i);
    }
  });
  const per = TINY_SIZE * TINY_SIZE * 3;
  const buf = new Float32Array(files.length * per);
  for (let i = 0; i < files.length; i++) buf.set(await decodeImage(files[i], [TINY_SIZE, TINY_SIZE]), i * per);
  const feats = tf.tidy(() => base.model.predict(preprocessInput(tf.tensor4d(buf, [files.length, TINY_SIZE, TINY_SIZE, 3]), 'tf')) as tf.Tensor);
  const features = feats.dataSync() as Float32Array;
  feats.dispose();
  return { features, labels, n: files.length };
}

/** A dataset and a trained features-mode run on it: { data, run }. */
export async function makeTinyRun(epochs = 4): Promise<{ data: string; run: string }> {
  await initBackend(process.env.TLKIT_BACKEND === 'wasm' ? 'wasm' : 'cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const data = await makeTinyDataset(path.join(root, 'data'));
  const run = path.join(root, 'run');
  const base = tinyBase();
  const features = {
    classNames: ['cats', 'dogs'],
    featureShape: base.model.outputs[0].shape.slice(1) as number[],
    train: await featuresOf(base, path.join(data, 'train')),
    validation: await featuresOf(base, path.join(data, 'validation')),
  };
  const opts = withTrainDefaults({ data, base: 'tiny', mode: 'features', out: run, epochs, batchSize: 8, headUnits: 8, verbose: 0, learningRate: 0.01 });
  await trainHeadOnFeatures({ base, features, opts, log: () => {} });
  return { data, run };
}
