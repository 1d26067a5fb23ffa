import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { makeTinyRun } from '../testing/tinyRun.js';
import { assertWorstError, maxAbsError } from '../testing/numerics.js';
import { decodeImageInto } from '../data/decode.js';
import { OrtModel } from '../ort/ortRunner.js';
import { decodeModel } from '../onnx/proto.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { readMeta } from '../run/meta.js';
import { tlkitVersion } from '../version.js';
import { affineRange, float16Bits, quantizeWeights } from './quantize.js';
import { exportRun, RESIZE_RULE, tfjsModelBytes } from './exportRun.js';
import { readKerasH5 } from '../weights/kerasH5.js';
import { h5 } from '../weights/h5wasmLoader.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, 'bin/tlkit.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

interface Row {
  file: string;
  label: string;
  probability: number;
  probabilities: Array<{ label: string; probability: number }>;
}

let data = '';
let run = '';
let root = '';
let files: string[] = [];
/** `tlkit predict --json` on the test split: P(cats), P(dogs) per file. */
let predicted: number[][] = [];
let pixels: Float32Array;
let size: [number, number] = [0, 0];

before(async () => {
  ({ data, run } = await makeTinyRun(3));
  root = path.dirname(run);
  const r = cli('predict', '--model', run, path.join(data, 'test'), '--json');
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
  files = rows.map((x) => x.file);
  predicted = rows.map((x) =>
    ['cats', 'dogs'].map((c) => (x.probabilities.find((p) => p.label === c) as { probability: number }).probability),
  );
  size = (await readMeta(run)).imageSize;
  const per = size[0] * size[1] * 3;
  pixels = new Float32Array(files.length * per);
  for (let i = 0; i < files.length; i++) await decodeImageInto(files[i], size, pixels, i * per);
});

/** max |a - b| over every probability: Infinity when a NaN or infinity is on either side. */
function maxDiff(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length, 'as many rows');
  return Math.max(...a.map((row, i) => maxAbsError(row, b[i])));
}

/** P(cats), P(dogs) from a tfjs model's output (a sigmoid P(dogs), or two probabilities). */
function twoClass(out: tf.Tensor): number[][] {
  const v = out.arraySync() as number[][];
  return v.map((row) => (row.length === 1 ? [1 - row[0], row[0]] : row));
}

