import fs from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadClassifier } from '../inference/classifier.js';
import { listImageFiles } from '../data/splits.js';
import { readMeta, writeMeta } from '../run/meta.js';
import { fileSystemIO } from '../weights/tfjsFiles.js';
import { makeTinyRun } from './tinyRun.js';

/** The labels of the multi-label test run, in the order of its sigmoid outputs. */
export const MULTI_LABEL_CLASSES = ['cats', 'dogs', 'noisy'];

export interface MultiLabelRun {
  data: string;
  run: string;
  /** The table over `data` the run records (labels.csv: file,labels,is_valid; labels separated by spaces). */
  table: string;
  /** The test images (data/test/...), and their k probabilities by tlkit's own inference (loadClassifier). */
  files: string[];
  probabilities: number[][];
  thresholds: number[];
}

/**
 * A multi-label run for the tests of what reads one (exports, the UI) without training one: the
 * tiny run's base and hidden layer with a fresh Dense(3) + sigmoid head (seeded, untrained), and
 * meta.json saying labelMode 'multi-label'. Each threshold sits between two of the class's
 * probabilities on the test images, near their median, so that about half of the images get
 * each label: a reader that drops the thresholds, or marks by the largest probability, differs.
 */
export async function makeMultiLabelRun(): Promise<MultiLabelRun> {
  const { data, run } = await makeTinyRun(2);
  const dir = path.join(run, 'model');
  const model = await tfl.loadLayersModel(fileSystemIO(dir));
  const hidden = model.getLayer('head_dropout').output as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({
      name: 'head_output',
      units: MULTI_LABEL_CLASSES.length,
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 11 }),
      biasInitializer: 'zeros',
    })
    .apply(hidden) as tfl.SymbolicTensor;
  const out = tfl.layers.activation({ name: 'head_activation', activation: 'sigmoid' }).apply(logits) as tfl.SymbolicTensor;
  const multi = tfl.model({ inputs: model.inputs, outputs: out, name: model.name });
  fs.rmSync(dir, { recursive: true });
  await multi.save(fileSystemIO(dir));
  model.dispose();

  // the table the run says it was trained from: every image, the animal and 'noisy' on every third
  const rows = ['file,labels,is_valid'];
  for (const split of ['train', 'validation', 'test'])
    for (const cls of ['cats', 'dogs'])
      listImageFiles(path.join(data, split, cls)).forEach((f, i) => {
        rows.push(`${path.relative(data, f)},${i % 3 === 0 ? `${cls} noisy` : cls},${split === 'validation'}`);
      });
  const table = path.join(data, 'labels.csv');
  fs.writeFileSync(table, `${rows.join('\n')}\n`);

  const meta = await readMeta(run);
  await writeMeta(run, {
    ...meta,
    classes: [...MULTI_LABEL_CLASSES],
    labelMode: 'multi-label',
    thresholds: [0.5, 0.5, 0.5],
    thresholdSource: 'validation-f1',
    calibration: undefined,
    options: { ...meta.options, labels: 'labels.csv', labelDelim: ' ', multiLabel: true },
  });
  const files = ['cats', 'dogs'].flatMap((c) => listImageFiles(path.join(data, 'test', c)));
  const clf = await loadClassifier(run);
  let probabilities: number[][];
  try {
    probabilities = await clf.scoresOfFiles(files);
  } finally {
    await clf.dispose();
  }
  const thresholds = MULTI_LABEL_CLASSES.map((_, c) => {
    const sorted = probabilities.map((p) => p[c]).sort((a, b) => a - b);
    // the widest gap in the middle third: no image sits within rounding of its threshold
    let at = Math.floor(sorted.length / 3);
    for (let i = at; i < Math.ceil((2 * sorted.length) / 3); i++) if (sorted[i + 1] - sorted[i] > sorted[at + 1] - sorted[at]) at = i;
    return (sorted[at] + sorted[at + 1]) / 2;
  });
  await writeMeta(run, { ...(await readMeta(run)), thresholds });
  return { data, run, table, files, probabilities, thresholds };
}

/** The labels at or above their thresholds, in class order. */
export function labelsAtThresholds(probabilities: number[], thresholds: number[], classes = MULTI_LABEL_CLASSES): string[] {
  return classes.filter((_, c) => probabilities[c] >= thresholds[c]);
}
