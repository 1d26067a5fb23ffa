// A multi-label run (one sigmoid per label, thresholds in meta.json) through every export: the
// metadata of tfjs, ONNX and Keras says so, the ONNX export gives tlkit's own probabilities
// (1e-4, onnxruntime-node), Teachable Machine refuses with exit 2, and a quantized export
// compares label sets.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { decodeImageInto } from '../data/decode.js';
import { isUserError } from '../errors.js';
import { decodeModel } from '../onnx/proto.js';
import { OrtModel } from '../ort/ortRunner.js';
import { labelsAtThresholds, makeMultiLabelRun, MULTI_LABEL_CLASSES, type MultiLabelRun } from '../testing/multiLabelRun.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { measureAgreement } from './agreement.js';
import { exportRun, TM_MULTI_LABEL } from './exportRun.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The CLI from its sources (no build needed). */
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TLKIT_BACKEND: 'cpu' },
  });

let r: MultiLabelRun;
let root = '';
let pixels: Float32Array;
let size: [number, number] = [0, 0];

before(async () => {
  r = await makeMultiLabelRun();
  root = path.dirname(r.run);
  size = JSON.parse(fs.readFileSync(path.join(r.run, 'meta.json'), 'utf8')).imageSize;
  const per = size[0] * size[1] * 3;
  pixels = new Float32Array(r.files.length * per);
  for (let i = 0; i < r.files.length; i++) await decodeImageInto(r.files[i], size, pixels, i * per);
});

function maxDiff(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length);
  let d = 0;
  a.forEach((row, i) => {
    assert.equal(row.length, b[i].length);
    row.forEach((v, c) => (d = Math.max(d, Number.isFinite(v) ? Math.abs(v - b[i][c]) : Infinity)));
  });
  return d;
}

function rows(data: Float32Array, k: number): number[][] {
  return Array.from({ length: data.length / k }, (_, i) => Array.from(data.subarray(i * k, (i + 1) * k)));
}

test('the test run is multi-label in earnest: each label given to some test images and not to others', () => {
  for (let c = 0; c < MULTI_LABEL_CLASSES.length; c++) {
    const given = r.probabilities.filter((p) => p[c] >= r.thresholds[c]).length;
    assert.ok(given > 0 && given < r.files.length, `${MULTI_LABEL_CLASSES[c]}: ${given} of ${r.files.length}`);
  }
  // the sets differ from "the most probable label": some image has two labels or none
  assert.ok(r.probabilities.some((p) => labelsAtThresholds(p, r.thresholds).length !== 1));
});

test('export --format onnx of a multi-label run: k sigmoid outputs = tlkit predict (1e-4, onnxruntime-node), the same labels, thresholds in metadata_props', async () => {
  const out = path.join(root, 'ml-onnx');
  const e = await exportRun(r.run, { format: 'onnx', out });
  assert.equal(e.metadata.labelMode, 'multi-label');
  assert.deepEqual(e.metadata.output.kind, 'sigmoid');
  assert.equal(e.metadata.output.units, 3);
  assert.match(e.metadata.output.meaning, /independent probability per label/);
  assert.deepEqual(e.metadata.thresholds, r.thresholds);
  assert.equal(e.metadata.thresholdSource, 'validation-f1');
  const bytes = new Uint8Array(fs.readFileSync(path.join(out, 'model.onnx')));
  const props = Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(props.labels), MULTI_LABEL_CLASSES);
  assert.equal(props.label_mode, 'multi-label');
  assert.deepEqual(JSON.parse(props.thresholds), r.thresholds);
  assert.deepEqual(JSON.parse(props.tlkit).thresholds, r.thresholds);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8')).thresholds, r.thresholds);
  const ort = await OrtModel.create(bytes);
  try {
    const { data, shape } = await ort.run(pixels, [r.files.length, size[0], size[1], 3]);
    assert.deepEqual(shape, [r.files.length, 3]);
    const got = rows(data, 3);
    const d = maxDiff(got, r.probabilities);
    assert.ok(d <= 1e-4, `onnx export vs tlkit inference: ${d}`);
    if (process.env.TLKIT_TEST_VERBOSE) process.stderr.write(`multi-label onnx |export - inference| = ${d.toExponential(2)}\n`);
    // and so the same labels, image by image
    got.forEach((p, i) => assert.deepEqual(labelsAtThresholds(p, r.thresholds), labelsAtThresholds(r.probabilities[i], r.thresholds)));
    // `tlkit predict --json`, as a user runs it: the same probabilities and labels
    const predicted = cli('predict', '--model', r.run, ...r.files, '--json');
    assert.equal(predicted.status, 0, predicted.stderr);
    const lines = predicted.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; labels: string[]; probabilities: Record<string, number> });
    assert.deepEqual(
      lines.map((l) => l.file),
      r.files,
    );
    const fromPredict = lines.map((l) => MULTI_LABEL_CLASSES.map((c) => l.probabilities[c]));
    const dp = maxDiff(got, fromPredict);
    assert.ok(dp <= 1e-4, `onnx export vs tlkit predict: ${dp}`);
    if (process.env.TLKIT_TEST_VERBOSE) process.stderr.write(`multi-label onnx |export - tlkit predict| = ${dp.toExponential(2)}\n`);
    got.forEach((p, i) => assert.deepEqual(labelsAtThresholds(p, r.thresholds), lines[i].labels, path.basename(r.files[i])));
  } finally {
    await ort.dispose();
  }
});

