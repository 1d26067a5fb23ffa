import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listImageFiles } from '../data/splits.js';
import { loadClassifier } from '../inference/classifier.js';
import { exportToOnnx } from '../onnx/export.js';
import { OrtModel } from '../ort/ortRunner.js';
import { initBackend } from '../tfjs/backend.js';
import { UserError } from '../errors.js';
import {
  makeQuadrantBase,
  makeQuadrantDataset,
  quadrantAt,
  quadrantBaseModel,
  quadrantOf,
  QUADRANT_CLASSES,
  QUADRANT_SIZE,
} from '../testing/quadrants.js';
import { train } from '../workflows/train.js';
import { camOf, scoreCoefficients } from './gradCam.js';
import { explainFiles, type Explanation } from './explainImages.js';
import { upsampleBilinear } from './overlay.js';
import { loadGradCam, type GradCamExplainer } from './runGradCam.js';

// Grad-CAM on runs whose answer is known: the class lies in one quadrant of each image
// (testing/quadrants.ts), so the heatmap's peak must lie there. Three runs on the same
// data: a tfjs base (features mode), the same base exported to ONNX as --base file.onnx,
// and a fine-tuned run (the top conv unfrozen) from the first.

let root: string;
let data: string;
let testFiles: string[];
const runs: Record<'tfjs' | 'onnx' | 'finetune', string> = { tfjs: '', onnx: '', finetune: '' };

before(async () => {
  await initBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-gradcam-'));
  data = await makeQuadrantDataset(path.join(root, 'data'), { train: 60, validation: 20, test: 40 });
  testFiles = QUADRANT_CLASSES.flatMap((c) => listImageFiles(path.join(data, 'test', c)));
  const base = await makeQuadrantBase(path.join(root, 'base'));
  const onnxBase = path.join(root, 'base.onnx');
  const model = quadrantBaseModel();
  fs.writeFileSync(onnxBase, exportToOnnx(model));
  model.dispose();
  const common = {
    data,
    epochs: 8,
    batchSize: 16,
    headUnits: 16,
    verbose: 0 as const,
    learningRate: 0.003,
    cacheDir: path.join(root, 'cache'),
  };
  runs.tfjs = path.join(root, 'run-tfjs');
  runs.onnx = path.join(root, 'run-onnx');
  runs.finetune = path.join(root, 'run-finetune');
  const quiet = { log: () => {} };
  await train({ ...common, base, out: runs.tfjs }, quiet);
  await train({ ...common, base: onnxBase, preprocess: 'none', out: runs.onnx }, quiet);
  await train(
    { ...common, base, mode: 'finetune', from: runs.tfjs, unfreeze: 2, epochs: 2, learningRate: 1e-4, out: runs.finetune },
    quiet,
  );
});

/** The quadrant of the heatmap's peak, the heatmap drawn at the image's size as the overlay draws it. */
function peakQuadrant(e: Explanation): number {
  const up = upsampleBilinear(e.heatmap, e.size, [QUADRANT_SIZE, QUADRANT_SIZE]);
  let best = 0;
  for (let p = 1; p < up.length; p++) if (up[p] > up[best]) best = p;
  return quadrantAt(Math.floor(best / QUADRANT_SIZE), best % QUADRANT_SIZE, QUADRANT_SIZE);
}

async function peaksInQuadrant(explainer: GradCamExplainer): Promise<{ hits: number; right: number; explanations: Explanation[] }> {
  const explanations = await explainFiles(explainer, testFiles);
  let hits = 0;
  let right = 0;
  explanations.forEach((e, i) => {
    if (peakQuadrant(e) === quadrantOf(testFiles[i])) hits += 1;
    if (e.label === path.basename(path.dirname(testFiles[i]))) right += 1;
  });
  return { hits, right, explanations };
}

