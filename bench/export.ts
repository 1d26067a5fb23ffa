/**
 * Export benchmark: a trained run exported as tfjs float32, float16, uint16 and
 * uint8 (`tlkit export --quantize`), each loaded back with tf.loadLayersModel and
 * evaluated on the same test split (ONNX Runtime, the run's own decoding and resize).
 * Prints each export's size against the unquantized export (the baseline, measured in
 * the same run), its test accuracy, the test images whose label is the float32 export's and
 * the largest probability difference per image.
 *
 *   node --import tsx bench/export.ts --run RUN [--data ../shared/data/cats_vs_dogs_small]
 *
 * Targets: uint8 at least 3x smaller, the same label as float32 on at least 99% of the images.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/tfjs/backend.js';
import { exportRun, tfjsModelBytes } from '../src/export/exportRun.js';
import { evaluationFiles, RunPredictor, scoreEvaluation } from '../src/inference/predictor.js';
import { readMeta } from '../src/run/meta.js';
import { fileSystemIO } from '../src/weights/tfjsFiles.js';
import { stringArg, SHARED_DATA } from './args.js';

const run = stringArg('--run');
if (!run) throw new Error('usage: bench/export.ts --run RUN [--data DIR]');
const data = stringArg('--data', SHARED_DATA);

await initBackend();
const meta = await readMeta(run);
const { files, labels } = evaluationFiles(data, meta.classes);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-export-'));
const rows: Array<{ name: string; bytes: number; accuracy: number; scores: number[][] }> = [];
for (const quantize of [undefined, 'float16', 'uint16', 'uint8'] as const) {
  const out = path.join(tmp, quantize ?? 'float32');
  await exportRun(run, { format: 'tfjs', out, quantize });
  const model = await tfl.loadLayersModel(fileSystemIO(out));
  const predictor = await RunPredictor.create(model, meta);
  model.dispose();
  const scores = await predictor.scores(files, 16);
  await predictor.dispose();
  rows.push({
    name: quantize ?? 'float32',
    bytes: tfjsModelBytes(out),
    accuracy: scoreEvaluation(scores, labels, meta.classes).accuracy,
    scores,
  });
}
const [base] = rows;
console.log(`run ${run}, ${files.length} test images from ${data}`);
console.log(
  '| export | size | size ratio vs float32 | test accuracy | accuracy - float32 (points) | same label as float32 | max |p - p_float32| |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
const argmax = (v: number[]) => v.indexOf(Math.max(...v));
for (const r of rows) {
  let d = 0;
  r.scores.forEach((s, i) => s.forEach((v, j) => (d = Math.max(d, Math.abs(v - base.scores[i][j])))));
  const same = r.scores.filter((s, i) => argmax(s) === argmax(base.scores[i])).length;
  console.log(
    `| ${r.name} | ${(r.bytes / 1e6).toFixed(2)} MB | ${(base.bytes / r.bytes).toFixed(2)}x | ${r.accuracy.toFixed(4)} | ${((r.accuracy - base.accuracy) * 100).toFixed(2)} | ${same}/${r.scores.length} | ${d.toExponential(2)} |`,
  );
}
fs.rmSync(tmp, { recursive: true, force: true });
