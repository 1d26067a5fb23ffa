import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fewerLabelLossesNote, topLossesPerLabel } from './multiLabelLosses.js';

const classes = ['cats', 'dogs'];
const file = (name: string, labels: string[], pCats: number, pDogs: number) => ({ file: name, label: -1, scores: [pCats, pDogs], labels });

test("top losses per label: each label's binary cross-entropy, wrong decisions and unsure right ones, highest first", () => {
  const files = [
    file('cat-missed', ['cats'], 0.1, 0.05),
    file('cat-missed-badly', ['cats'], 1e-9, 0.02),
    file('dog-called-cat', ['dogs'], 0.85, 0.95),
    file('cat-unsure', ['cats'], 0.65, 0.3),
    file('cat-sure', ['cats'], 0.99, 0.01),
    file('both', ['cats', 'dogs'], 0.97, 0.45),
  ];
  // cats at 0.6; dogs at 0.5 (so 'both' misses dogs, and the dog prob 0.3 of 'cat-unsure' is a right answer at P 0.7 < 0.8).
  const [cats, dogs] = topLossesPerLabel(files, classes, [0.6, 0.5], 3);
  assert.deepEqual(
    cats.items.map((i) => [i.file, i.present, i.given]),
    [
      ['cat-missed-badly', true, false],
      ['cat-missed', true, false],
      ['dog-called-cat', false, true],
    ],
  );
  // -log P(right answer), clipped as Keras clips: 1e-9 gives -log(1e-7).
  assert.ok(Math.abs(cats.items[0].loss + Math.log(1e-7)) < 1e-9);
  assert.ok(Math.abs(cats.items[1].loss + Math.log(0.1)) < 1e-9);
  assert.ok(Math.abs(cats.items[2].loss + Math.log(0.15)) < 1e-9);
  // cat-unsure is right about cats at P 0.65 < 0.8: a loss, fourth, beyond top 3.
  assert.deepEqual([cats.losses, cats.images], [4, 6]);
  assert.deepEqual(cats.items[0].labels, ['cats']);
  assert.deepEqual(cats.items[2].predicted, ['cats', 'dogs']);
  assert.deepEqual(
    dogs.items.map((i) => i.file),
    ['both', 'cat-unsure'],
  );
  assert.equal(dogs.losses, 2);
  assert.equal(
    fewerLabelLossesNote(dogs, 'dogs', 3),
    'Only 2 of the 6 images are wrong about it or right with P(right answer) below 0.80; the other 4 are right about dogs with P(right answer) >= 0.80.',
  );
  assert.equal(fewerLabelLossesNote(cats, 'cats', 3), '');
  const [none] = topLossesPerLabel([file('sure', ['cats'], 0.99, 0.01)], classes, [0.5, 0.5], 3);
  assert.deepEqual(none.items, []);
  assert.equal(fewerLabelLossesNote(none, 'cats', 3), 'None: all 1 images are right about cats with P(right answer) >= 0.80.');
  assert.equal(fewerLabelLossesNote(topLossesPerLabel([], classes, [0.5, 0.5], 3)[0], 'cats', 3), 'No images were evaluated.');
});

test('without recorded predictions, the labels given are those at or above their thresholds', () => {
  const [cats] = topLossesPerLabel([file('x', ['dogs'], 0.7, 0.2)], classes, [0.5, 0.5], 3);
  assert.deepEqual(cats.items[0].predicted, ['cats']);
  const [withPredicted] = topLossesPerLabel([{ ...file('x', ['dogs'], 0.7, 0.2), predicted: ['cats', 'dogs'] }], classes, [0.5, 0.5], 3);
  assert.deepEqual(withPredicted.items[0].predicted, ['cats', 'dogs']);
  // A wrong decision is listed even with P(right answer) >= 0.8: a low threshold gives dogs at P 0.18.
  const [, lowThreshold] = topLossesPerLabel([file('cat', ['cats'], 0.9, 0.18)], classes, [0.5, 0.15], 3);
  assert.deepEqual(
    lowThreshold.items.map((i) => [i.file, i.present, i.given]),
    [['cat', false, true]],
  );
});
