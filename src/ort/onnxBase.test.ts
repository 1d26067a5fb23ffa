import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../tfjs/backend.js';
import { UserError } from '../errors.js';
import { mobilenetV2Architecture } from '../applications/mobilenetV2.js';
import { preprocessInput } from '../applications/preprocess.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { exportToOnnx } from '../onnx/export.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../onnx/proto.js';
import { randomizeWeights } from '../testing/testModels.js';
import { relativeError as maxRel } from '../testing/numerics.js';
import { HAND_BUILT_CONV, writeHandBuiltNchw } from '../testing/onnxModels.js';
import {
  describePreprocess,
  isOnnxBasePath,
  OnnxBase,
  inspectOnnxBase,
  parsePreprocess,
  PREPROCESS_PRESETS,
  toChannelsLast,
  toModelInput,
} from './onnxBase.js';

await initBackend();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-onnxbase-'));
const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');

function handBuiltNchw(file: string): { w: number[][]; b: number[] } {
  writeHandBuiltNchw(file);
  return HAND_BUILT_CONV;
}

test('a hand-built NCHW graph: layout, size and hash from the file; torch preprocessing; cut at a named output', async () => {
  const file = path.join(dir, 'hand.onnx');
  const { w, b } = handBuiltNchw(file);
  const n = 2;
  const images = Float32Array.from({ length: n * 8 * 8 * 3 }, (_, i) => (i * 37) % 256);
  // reference: torch preprocessing, 1x1 conv, relu, per-image channel means
  const t = PREPROCESS_PRESETS.torch;
  const relu: number[][][] = []; // [image][out][pixel]
  for (let k = 0; k < n; k++) {
    relu.push(
      w.map((row, o) =>
        Array.from({ length: 64 }, (_, p) => {
          let s = b[o];
          for (let c = 0; c < 3; c++) s += row[c] * ((images[(k * 64 + p) * 3 + c] * t.scale - t.mean[c]) / t.std[c]);
          return Math.max(0, s);
        }),
      ),
    );
  }
  const pooled = relu.flatMap((img) => img.map((ch) => ch.reduce((a, v) => a + v, 0) / 64));

  const base = await OnnxBase.load(file, { preprocess: 'torch' });
  assert.equal(base.info.layout, 'NCHW');
  assert.deepEqual(base.info.imageSize, [8, 8]);
  assert.equal(base.info.inputName, 'pixel_values');
  assert.equal(base.info.outputName, 'embeds');
  assert.equal(base.info.sha256, createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
  const out = await base.run(images, n);
  assert.deepEqual(out.shape, [2, 2]);
  assert.ok(maxRel(out.data, pooled) < 1e-5, `${Array.from(out.data)} vs ${pooled}`);
  await base.dispose();

  const cut = await OnnxBase.load(file, { preprocess: 'torch', upTo: 'relu_out' });
  const feats = await cut.run(images, n);
  assert.deepEqual(feats.shape, [2, 2, 8, 8]);
  assert.ok(maxRel(feats.data, relu.flat(2)) < 1e-5);
  await cut.dispose();
});

test('a tlkit-exported NHWC model: same features as the tfjs base behind its preprocessing', async () => {
  const m = mobilenetV2Architecture({ includeTop: false, weights: 'none', inputShape: [32, 32, 3], alpha: 0.35 });
  randomizeWeights(m, 3);
  const file = path.join(dir, 'mnv2.onnx');
  fs.writeFileSync(file, exportToOnnx(m));
  const base = await OnnxBase.load(file, { preprocess: 'tf' });
  assert.equal(base.info.layout, 'NHWC');
  assert.deepEqual(base.info.imageSize, [32, 32]);
  const x = tf.randomUniform([3, 32, 32, 3], 0, 255, 'float32', 1);
  const want = (m.predict(preprocessInput(x, 'tf')) as tf.Tensor).dataSync() as Float32Array;
  const got = await base.run(x.dataSync() as Float32Array, 3);
  assert.deepEqual(got.shape, [3, 1, 1, 1280]);
  assert.ok(maxRel(got.data, want) <= 1e-4);
  await base.dispose();
  m.dispose();
});

test('the shared pretrained MobileNet exported by tlkit, against the tfjs base ("tf" preset), whole and cut inside the graph', {
  skip: !fs.existsSync(path.join(shared, 'models/mobilenet_v1_1.0_224_imagenet_truncated')),
}, async () => {
  const m = await tfl.loadLayersModel(fileSystemIO(path.join(shared, 'models/mobilenet_v1_1.0_224_imagenet_truncated')));
  const file = path.join(dir, 'mobilenet.onnx');
  fs.writeFileSync(file, exportToOnnx(m));
  const x = tf.randomUniform([1, 224, 224, 3], 0, 255, 'float32', 2);
  const wantNhwc = m.predict(preprocessInput(x, 'tf')) as tf.Tensor;
  const base = await OnnxBase.load(file, { preprocess: 'tf' });
  const got = await base.run(x.dataSync() as Float32Array, 1);
  assert.deepEqual(got.shape, [1, 7, 7, 1024]);
  assert.ok(maxRel(got.data, wantNhwc.dataSync() as Float32Array) <= 1e-4);
  await base.dispose();
  // cut at the last ReLU inside the graph, which the exporter keeps channels-first
  const cut = await OnnxBase.load(file, { preprocess: 'tf', upTo: 'conv_dw_13_relu' });
  const inner = await cut.run(x.dataSync() as Float32Array, 1);
  assert.deepEqual(inner.shape, [1, 1024, 7, 7]);
  assert.ok(maxRel(inner.data, tf.transpose(wantNhwc, [0, 3, 1, 2]).dataSync() as Float32Array) <= 1e-4);
  await cut.dispose();
});

test('preprocessing presets and custom specs; BGR order; the NHWC -> NCHW transpose', () => {
  assert.deepEqual(parsePreprocess('clip').mean, [0.48145466, 0.4578275, 0.40821073]);
  const custom = parsePreprocess('scale=1/255,mean=0.5,std=0.5/0.25/0.5,order=bgr');
  assert.deepEqual(custom, { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 0.5], channelOrder: 'bgr' });
  assert.throws(() => parsePreprocess('imagenet'), /^UserError: preprocess must be one of caffe, tf, torch, clip, none/);
  assert.throws(() => parsePreprocess('imagenet', '--preprocess'), /^UserError: --preprocess must be one of caffe/);
  assert.throws(() => parsePreprocess('std=0'), /std must not be 0/);
  // one 1x2 image: pixels (R, G, B) = (10, 20, 30) and (40, 50, 60)
  const px = Float32Array.of(10, 20, 30, 40, 50, 60);
  const caffe = toModelInput(px, 1, { layout: 'NCHW', imageSize: [1, 2], preprocess: PREPROCESS_PRESETS.caffe });
  const c = PREPROCESS_PRESETS.caffe.mean;
  assert.deepEqual(
    Array.from(caffe).map((v) => Number(v.toFixed(3))),
    [30 - c[0], 60 - c[0], 20 - c[1], 50 - c[1], 10 - c[2], 40 - c[2]].map((v) => Number(v.toFixed(3))),
  );
  const tfMode = toModelInput(px, 1, { layout: 'NHWC', imageSize: [1, 2], preprocess: PREPROCESS_PRESETS.tf });
  assert.deepEqual(
    Array.from(tfMode).map((v) => Number(v.toFixed(5))),
    [10, 20, 30, 40, 50, 60].map((v) => Number((v / 127.5 - 1).toFixed(5))),
  );
});