for (const kind of ['tfjs', 'onnx', 'finetune'] as const) {
  test(`${kind} run: the heatmap's peak lies in the quadrant that carries the class for >= 95% of test images`, async () => {
    const explainer = await loadGradCam(runs[kind]);
    try {
      const { hits, right, explanations } = await peaksInQuadrant(explainer);
      const n = testFiles.length;
      console.log(
        `# ${kind}: peak in the class's quadrant ${hits}/${n}, predicted class right ${right}/${n}, feature map ${explanations[0].size.join('x')} at ${explainer.featureLayer}`,
      );
      assert.ok(right / n >= 0.95, `the model itself must have learned the task (${right}/${n})`);
      assert.ok(hits / n >= 0.95, `peak in the quadrant for ${hits}/${n}`);
      assert.deepEqual(explanations[0].size, [4, 4], "the base's last feature map (4x4)");
      for (const e of explanations) assert.equal(Math.max(...e.heatmap), 1, 'scaled to a peak of 1');
    } finally {
      await explainer.dispose();
    }
  });
}

test("the rebuilt head gives the run's own predictions: sigmoid of the explained class's score is the classifier's probability of it", async () => {
  for (const kind of ['tfjs', 'onnx', 'finetune'] as const) {
    const explainer = await loadGradCam(runs[kind]);
    const classifier = await loadClassifier(runs[kind]);
    try {
      const files = testFiles.slice(0, 4).concat(testFiles.slice(-4));
      const explanations = await explainFiles(explainer, files);
      const predictions = await classifier.predict(files);
      explanations.forEach((e, i) => {
        assert.equal(e.label, predictions[i].label, `${kind} ${files[i]}: the predicted class is explained`);
        const p = 1 / (1 + Math.exp(-e.score));
        assert.ok(Math.abs(p - predictions[i].probability) < 1e-4, `${kind} ${files[i]}: ${p} vs ${predictions[i].probability}`);
      });
    } finally {
      await explainer.dispose();
      await classifier.dispose();
    }
  }
});

/**
 * The reference Grad-CAM of one image: the gradient of the class score with respect to
 * each feature-map value by central differences of `scoreOf` (a batch of perturbed maps
 * in, their scores out), then the channel weights and the map by the paper's formulas.
 */
async function finiteDifferenceCam(
  features: Float32Array,
  [h, w, c]: [number, number, number],
  scoreOf: (maps: Float32Array, n: number) => Promise<Float64Array>,
  eps: number,
): Promise<{ cam: Float32Array; weights: Float32Array }> {
  const size = h * w * c;
  const gradient = new Float64Array(size);
  const chunk = 256;
  for (let start = 0; start < size; start += chunk) {
    const k = Math.min(chunk, size - start);
    const maps = new Float32Array(2 * k * size);
    for (let j = 0; j < k; j++) {
      for (const [row, sign] of [
        [2 * j, 1],
        [2 * j + 1, -1],
      ]) {
        maps.set(features, row * size);
        maps[row * size + start + j] += sign * eps;
      }
    }
    const scores = await scoreOf(maps, 2 * k);
    for (let j = 0; j < k; j++) gradient[start + j] = (scores[2 * j] - scores[2 * j + 1]) / (2 * eps);
  }
  return camOf(features, gradient, h * w, c);
}

function relativeToMax(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return worst / scale;
}

