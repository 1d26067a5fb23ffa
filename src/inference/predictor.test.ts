import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { checkRankOptions, evaluationFiles, rankScores, scoreEvaluation } from './predictor.js';

async function writeImages(dir: string, n: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 10 * i, g: 0, b: 0 } } })
      .png()
      .toFile(path.join(dir, `${i}.png`));
  }
}

test('evaluation data: test/ of the book layout, class folders directly, or a folder holding only test/', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const book = path.join(root, 'book');
  for (const split of ['train', 'test'])
    for (const c of ['cats', 'dogs']) await writeImages(path.join(book, split, c), split === 'test' ? 2 : 1);
  const fromBook = evaluationFiles(book, ['cats', 'dogs']);
  assert.equal(fromBook.dir, path.join(book, 'test'));
  assert.deepEqual(fromBook.labels, [0, 0, 1, 1]);

  const testOnly = path.join(root, 'heldout');
  for (const c of ['cats', 'dogs']) await writeImages(path.join(testOnly, 'test', c), 3);
  const fromTestOnly = evaluationFiles(testOnly, ['cats', 'dogs']);
  assert.equal(path.resolve(fromTestOnly.dir), path.resolve(testOnly, 'test'));
  assert.equal(fromTestOnly.files.length, 6);

  const flat = path.join(root, 'flat');
  for (const c of ['cats', 'dogs']) await writeImages(path.join(flat, c), 1);
  assert.equal(evaluationFiles(flat, ['cats', 'dogs']).files.length, 2);

  assert.throws(() => evaluationFiles(flat, ['cats', 'dogs', 'birds']), /trained on classes \[cats, dogs, birds\]/);
});

test('rankScores: every class most probable first, topK keeps the first k, threshold picks the positive class of a two-class model', () => {
  const three = rankScores([0.2, 0.5, 0.3], ['a', 'b', 'c']);
  assert.deepEqual(three, {
    label: 'b',
    probability: 0.5,
    probabilities: [
      { label: 'b', probability: 0.5 },
      { label: 'c', probability: 0.3 },
      { label: 'a', probability: 0.2 },
    ],
  });
  assert.deepEqual(rankScores([0.2, 0.5, 0.3], ['a', 'b', 'c'], { topK: 1 }).probabilities, [{ label: 'b', probability: 0.5 }]);
  // Two classes, P(dogs) = 0.3: the most probable is cats; with threshold 0.25, dogs is predicted (with its own probability).
  assert.equal(rankScores([0.7, 0.3], ['cats', 'dogs']).label, 'cats');
  const low = rankScores([0.7, 0.3], ['cats', 'dogs'], { threshold: 0.25 });
  assert.equal(low.label, 'dogs');
  assert.equal(low.probability, 0.3);
  assert.deepEqual(
    low.probabilities.map((p) => p.label),
    ['cats', 'dogs'],
    'probabilities stay sorted',
  );
  assert.equal(rankScores([0.2, 0.8], ['cats', 'dogs'], { threshold: 0.9 }).label, 'cats');
  assert.throws(
    () => checkRankOptions({ threshold: 0.5 }, ['a', 'b', 'c'], { threshold: '--threshold' }),
    /--threshold applies to two-class \(binary\) models only; this model has 3 classes/,
  );
  assert.throws(() => checkRankOptions({ threshold: 1.5 }, ['a', 'b']), /threshold must be a probability from 0 to 1/);
  assert.throws(() => checkRankOptions({ topK: 0 }, ['a', 'b']), /topK must be a whole number >= 1, got 0/);
});

test('scoreEvaluation: per-class precision, recall, F1 and support from the confusion matrix', () => {
  // true: a a a b b c; predicted: a a b b c c
  const onehot = (i: number) => [0, 1, 2].map((j) => (j === i ? 0.9 : 0.05));
  const e = scoreEvaluation([0, 0, 1, 1, 2, 2].map(onehot), [0, 0, 0, 1, 1, 2], ['a', 'b', 'c']);
  assert.deepEqual(e.confusion, [
    [2, 1, 0],
    [0, 1, 1],
    [0, 0, 1],
  ]);
  assert.deepEqual(e.support, [3, 2, 1]);
  assert.deepEqual(e.precision, [1, 0.5, 0.5]);
  assert.deepEqual(e.recall, [2 / 3, 0.5, 1]);
  assert.ok(Math.abs(e.f1[0] - 0.8) < 1e-12);
  assert.ok(Math.abs(e.f1[1] - 0.5) < 1e-12);
  assert.ok(Math.abs(e.f1[2] - 2 / 3) < 1e-12);
  assert.equal(e.n, 6);
  assert.equal(e.accuracy, 4 / 6);
  // Cross-entropy: the mean of -ln P(true class); four true classes got 0.9, two got 0.05.
  assert.ok(Math.abs(e.loss - (4 * -Math.log(0.9) + 2 * -Math.log(0.05)) / 6) < 1e-12, `loss ${e.loss}`);
  // A class never predicted and never present: 0, not NaN.
  const none = scoreEvaluation([onehot(0)], [0], ['a', 'b', 'c']);
  assert.deepEqual(none.f1, [1, 0, 0]);
});

test("scoreEvaluation: the loss is Keras's categorical cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7]", () => {
  // Hand-computed: -(ln 0.8 + ln 0.7 + ln 0.4) / 3 = (0.2231436 + 0.3566749 + 0.9162907) / 3.
  const e = scoreEvaluation(
    [
      [0.8, 0.2],
      [0.3, 0.7],
      [0.6, 0.4],
    ],
    [0, 1, 1],
    ['cats', 'dogs'],
  );
  assert.ok(Math.abs(e.loss - 0.4987031) < 1e-6, `loss ${e.loss}`);
  assert.equal(e.accuracy, 2 / 3);
  // A certain mistake costs -ln 1e-7 = 16.1181, not Infinity; a certain hit -ln(1 - 1e-7) = 1e-7, not 0.
  const sure = scoreEvaluation(
    [
      [1, 0],
      [0, 1],
    ],
    [1, 1],
    ['cats', 'dogs'],
  );
  assert.ok(Math.abs(sure.loss - (16.1180957 + 1e-7) / 2) < 1e-6, `loss ${sure.loss}`);
  assert.equal(sure.accuracy, 1 / 2);
});
