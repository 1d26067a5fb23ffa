import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { META_VERSION, writeMeta } from '../run/meta.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';

/**
 * A multi-label run whose probabilities are known in closed form, for checking inference
 * against hand computations: the model is GlobalAveragePooling2D -> Dense(3, sigmoid) with
 * kernel diag(1/16) and bias -8, so a one-colour image (r, g, b) gets the probabilities
 * sigmoid((r - 128) / 16), sigmoid((g - 128) / 16), sigmoid((b - 128) / 16) for the classes
 * red, green and blue. The data is a flat folder of such images with a labels table.
 */

export const EXACT_CLASSES = ['blue', 'green', 'red'];
/** Thresholds in class order (blue, green, red). */
export const EXACT_THRESHOLDS = [0.3, 0.7, 0.5];
const SIZE = 8;

/** Channel levels and the sigmoid they give: 208 -> s(5), 144 -> s(1), 128 -> 0.5 exactly, 112 -> s(-1), 48 -> s(-5). */
const H = 208;
const h = 144;
const M = 128;
const l = 112;
const L = 48;

export interface ExactImage {
  file: string;
  /** [r, g, b] of every pixel. */
  rgb: [number, number, number];
  /** The true labels, in class order. */
  truth: string[];
}

/** Six images (r, g, b) and their true labels; see the test for what each exercises. */
export const EXACT_IMAGES: ExactImage[] = [
  { file: 'img0.png', rgb: [H, h, L], truth: ['green', 'red'] },
  { file: 'img1.png', rgb: [H, l, l], truth: ['red'] },
  { file: 'img2.png', rgb: [L, L, h], truth: ['blue'] },
  { file: 'img3.png', rgb: [M, H, l], truth: ['blue', 'green'] },
  { file: 'img4.png', rgb: [h, L, H], truth: ['blue', 'red'] },
  { file: 'img5.png', rgb: [l, h, M], truth: ['green'] },
];

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** The probabilities the model gives an image, in class order (blue, green, red). */
export function exactProbabilities(rgb: [number, number, number]): number[] {
  const [r, g, b] = rgb.map((v) => sigmoid((v - 128) / 16));
  return [b, g, r];
}

export interface ExactMultiLabelRun {
  root: string;
  /** The flat data folder: the images and labels.csv (file,tags; tags split by a space). */
  data: string;
  table: string;
  run: string;
  images: ExactImage[];
}

/** Build the run and its data in a fresh temporary folder (a second or two on CPU). */
export async function makeExactMultiLabelRun(): Promise<ExactMultiLabelRun> {
  await initBackend(process.env.TLKIT_BACKEND === 'wasm' ? 'wasm' : 'cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-ml-'));
  const data = path.join(root, 'data');
  fs.mkdirSync(data, { recursive: true });
  for (const im of EXACT_IMAGES) {
    const px = Buffer.alloc(SIZE * SIZE * 3);
    for (let p = 0; p < SIZE * SIZE; p++) px.set(im.rgb, p * 3);
    await sharp(px, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .png()
      .toFile(path.join(data, im.file));
  }
  const table = path.join(data, 'labels.csv');
  fs.writeFileSync(table, `file,tags\n${EXACT_IMAGES.map((im) => `${im.file},${im.truth.join(' ')}`).join('\n')}\n`);

  const run = path.join(root, 'run');
  const input = tfl.input({ shape: [SIZE, SIZE, 3], name: 'input_1' });
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(input);
  // Output c reads channel (2 - c): blue, green, red in class order.
  const kernel = tf.tensor2d(
    [
      [0, 0, 1 / 16],
      [0, 1 / 16, 0],
      [1 / 16, 0, 0],
    ],
    [3, 3],
  );
  const bias = tf.fill([3], -8);
  const out = tfl.layers
    .dense({ units: 3, activation: 'sigmoid', name: 'head_output', weights: [kernel, bias] })
    .apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name: 'exact_multi_label' });
  await model.save(fileSystemIO(path.join(run, 'model')));
  model.dispose();
  tf.dispose([kernel, bias]);
  const now = new Date().toISOString();
  await writeMeta(run, {
    version: META_VERSION,
    tool: 'tlkit',
    classes: [...EXACT_CLASSES],
    labelMode: 'multi-label',
    thresholds: [...EXACT_THRESHOLDS],
    thresholdSource: 'given',
    preprocessing: 'none',
    imageSize: [SIZE, SIZE],
    base: 'exact',
    baseFamily: 'custom',
    baseSource: 'a closed-form test model',
    data,
    mode: 'features',
    head: { units: 0, activation: 'linear', dropout: 0, pooling: 'avg' },
    bestEpoch: 0,
    bestValLoss: null,
    epochsDone: 1,
    finished: true,
    options: { data, labels: 'labels.csv', labelDelim: ' ', multiLabel: true },
    timings: {},
    createdAt: now,
    updatedAt: now,
  });
  return { root, data, table, run, images: EXACT_IMAGES };
}
