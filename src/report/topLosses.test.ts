import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fewerLossesNote, LOSS_SHOWN_BELOW, topLossesPerClass } from './topLosses.js';

// A new user saw "Top losses" list right answers given P(true) 1.000 whenever a class had
// fewer mistakes than the list's length.

const cat = (file: string, pCat: number) => ({ file, label: 0, scores: [pCat, 1 - pCat] });
const dog = (file: string, pDog: number) => ({ file, label: 1, scores: [1 - pDog, pDog] });

test('top losses: the highest losses first, and never a right answer with P(true) near 1, even when the class has fewer than k', () => {
  const files = [
    cat('right-sure', 0.9999),
    cat('wrong-a-little', 0.45),
    cat('right-unsure', 0.7),
    cat('wrong-sure', 1e-9),
    cat('wrong-surer', 1e-12),
    cat('right-at-threshold', LOSS_SHOWN_BELOW),
    dog('right-1', 1),
    dog('right-2', 0.999),
  ];
  const [cats, dogs] = topLossesPerClass(files, ['cats', 'dogs'], 6);
  // P(true) 1e-12 and 1e-9 both clip to Keras's loss 16.118, but the surer mistake still ranks first.
  assert.deepEqual(
    cats.items.map((i) => i.file),
    ['wrong-surer', 'wrong-sure', 'wrong-a-little', 'right-unsure'],
  );
  for (let i = 1; i < cats.items.length; i++) assert.ok(cats.items[i - 1].loss >= cats.items[i].loss, 'highest loss first');
  assert.ok(Math.abs(cats.items[2].loss + Math.log(0.45)) < 1e-12);
  assert.equal(cats.items[2].predicted, 1);
  assert.deepEqual([cats.losses, cats.images], [4, 6]);
  assert.equal(
    fewerLossesNote(cats, 'cats', 6),
    'Only 4 of the 6 cats images are misclassified or have P(true) below 0.80; the other 2 are classified right with P(true) >= 0.80.',
  );
  assert.deepEqual(dogs.items, []);
  assert.equal(fewerLossesNote(dogs, 'dogs', 6), 'None: all 2 dogs images are classified right with P(true) >= 0.80.');
  // A full list needs no note; k limits it.
  const [two] = topLossesPerClass(files, ['cats', 'dogs'], 2);
  assert.deepEqual(
    two.items.map((i) => i.file),
    ['wrong-surer', 'wrong-sure'],
  );
  assert.equal(fewerLossesNote(two, 'cats', 2), '');
  assert.equal(
    fewerLossesNote({ items: [], losses: 1, images: 3 }, 'cats', 4).startsWith('Only 1 of the 3 cats images is misclassified or has'),
    true,
  );
});

test('top losses with several classes: a right answer at P(true) 0.5 is unsure, and counts', () => {
  const files = [
    { file: 'a', label: 2, scores: [0.25, 0.25, 0.5] },
    { file: 'b', label: 2, scores: [0.05, 0.05, 0.9] },
    { file: 'c', label: 2, scores: [0.6, 0.1, 0.3] },
  ];
  const groups = topLossesPerClass(files, ['x', 'y', 'z'], 4);
  assert.deepEqual(
    groups[2].items.map((i) => [i.file, i.predicted]),
    [
      ['c', 0],
      ['a', 2],
    ],
  );
  assert.deepEqual(
    groups.map((g) => g.images),
    [0, 0, 3],
  );
  assert.equal(fewerLossesNote(groups[0], 'x', 4), 'No x images were evaluated.');
});
