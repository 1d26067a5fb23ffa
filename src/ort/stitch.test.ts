import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { mobilenetV2Architecture } from '../applications/mobilenetV2.js';
import { standardHeadModel } from '../fit/assembleModel.js';
import { buildHeadModel } from '../fit/head.js';
import { RunPredictor } from '../inference/predictor.js';
import type { RunMeta } from '../run/meta.js';
import { writeHandBuiltNchw } from '../testing/onnxModels.js';
import { randomizeWeights } from '../testing/testModels.js';
import { UserError } from '../errors.js';
import { initBackend } from '../tfjs/backend.js';
import { OnnxBase, inspectOnnxBase, PREPROCESS_PRESETS, type OnnxBaseOptions } from './onnxBase.js';
import { OrtModel } from './ortRunner.js';
import { buildOnnxModel, exportToOnnx } from '../onnx/export.js';
import { decodeModel, encodeModel } from '../onnx/proto.js';
import { stitchOnnxBase } from './stitch.js';

await initBackend();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-stitch-'));

/** base.features() then the head on tfjs, against the one stitched graph on ORT, on the same pixels. */
async function compare(
  file: string,
  opts: OnnxBaseOptions,
  head: ReturnType<typeof buildHeadModel>,
  n: number,
  seed: number,
): Promise<{ stitched: Uint8Array; want: Float32Array; pixels: Float32Array }> {
  const { info, bytes } = inspectOnnxBase(file, opts);
  const [h, w] = info.imageSize;
  const pixels = tf.randomUniform([n, h, w, 3], 0, 255, 'float32', seed).dataSync() as Float32Array;
  const base = await OnnxBase.open(info, bytes);
  const feats = await base.features(pixels, n);
  await base.dispose();
  const want = tf.tidy(() => (head.predict(tf.tensor(feats.data, feats.shape)) as tf.Tensor).dataSync() as Float32Array);
  // as a run saves it (SeededDropout as Dropout)
  const saved = await standardHeadModel(head);
  const stitched = encodeModel(stitchOnnxBase(bytes, info, buildOnnxModel(saved).model));
  saved.dispose();
  return { stitched, want, pixels };
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-5, `${i}: ${got[i]} vs ${want[i]}`);
}

test('an NCHW base cut inside, caffe (BGR) preprocessing, avg-pooled head: one graph gives what base + head give', async () => {
  const file = path.join(dir, 'hand.onnx');
  writeHandBuiltNchw(file, { size: 8 });
  const head = buildHeadModel([8, 8, 2], { numClasses: 3, units: 4, pooling: 'avg', dropout: 0, seed: 5 });
  const { stitched, want, pixels } = await compare(file, { preprocess: 'caffe', upTo: 'relu_out' }, head, 3, 1);
  const ort = await OrtModel.create(stitched);
  assert.equal(ort.inputName, 'input');
  assert.equal(ort.outputName, 'output');
  const got = await ort.run(pixels, [3, 8, 8, 3]);
  await ort.dispose();
  assert.deepEqual(got.shape, [3, 3]);
  assertClose(got.data, want);
  // a base older than opset 7: the head's ops may mean something else there
  const old = decodeModel(fs.readFileSync(file));
  old.opsetImport = [{ domain: '', version: 6 }];
  const { info } = inspectOnnxBase(file, { preprocess: 'caffe' });
  assert.throws(
    () => stitchOnnxBase(encodeModel(old), info, buildOnnxModel(head).model),
    (e: unknown) => e instanceof UserError && /hand\.onnx: its opset \(6\) is older than 7.*opset_version/.test((e as Error).message),
  );
  head.dispose();
});

test("a tlkit-exported NHWC base (its names are the head's own: input, output) with a flatten head", async () => {
  const m = mobilenetV2Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3], alpha: 0.35 });
  randomizeWeights(m, 4);
  const file = path.join(dir, 'mnv2.onnx');
  fs.writeFileSync(file, exportToOnnx(m));
  m.dispose();
  const head = buildHeadModel([1, 1, 1280], { numClasses: 2, units: 8, dropout: 0.5, seed: 2 });
  const { stitched, want, pixels } = await compare(file, { preprocess: 'tf' }, head, 2, 3);
  const ort = await OrtModel.create(stitched);
  assert.notEqual(ort.inputName, 'input');
  const got = await ort.run(pixels, [2, 32, 32, 3]);
  await ort.dispose();
  assertClose(got.data, want);
  head.dispose();
});

test('a base that fixes its batch to 1: OnnxBase and the predictor run it one image at a time', async () => {
  const file = path.join(dir, 'batch1.onnx');
  writeHandBuiltNchw(file, { size: 8, batch: 1 });
  const head = buildHeadModel([2], { numClasses: 2, units: 0, dropout: 0, seed: 3 });
  const { stitched, want, pixels } = await compare(file, { preprocess: 'torch' }, head, 3, 4);
  const meta = { imageSize: [8, 8], onnxBase: { batch: 1 } } as unknown as RunMeta;
  const predictor = await RunPredictor.fromOnnx(stitched, meta);
  const scores = await predictor.scoresOfPixels(pixels, 3);
  await predictor.dispose();
  assertClose(
    scores.map((s) => s[1]),
    want,
  );
  head.dispose();
  assert.equal(PREPROCESS_PRESETS.torch.channelOrder, 'rgb');
});