test('export --format tfjs and keras of a multi-label run: metadata.json says multi-label with the thresholds; tfjs model = tlkit inference', async () => {
  for (const format of ['tfjs', 'keras'] as const) {
    const out = path.join(root, `ml-${format}`);
    await exportRun(r.run, { format, out });
    const m = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8'));
    assert.equal(m.labelMode, 'multi-label', format);
    assert.deepEqual(m.output, {
      kind: 'sigmoid',
      units: 3,
      meaning: m.output.meaning,
    });
    assert.deepEqual(m.labels, MULTI_LABEL_CLASSES);
    assert.deepEqual(m.thresholds, r.thresholds, format);
    if (format === 'tfjs') {
      assert.match(fs.readFileSync(path.join(out, 'index.html'), 'utf8'), /<h1>cats, dogs, noisy \(multi-label\)<\/h1>/);
      const model = await tfl.loadLayersModel(fileSystemIO(out));
      const x = tf.tensor4d(pixels, [r.files.length, size[0], size[1], 3]);
      const y = model.predict(x) as tf.Tensor;
      const d = maxDiff(y.arraySync() as number[][], r.probabilities);
      assert.ok(d <= 1e-4, `tfjs export vs tlkit inference: ${d}`);
      tf.dispose([x, y]);
      model.dispose();
    }
  }
  // a single-label run's exports name their mode too, without thresholds
  const single = path.join(root, 'single');
  fs.cpSync(r.run, single, { recursive: true });
  const meta = JSON.parse(fs.readFileSync(path.join(single, 'meta.json'), 'utf8'));
  fs.writeFileSync(path.join(single, 'meta.json'), JSON.stringify({ ...meta, labelMode: 'categorical', thresholds: undefined }));
  const s = await exportRun(single, { format: 'onnx', out: path.join(root, 'single-onnx') });
  assert.equal(s.metadata.labelMode, 'categorical');
  assert.equal(s.metadata.thresholds, undefined);
  assert.equal(s.metadata.output.kind, 'softmax');
});

test('a multi-label run without its thresholds is refused (it was not finished), naming the fix', async () => {
  const broken = path.join(root, 'no-thresholds');
  fs.cpSync(r.run, broken, { recursive: true });
  const meta = JSON.parse(fs.readFileSync(path.join(broken, 'meta.json'), 'utf8'));
  fs.writeFileSync(path.join(broken, 'meta.json'), JSON.stringify({ ...meta, thresholds: [0.5] }));
  await assert.rejects(
    exportRun(broken, { format: 'onnx', out: path.join(root, 'x') }),
    (e: Error) =>
      isUserError(e) && /multi-label run without one threshold \(0 < t < 1\) per class \(3 classes, thresholds \[0\.5\]\)/.test(e.message),
  );
});