test('float16, uint16 and uint8 encodings: tfjs decodes them back within their precision', () => {
  assert.equal(float16Bits(1), 0x3c00);
  assert.equal(float16Bits(-2), 0xc000);
  assert.equal(float16Bits(65504), 0x7bff);
  assert.equal(float16Bits(1e6), 0x7c00, 'overflow is infinity');
  assert.equal(float16Bits(0.1), 0x2e66);
  assert.equal(float16Bits(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(float16Bits(0), 0);
  const r = affineRange(-0.3, 1.2);
  assert.ok(Math.abs(Math.round(-r.min / r.scale) * r.scale + r.min) < 1e-12, '0 is exactly representable');
  const r16 = affineRange(-0.3, 1.2, 65535);
  assert.ok(Math.abs(Math.round(-r16.min / r16.scale) * r16.scale + r16.min) < 1e-12, '0 is exactly representable at uint16');

  const values = new Float32Array(1000).map((_, i) => Math.sin(i * 0.37) * (i % 7) * 0.1);
  const ints = new Int32Array([1, -2, 3]);
  const specs: tf.io.WeightsManifestEntry[] = [
    { name: 'w', shape: [10, 100], dtype: 'float32' },
    { name: 'i', shape: [3], dtype: 'int32' },
  ];
  const joined = new Uint8Array(4000 + 12);
  joined.set(new Uint8Array(values.buffer), 0);
  joined.set(new Uint8Array(ints.buffer), 4000);
  for (const [mode, bytes, tol] of [
    ['float16', 2000 + 12, 5e-4],
    ['uint16', 2000 + 12, (1.2 / 65535 / 2) * 1.001 + 1e-7],
    ['uint8', 1000 + 12, (1.2 / 255 / 2) * 1.001 + 1e-6],
  ] as const) {
    const q = quantizeWeights(specs, joined.buffer, mode);
    assert.equal(q.data.byteLength, bytes);
    const decoded = tf.io.decodeWeights(q.data, q.specs);
    const w = decoded.w.dataSync();
    assertWorstError([{ name: mode, actual: w, expected: values }], tol, 'absolute');
    assert.deepEqual(Array.from(decoded.i.dataSync()), [1, -2, 3], 'int32 weights are copied as they are');
    tf.dispose(Object.values(decoded));
  }
});

test('export --format tfjs: loads with tf.loadLayersModel, metadata says labels/size/preprocessing/resize/version, matches tlkit predict', async () => {
  const out = path.join(root, 'export-tfjs');
  const r = cli('export', run, '--format', 'tfjs', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /Exported .* as tfjs to .*: index\.html, metadata\.json, model\.json, tfjs\/LICENSE, tfjs\/tf-backend-cpu\.es2017\.min\.js, tfjs\/tf-backend-wasm\.es2017\.min\.js, tfjs\/tf-core\.es2017\.min\.js, tfjs\/tf-layers\.es2017\.min\.js, tfjs\/tfjs-backend-wasm-simd\.wasm, tfjs\/tfjs-backend-wasm-threaded-simd\.wasm, tfjs\/tfjs-backend-wasm\.wasm, weights\.bin\n/,
  );
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8'));
  assert.deepEqual(meta.labels, ['cats', 'dogs']);
  assert.deepEqual(meta.imageSize, size);
  assert.equal(meta.tlkitVersion, tlkitVersion());
  assert.equal(meta.resize.rule, RESIZE_RULE);
  assert.equal(meta.resize.halfPixelCenters, true);
  assert.equal(meta.preprocessing.insideModel, true);
  assert.equal(meta.output.kind, 'sigmoid');
  assert.deepEqual([meta.input.scale, meta.input.offset], [1, 0]);
  const page = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.match(page, /tf\.image\.resizeBilinear\(pixels, \[h, w\], false, true\)/);
  // TensorFlow.js travels with the page (no CDN), core first, from the packages tlkit trains with, with its licence
  assert.match(
    page,
    /<script src="tfjs\/tf-core\.es2017\.min\.js"><\/script>\n<script src="tfjs\/tf-backend-cpu\.es2017\.min\.js"><\/script>\n<script src="tfjs\/tf-backend-wasm\.es2017\.min\.js"><\/script>\n<script src="tfjs\/tf-layers\.es2017\.min\.js"><\/script>/,
  );
  assert.doesNotMatch(page, /https?:\/\//);
  for (const name of ['tf-core', 'tf-backend-cpu', 'tf-backend-wasm', 'tf-layers']) {
    const head = fs.readFileSync(path.join(out, 'tfjs', `${name}.es2017.min.js`), 'utf8').slice(0, 200);
    assert.ok(head.includes('@license'), name);
  }
  const licence = fs.readFileSync(path.join(out, 'tfjs', 'LICENSE'), 'utf8');
  for (const pkg of ['tfjs-core', 'tfjs-backend-cpu', 'tfjs-backend-wasm', 'tfjs-layers']) {
    assert.match(licence, new RegExp(`: @tensorflow/${pkg} 4\\.\\d+\\.\\d+\\n`), pkg);
  }
  assert.match(licence, /Apache License\s+Version 2\.0/);

  const model = await tfl.loadLayersModel(fileSystemIO(out));
  const x = tf.tensor4d(pixels, [files.length, size[0], size[1], 3]);
  const y = model.predict(x) as tf.Tensor;
  const d = maxDiff(twoClass(y), predicted);
  assert.ok(d <= 1e-4, `tfjs export vs tlkit predict: ${d}`);
  tf.dispose([x, y]);
  model.dispose();

  // Exporting again over an earlier export replaces it; a foreign folder is refused.
  assert.equal(cli('export', run, '--format', 'tfjs', '--out', out).status, 0);
  const foreign = path.join(root, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
  const refused = cli('export', run, '--format', 'tfjs', '--out', foreign);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /--out .*foreign already holds files \(notes\.txt\) and is not an earlier tlkit export/);
});

test('metadata.json\'s run.bestEpoch counts from 1, as train prints "Best epoch N" (meta.json counts from 0)', async () => {
  const recorded = (await readMeta(run)).bestEpoch;
  assert.ok(recorded >= 0, 'the tiny run saved a checkpoint');
  for (const format of ['tfjs', 'tm'] as const) {
    const out = path.join(root, `best-epoch-${format}`);
    const r = await exportRun(run, { format, out });
    assert.equal(r.metadata.run.bestEpoch, recorded + 1, format);
    const written = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8'));
    const ours = format === 'tm' ? written.userMetadata.tlkit : written;
    assert.equal(ours.run.bestEpoch, recorded + 1, `${format}: metadata.json`);
  }
});

test('export --quantize float16|uint16|uint8: smaller weights, tfjs decodes them, predictions stay close and accuracy the same', async () => {
  const x = tf.tensor4d(pixels, [files.length, size[0], size[1], 3]);
  const labels = files.map((f) => (path.basename(path.dirname(f)) === 'dogs' ? 1 : 0));
  const accuracy = (p: number[][]) => p.filter((row, i) => (row[1] >= row[0] ? 1 : 0) === labels[i]).length / p.length;
  const full = tfjsModelBytes(path.join(run, 'model'));
  const fullWeights = fs.statSync(path.join(run, 'model', 'weights.bin')).size;
  // the tiny model's tensors are all under 65,536 values: uint8 stores them at float16 (a MobileNet's large kernels: bench/exportAgreement.ts)
  for (const [mode, ratio, tol] of [
    ['float16', 1.9, 2e-3],
    ['uint16', 1.9, 2e-3],
    ['uint8', 1.9, 2e-3],
  ] as const) {
    const out = path.join(root, `export-${mode}`);
    const r = cli('export', run, '--format', 'tfjs', '--quantize', mode, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const weights = fs.statSync(path.join(out, 'weights.bin')).size;
    assert.ok(fullWeights / weights >= ratio, `${mode}: weights ${fullWeights} -> ${weights}`);
    assert.ok(tfjsModelBytes(out) < full);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).quantization, mode);
    const model = await tfl.loadLayersModel(fileSystemIO(out));
    const y = model.predict(x) as tf.Tensor;
    const p = twoClass(y);
    const d = maxDiff(p, predicted);
    assert.ok(d <= tol, `${mode}: ${d}`);
    assert.equal(accuracy(p), accuracy(predicted), `${mode}: accuracy`);
    tf.dispose(y);
    model.dispose();
  }
  x.dispose();
  const bad = cli('export', run, '--format', 'onnx', '--quantize', 'uint8', '--out', path.join(root, 'x'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--quantize applies to the tfjs weights/);
  const badQ = cli('export', run, '--format', 'tfjs', '--quantize', 'int4', '--out', path.join(root, 'x'));
  assert.equal(badQ.status, 2);
  assert.match(badQ.stderr, /--quantize must be float16, uint16 or uint8, got 'int4'/);
  const badF = cli('export', run, '--format', 'coreml', '--out', path.join(root, 'x'));
  assert.equal(badF.status, 2);
  assert.match(badF.stderr, /--format must be one of tfjs, onnx, tm, keras, got 'coreml'/);
});

test('export --format onnx: one file, labels in metadata_props, onnxruntime-node matches tlkit predict to 1e-4', async () => {
  const out = path.join(root, 'export-onnx');
  const r = cli('export', run, '--format', 'onnx', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(out).sort(), ['metadata.json', 'model.onnx']);
  const bytes = new Uint8Array(fs.readFileSync(path.join(out, 'model.onnx')));
  const props = Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(props.labels), ['cats', 'dogs']);
  assert.deepEqual(JSON.parse(props.image_size), size);
  assert.equal(JSON.parse(props.tlkit).resize.rule, RESIZE_RULE);
  const ort = await OrtModel.create(bytes);
  try {
    const { data: y, shape } = await ort.run(pixels, [files.length, size[0], size[1], 3]);
    assert.deepEqual(shape, [files.length, 1]);
    const p = Array.from(y).map((v) => [1 - v, v]);
    const d = maxDiff(p, predicted);
    assert.ok(d <= 1e-4, `onnx export vs tlkit predict: ${d}`);
  } finally {
    await ort.dispose();
  }
});

test('export --format tm: Teachable Machine layout (x/127 - 1 in, one softmax probability per label), matches tlkit predict', async () => {
  const out = path.join(root, 'export-tm');
  const r = cli('export', run, '--format', 'tm', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8'));
  assert.deepEqual(meta.labels, ['cats', 'dogs']);
  assert.equal(meta.imageSize, size[0]);
  assert.equal(meta.packageName, '@teachablemachine/image');
  assert.equal(meta.userMetadata.tlkit.tlkitVersion, tlkitVersion());
  const model = await tfl.loadLayersModel(fileSystemIO(out));
  assert.deepEqual(model.outputs[0].shape, [null, 2]);
  // What @teachablemachine/image feeds: pixels / 127 - 1.
  const x = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(pixels, [files.length, size[0], size[1], 3]), 127), 1));
  const y = model.predict(x) as tf.Tensor;
  const d = maxDiff(y.arraySync() as number[][], predicted);
  assert.ok(d <= 1e-4, `tm export vs tlkit predict: ${d}`);
  tf.dispose([x, y]);
  model.dispose();
});