test("Grad-CAM equals a reference by finite differences of the head on ONNX Runtime (the run's saved head, an independent engine), to 1e-3", async () => {
  const explainer = await loadGradCam(runs.onnx);
  const tfl = await import('@tensorflow/tfjs-layers');
  const { fileSystemIO } = await import('../weights/tfjsFiles.js');
  const { runPaths } = await import('../run/paths.js');
  // model/ of an ONNX-base run is the head alone: features in. Its logits (head_output) on ONNX Runtime.
  const head = await tfl.loadLayersModel(fileSystemIO(runPaths(runs.onnx).model));
  const logits = await OrtModel.create(exportToOnnx(head, { upTo: 'head_output' }));
  head.dispose();
  try {
    const file = testFiles.find((f) => f.includes('/reds/')) as string;
    const [e] = await explainFiles(explainer, [file]);
    const [h, w] = explainer.imageSize;
    const { decodeImage } = await import('../data/decode.js');
    const fm = await explainer.featureMaps(await decodeImage(file, [h, w]), 1);
    const [, fh, fw, fc] = fm.shape;
    const coef = scoreCoefficients(1, e.classIndex);
    const scoreOf = async (maps: Float32Array, n: number) => {
      const out = await logits.run(maps, [n, fh, fw, fc]);
      return Float64Array.from({ length: n }, (_, i) => out.data[i] * coef[0]);
    };
    // The book's head (Flatten, Dense linear, Dropout, Dense) is linear in the map: differences are exact at any step.
    const ref = await finiteDifferenceCam(fm.data, [fh, fw, fc], scoreOf, 0.05);
    const wErr = relativeToMax(e.weights, ref.weights);
    const camErr = relativeToMax(e.cam, ref.cam);
    console.log(
      `# Grad-CAM vs finite differences (${fh}x${fw}x${fc}): weights ${wErr.toExponential(2)}, map ${camErr.toExponential(2)} (relative to the largest)`,
    );
    assert.ok(wErr < 1e-3, `channel weights differ by ${wErr}`);
    assert.ok(camErr < 1e-3, `maps differ by ${camErr}`);
    assert.ok(Math.max(...ref.cam) > 0, 'the reference map is not empty');
  } finally {
    await logits.dispose();
    await explainer.dispose();
  }
});

test("fine-tuned run at 'cut': the gradient goes back through the unfrozen conv, equal to finite differences through it", async () => {
  const explainer = await loadGradCam(runs.finetune, { layer: 'cut' });
  // The suffix + head as tlkit rebuilt it, run forward on ONNX Runtime for the differences.
  const logits = await OrtModel.create(exportToOnnx(explainer.logitsModel));
  try {
    assert.equal(explainer.featureLayer, 'q_pool1', 'the frozen part ends at the cut');
    const file = testFiles.find((f) => f.includes('/blues/')) as string;
    const [e] = await explainFiles(explainer, [file]);
    assert.deepEqual(e.size, [16, 16], 'the cut point is finer than the base output');
    const [h, w] = explainer.imageSize;
    const { decodeImage } = await import('../data/decode.js');
    const fm = await explainer.featureMaps(await decodeImage(file, [h, w]), 1);
    const [, fh, fw, fc] = fm.shape;
    const coef = scoreCoefficients(1, e.classIndex);
    const scoreOf = async (maps: Float32Array, n: number) => {
      const out = await logits.run(maps, [n, fh, fw, fc]);
      return Float64Array.from({ length: n }, (_, i) => out.data[i] * coef[0]);
    };
    // A ReLU conv before the head: piecewise linear, so a small step, that few ReLUs cross their kink (1e-2 gave 1.4e-3, 1e-3 gives 3e-4).
    const ref = await finiteDifferenceCam(fm.data, [fh, fw, fc], scoreOf, 1e-3);
    const wErr = relativeToMax(e.weights, ref.weights);
    const camErr = relativeToMax(e.cam, ref.cam);
    console.log(`# through the unfrozen suffix (${fh}x${fw}x${fc}): weights ${wErr.toExponential(2)}, map ${camErr.toExponential(2)}`);
    assert.ok(wErr < 1e-3, `channel weights differ by ${wErr}`);
    assert.ok(camErr < 1e-3, `maps differ by ${camErr}`);
    assert.equal(quadrantOf(file), peakQuadrant(e), 'the finer map also finds the quadrant');
  } finally {
    await logits.dispose();
    await explainer.dispose();
  }
});

test('a layer that does not apply is a UserError naming the fix', async () => {
  const userError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);
  await assert.rejects(loadGradCam(runs.tfjs, { layer: 'cut' }), userError(/needs a fine-tuned run.*features mode/s));
  await assert.rejects(loadGradCam(runs.onnx, { layer: 'q_conv1' }), userError(/ONNX base.*Leave the layer out/s));
  await assert.rejects(loadGradCam(runs.tfjs, { layer: 'no_such_layer' }), userError(/no layer 'no_such_layer'/));
  // a layer whose output is a vector, not a map
  await assert.rejects(loadGradCam(runs.tfjs, { layer: 'head_dense' }), userError(/spatial feature map/));
});