test('files that cannot be a base are UserErrors that say why and what to do', () => {
  const expectUserError = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof UserError && pattern.test((e as Error).message));
  expectUserError(() => inspectOnnxBase(path.join(dir, 'missing.onnx')), /missing\.onnx does not exist/);
  const junk = path.join(dir, 'junk.onnx');
  fs.writeFileSync(junk, 'not a protobuf at all \u0000\u00ff');
  expectUserError(() => inspectOnnxBase(junk), /junk\.onnx: (is not an ONNX model|holds no graph)/);
  const hand = path.join(dir, 'hand2.onnx');
  handBuiltNchw(hand);
  expectUserError(() => inspectOnnxBase(hand, { upTo: 'nope' }), /no value named "nope".*relu_out/);
  expectUserError(() => inspectOnnxBase(hand, { imageSize: [16, 16] }), /takes 8x8 images/);
  // two inputs, and an open input size
  const two = makeGraph(
    [makeNode('Add', ['a', 'b'], ['c'], 'add')],
    'two',
    [makeValueInfo('a', [null, 3, 4, 4]), makeValueInfo('b', [null, 3, 4, 4])],
    [makeValueInfo('c', [null, 3, 4, 4])],
  );
  fs.writeFileSync(path.join(dir, 'two.onnx'), encodeModel(makeModel(two)));
  expectUserError(() => inspectOnnxBase(path.join(dir, 'two.onnx')), /has 2 inputs \(a, b\)/);
  const external = makeTensor('W', [1], Float32Array.of(1));
  external.dataLocation = 1;
  const ext = makeGraph(
    [makeNode('Mul', ['x', 'W'], ['y'], 'mul')],
    'ext',
    [makeValueInfo('x', [null, 3, 4, 4])],
    [makeValueInfo('y', [null, 3, 4, 4])],
    [external],
  );
  fs.writeFileSync(path.join(dir, 'ext.onnx'), encodeModel(makeModel(ext)));
  expectUserError(
    () => inspectOnnxBase(path.join(dir, 'ext.onnx')),
    /ext\.onnx: keeps its weights in external data files\. .*save_as_external_data=False/,
  );
  const open = makeGraph(
    [makeNode('Relu', ['x'], ['y'], 'relu')],
    'open',
    [makeValueInfo('x', [null, null, null, 3])],
    [makeValueInfo('y', [null, null, null, 3])],
  );
  fs.writeFileSync(path.join(dir, 'open.onnx'), encodeModel(makeModel(open)));
  expectUserError(() => inspectOnnxBase(path.join(dir, 'open.onnx')), /leaves its input size open.*--image-size/);
  const sized = inspectOnnxBase(path.join(dir, 'open.onnx'), { imageSize: [20, 24] }).info;
  assert.equal(sized.layout, 'NHWC');
  assert.deepEqual(sized.imageSize, [20, 24]);
});

