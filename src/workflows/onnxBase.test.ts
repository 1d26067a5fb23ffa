import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { UserError } from '../errors.js';
import { decodeImageInto } from '../data/decode.js';
import { listImageFiles } from '../data/splits.js';
import { OnnxBase } from '../ort/onnxBase.js';
import { OrtModel } from '../ort/ortRunner.js';
import { buildReport } from '../cli/commands/report.js';
import { exportRun } from '../export/exportRun.js';
import { loadClassifier } from '../inference/classifier.js';
import { evaluateRun } from '../inference/evaluate.js';
import { readMeta } from '../run/meta.js';
import { runPaths } from '../run/paths.js';
import { writeHandBuiltNchw } from '../testing/onnxModels.js';
import { makeTinyDataset, TINY_SIZE } from '../testing/tinyRun.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { train } from './train.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-onnx-run-'));
const data = await makeTinyDataset(path.join(root, 'data'), { train: 12, validation: 6, test: 6 });
const baseFile = path.join(root, 'hand.onnx');
writeHandBuiltNchw(baseFile, { size: TINY_SIZE });
const sha256 = createHash('sha256').update(fs.readFileSync(baseFile)).digest('hex');
const testFiles = ['cats', 'dogs'].flatMap((c) => listImageFiles(path.join(data, 'test', c)));
const common = {
  data,
  base: baseFile,
  preprocess: 'torch',
  epochs: 3,
  batchSize: 8,
  headUnits: 4,
  learningRate: 0.01,
  verbose: 0 as const,
  cacheDir: path.join(root, 'cache'),
};

async function pixelsOf(files: string[]): Promise<Float32Array> {
  const per = TINY_SIZE * TINY_SIZE * 3;
  const buf = new Float32Array(files.length * per);
  await Promise.all(files.map((f, i) => decodeImageInto(f, [TINY_SIZE, TINY_SIZE], buf, i * per)));
  return buf;
}

/** What predict must give: the ONNX base's features (channels-last), then the saved head on tfjs. */
async function expectedScores(run: string, file: string, upTo?: string): Promise<number[][]> {
  const base = await OnnxBase.load(file, { preprocess: 'torch', upTo });
  const feats = await base.features(await pixelsOf(testFiles), testFiles.length);
  await base.dispose();
  const head = await tfl.loadLayersModel(fileSystemIO(runPaths(run).model));
  const p = tf.tidy(() => (head.predict(tf.tensor(feats.data, feats.shape)) as tf.Tensor).arraySync() as number[][]);
  head.dispose();
  return p.map((r) => (r.length === 1 ? [1 - r[0], r[0]] : r));
}

function assertClose(got: number[][], want: number[][], tol = 1e-5): void {
  assert.equal(got.length, want.length);
  got.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - want[i][j]) <= tol, `row ${i}: ${row} vs ${want[i]}`)));
}

test('features mode on a hand-built NCHW graph cut at --up-to: meta records the base, model/ is the head, predict and export run base + head', async () => {
  const run = path.join(root, 'features');
  const result = await train({ ...common, out: run, mode: 'features', upTo: 'relu_out' }, { log: () => {} });
  assert.ok(result.bestEpoch >= 0);
  const meta = await readMeta(run);
  assert.equal(meta.version, 3);
  assert.equal(meta.baseFamily, 'onnx');
  assert.equal(meta.preprocessing, 'torch');
  assert.deepEqual(meta.imageSize, [TINY_SIZE, TINY_SIZE]);
  assert.deepEqual(meta.onnxBase, {
    file: baseFile,
    sha256,
    inputName: 'pixel_values',
    outputName: 'relu_out',
    upTo: 'relu_out',
    layout: 'NCHW',
    batch: null,
    preprocess: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'rgb' },
  });
  // model/ is the head alone, on channels-last features [16, 16, 2] (the NCHW relu_out transposed)
  const saved = JSON.parse(fs.readFileSync(path.join(runPaths(run).model, 'model.json'), 'utf8'));
  const layers = saved.modelTopology.model_config?.config?.layers ?? saved.modelTopology.config.layers;
  assert.deepEqual(layers[0].config.batch_input_shape, [null, TINY_SIZE, TINY_SIZE, 2]);
  assert.ok(
    layers.every((l: { class_name: string }) => ['InputLayer', 'Flatten', 'Dense', 'Dropout', 'Activation'].includes(l.class_name)),
  );

  const clf = await loadClassifier(run);
  const got = (await clf.predict(testFiles)).map((p) =>
    ['cats', 'dogs'].map((c) => p.probabilities.find((x) => x.label === c)!.probability),
  );
  await clf.dispose();
  assertClose(got, await expectedScores(run, baseFile, 'relu_out'));
  const evaluation = await evaluateRun(run, data, { save: false });
  assert.equal(evaluation.n, 12);
  // Reaches 12/12, loss 0.0035 (measured): one miss, or about 6x the loss, is a regression.
  assert.ok(evaluation.accuracy >= 11 / 12 && evaluation.loss <= 0.02, `accuracy ${evaluation.accuracy}, loss ${evaluation.loss}`);

  // the report shows the base, and evaluates through it
  const html = fs.readFileSync(await buildReport(run), 'utf8');
  assert.match(
    html,
    new RegExp(
      `ONNX base.*${baseFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; sha256 ${sha256}; input pixel_values \\(NCHW 16x16\\); preprocessing torch; features from relu_out \\(--up-to\\)`,
    ),
  );
  assert.match(html, /the head alone, the ONNX base not counted/);
  assert.match(html, /id="confusion"/);

  // onnx export: one graph, RGB 0..255 NHWC in, the same probabilities
  const out = path.join(root, 'export-onnx');
  await exportRun(run, { format: 'onnx', out });
  const exported = await OrtModel.create(fs.readFileSync(path.join(out, 'model.onnx')));
  const probs = await exported.run(await pixelsOf(testFiles), [testFiles.length, TINY_SIZE, TINY_SIZE, 3]);
  await exported.dispose();
  assertClose(
    Array.from({ length: testFiles.length }, (_, i) => [1 - probs.data[i], probs.data[i]]),
    got,
  );
  await assert.rejects(
    exportRun(run, { format: 'tfjs', out: path.join(root, 'export-tfjs') }),
    (e: unknown) => e instanceof UserError && /ONNX base .*hand\.onnx.*Export --format onnx/.test((e as Error).message),
  );
});