test('export --format tm of a multi-label run exits 2: Teachable Machine has no multi-label form; it names the formats that work', () => {
  const out = path.join(root, 'ml-tm');
  const x = cli('export', r.run, '--format', 'tm', '--out', out);
  assert.equal(x.status, 2, x.stderr);
  assert.match(
    x.stderr,
    /is a multi-label run\. Teachable Machine's format has no multi-label form .*export --format onnx\|tfjs\|keras instead/,
  );
  assert.ok(x.stderr.includes(TM_MULTI_LABEL));
  assert.doesNotMatch(x.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(fs.existsSync(out), false, 'nothing written');
});

test("a quantized multi-label export compares label sets on the table's validation rows", async () => {
  const e = await exportRun(r.run, { format: 'tfjs', quantize: 'uint8', out: path.join(root, 'ml-uint8') });
  const a = e.agreement;
  assert.ok(a?.measured, JSON.stringify(a));
  assert.equal(a.compared, 'label set');
  assert.equal(a.split, 'validation');
  // labels.csv marks the 16 validation images is_valid
  assert.equal(a.images, 16);
  assert.equal(a.dir, r.data);
  assert.ok(a.maxProbabilityDifference < 0.01, String(a.maxProbabilityDifference));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(root, 'ml-uint8', 'metadata.json'), 'utf8')).agreement.compared, 'label set');
});

test('measureAgreement with thresholds: an image counts as agreeing only when its whole label set is the same', async () => {
  const dir = path.join(r.run, 'model');
  const io = fileSystemIO(dir) as Required<Pick<tf.io.IOHandler, 'load'>>;
  const reference = await io.load();
  // "quantized": the same model with the 'noisy' logit lowered by delta (its bias), every probability of it a little lower
  const delta = 0.08;
  const specs = reference.weightSpecs ?? [];
  const data = (reference.weightData as ArrayBuffer).slice(0);
  let offset = 0;
  for (const s of specs) {
    const n = s.shape.reduce((x, y) => x * y, 1);
    if (s.name === 'head_output/bias') new Float32Array(data, offset, n)[2] -= delta;
    offset += 4 * n;
  }
  const shifted = { ...reference, weightData: data };
  // the threshold of 'noisy' just under some images' probability, so the shift takes the label off them
  const noisy = r.probabilities.map((p) => p[2]).sort((x, y) => x - y);
  const t = noisy[Math.floor(noisy.length / 2)] - 1e-3;
  const thresholds = [r.thresholds[0], r.thresholds[1], t];
  const lowered = r.probabilities.map((p) => [p[0], p[1], 1 / (1 + Math.exp(-(Math.log(p[2] / (1 - p[2])) - delta)))]);
  const sameSets = r.probabilities.filter(
    (p, i) => labelsAtThresholds(p, thresholds).join() === labelsAtThresholds(lowered[i], thresholds).join(),
  ).length;
  const argmax = (p: number[]) => p.indexOf(Math.max(...p));
  const sameTop = r.probabilities.filter((p, i) => argmax(p) === argmax(lowered[i])).length;
  assert.ok(sameSets < sameTop, `the premise: the shift changes more label sets (${sameSets} same) than top labels (${sameTop} same)`);
  const input = { files: r.files, split: 'all' as const, dir: r.data, labels: MULTI_LABEL_CLASSES, imageSize: size, scale: 1, offset: 0 };
  const sets = await measureAgreement(reference, shifted, { ...input, thresholds });
  assert.equal(sets.compared, 'label set');
  assert.equal(sets.sameLabel, sameSets);
  assert.equal(sets.labelAgreement, sameSets / r.files.length);
  const d = sets.disagreements[0];
  assert.equal(d.changed, 'noisy');
  assert.match(d.reference.label, /noisy/);
  assert.doesNotMatch(d.quantized.label, /noisy/);
  assert.ok(d.reference.probability >= t && d.quantized.probability < t);
  const expectedMax = Math.max(...r.probabilities.map((p, i) => Math.abs(p[2] - lowered[i][2])));
  assert.ok(Math.abs(sets.maxProbabilityDifference - expectedMax) < 1e-5, `${sets.maxProbabilityDifference} vs ${expectedMax}`);
  // without thresholds, the most probable label is compared (the single-label rule)
  const top = await measureAgreement(reference, shifted, input);
  assert.equal(top.compared, 'top label');
  assert.equal(top.sameLabel, sameTop);
});