test('describePreprocess names presets and writes other settings as keys parsePreprocess reads back; toChannelsLast', () => {
  for (const name of Object.keys(PREPROCESS_PRESETS)) assert.equal(describePreprocess(parsePreprocess(name)), name);
  const custom = parsePreprocess('scale=1/255,mean=0.5,std=0.5/0.25/0.5,order=bgr');
  const text = describePreprocess(custom);
  assert.equal(text, `scale=${1 / 255},mean=0.5,std=0.5/0.25/0.5,order=bgr`);
  assert.deepEqual(parsePreprocess(text), custom);
  assert.ok(isOnnxBasePath('models/vit.ONNX') && !isOnnxBasePath('mobilenet') && !isOnnxBasePath('weights.h5'));
  // [1, 2, 1, 3] NCHW (2 channels, 1x3 pixels) -> [1, 1, 3, 2]
  const nchw = { data: Float32Array.of(1, 2, 3, 10, 20, 30), shape: [1, 2, 1, 3] };
  assert.deepEqual(toChannelsLast(nchw, 'NCHW'), { data: Float32Array.of(1, 10, 2, 20, 3, 30), shape: [1, 1, 3, 2] });
  assert.equal(toChannelsLast(nchw, 'NHWC'), nchw);
  const flat = { data: Float32Array.of(1, 2), shape: [1, 2] };
  assert.equal(toChannelsLast(flat, 'NCHW'), flat);
});