test("export --format keras: a legacy Keras .h5 model laid out as Keras documents it, read back by tlkit's .h5 loader", async () => {
  const out = path.join(root, 'export-keras');
  const r = cli('export', run, '--format', 'keras', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(out).sort(), ['metadata.json', 'model.h5']);
  const file = path.join(out, 'model.h5');
  const model = await tfl.loadLayersModel(fileSystemIO(path.join(run, 'model')));
  try {
    // keras/src/legacy/saving/legacy_h5_format.py save_model_to_hdf5: root attributes.
    const lib = await h5();
    const f = new lib.File(file, 'r');
    try {
      assert.deepEqual(Object.keys(f.attrs).sort(), ['backend', 'keras_version', 'model_config']);
      assert.equal(f.attrs.backend.value, 'tensorflow');
      assert.match(String(f.attrs.keras_version.value), /^2\.\d+\.\d+$/);
      const config = JSON.parse(String(f.attrs.model_config.value));
      assert.equal(config.class_name, 'Functional');
      assert.deepEqual(
        config.config.layers.map((l: { name: string }) => l.name),
        model.layers.map((l) => l.name),
      );
      assert.deepEqual(config.config.input_layers, [[model.layers[0].name, 0, 0]]);
      assert.equal(config.config.output_layers[0][0], model.outputLayers[0].name);
      for (const l of config.config.layers) {
        assert.equal(typeof l.class_name, 'string');
        assert.ok(Array.isArray(l.inbound_nodes), `${l.name}: inbound_nodes`);
      }
      const dense = config.config.layers.find((l: { class_name: string }) => l.class_name === 'Dense');
      assert.ok('kernel_initializer' in dense.config && 'use_bias' in dense.config, 'pythonic (snake_case) layer config keys');
      assert.doesNotMatch(String(f.attrs.model_config.value), /"distribution":"normal"/, "Keras's name for the truncated normal");
      // save_weights_to_hdf5_group: the model_weights group.
      assert.deepEqual(f.keys(), ['model_weights']);
      const mw = f.get('model_weights') as unknown as { attrs: Record<string, { value: unknown }>; keys(): string[] };
      assert.deepEqual(Object.keys(mw.attrs).sort(), ['backend', 'keras_version', 'layer_names']);
      assert.deepEqual(
        Array.from(mw.attrs.layer_names.value as string[]),
        model.layers.map((l) => l.name),
      );
    } finally {
      f.close();
    }
    // Every layer's weight_names and datasets, read with tlkit's own Keras .h5 loader.
    const read = await readKerasH5(file);
    assert.deepEqual(
      read.layerNames,
      model.layers.map((l) => l.name),
    );
    for (const layer of model.layers) {
      const stored = read.layers.get(layer.name) ?? [];
      assert.equal(stored.length, layer.weights.length, layer.name);
      layer.weights.forEach((v, i) => {
        assert.match(stored[i].name, new RegExp(`^${layer.name}/[a-z_]+:0$`));
        assert.deepEqual(stored[i].shape, v.shape);
        assert.deepEqual(stored[i].data, v.read().dataSync());
      });
    }
  } finally {
    model.dispose();
  }
  const q = cli('export', run, '--format', 'keras', '--quantize', 'uint8', '--out', path.join(root, 'kq'));
  assert.equal(q.status, 2);
  assert.match(q.stderr, /the Keras \.h5 export keeps float32/);
});