test('augment mode on the hand-built graph (its [N, 2] output) trains end to end; predict works', async () => {
  const run = path.join(root, 'augment');
  const result = await train({ ...common, out: run, mode: 'augment', epochs: 2 }, { log: () => {} });
  assert.ok(result.bestEpoch >= 0);
  assert.ok(result.timings.frozenBaseSeconds > 0);
  const meta = await readMeta(run);
  assert.equal(meta.mode, 'augment');
  assert.equal(meta.onnxBase?.outputName, 'embeds');
  assert.equal(meta.onnxBase?.upTo, null);
  const clf = await loadClassifier(run);
  const got = (await clf.predict(testFiles)).map((p) =>
    ['cats', 'dogs'].map((c) => p.probabilities.find((x) => x.label === c)!.probability),
  );
  await clf.dispose();
  assertClose(got, await expectedScores(run, baseFile));
});

test('a moved or changed ONNX base: predict says which file and hash it needs and how to fix it; --base points to the moved file', async () => {
  const file = path.join(root, 'own.onnx');
  fs.copyFileSync(baseFile, file);
  const run = path.join(root, 'moved');
  await train({ ...common, base: file, out: run, epochs: 1 }, { log: () => {} });
  await train({ ...common, base: file, out: run, epochs: 2, resume: true }, { log: () => {} });
  assert.equal((await readMeta(run)).epochsDone, 2);
  const moved = path.join(root, 'elsewhere.onnx');
  fs.renameSync(file, moved);
  const graphCacheBefore = process.env.TLKIT_GRAPH_CACHE;
  const userError = (pattern: RegExp) => (e: unknown) => e instanceof UserError && pattern.test((e as Error).message);
  await assert.rejects(
    loadClassifier(run),
    userError(new RegExp(`own\\.onnx \\(sha256 ${sha256}\\), which no longer exists.*--base PATH`)),
  );
  const clf = await loadClassifier(run, { base: moved });
  assert.equal((await clf.predict(testFiles[0])).length, 1);
  await clf.dispose();
  // another model at the recorded path (other weights, same graph): refused by its hash
  writeHandBuiltNchw(file, {
    size: TINY_SIZE,
    conv: {
      w: [
        [1, 0, 0],
        [0, 0, 1],
      ],
      b: [0, 0],
    },
  });
  // The run's graph cached above (keyed by the recorded sha256) still answers as trained...
  const cached = await loadClassifier(run);
  assert.equal((await cached.predict(testFiles[0])).length, 1);
  await cached.dispose();
  // ...and without that cache the file at the recorded path is checked, and refused.
  process.env.TLKIT_GRAPH_CACHE = 'off';
  try {
    await assert.rejects(
      loadClassifier(run),
      userError(new RegExp(`own\\.onnx has sha256 [0-9a-f]{64}, but .* was trained on .*sha256 ${sha256}.*the file changed`)),
    );
  } finally {
    if (graphCacheBefore === undefined) delete process.env.TLKIT_GRAPH_CACHE;
    else process.env.TLKIT_GRAPH_CACHE = graphCacheBefore;
  }
  await assert.rejects(evaluateRun(run, data, { save: false, base: file }), userError(/--base .*own\.onnx has sha256/));
  // Called from code, the error names the API option (`resume`), not the CLI flag.
  await assert.rejects(
    train({ ...common, base: file, out: run, epochs: 3, resume: true }, { log: () => {} }),
    userError(/^resume: .* was trained on .*own\.onnx with sha256 [0-9a-f]{64}, but .*own\.onnx now has sha256/),
  );
});
