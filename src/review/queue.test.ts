// The review loop on real photos (the shared cats and dogs, the shared MobileNet): a dog photo
// filed under validation/cats/ comes first among the cats' top losses; relabelled, it moves to
// dogs/; the feature cache then runs no image through the base, and training's labels see a dog.
// (Planted among the validation images: a training image this few would be learnt by heart.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tempDir } from '../testing/images.js';
import { BRIEF_RUN, cachedLabels, plantedPhotos } from '../testing/plantedPhotos.js';
import { train } from '../workflows/train.js';
import { ReviewStore } from './actions.js';
import { journalPath, readJournal } from './journal.js';
import { formatQueue, reviewQueue } from './queue.js';

test('review on real photos: the planted dog tops the cats top losses; relabelled, the cache runs 0 images and sees a dog', async () => {
  const root = tempDir();
  const { data, planted } = plantedPhotos(path.join(root, 'data'), { train: 20, validation: 10 });
  const cacheDir = path.join(root, 'cache');
  const options = { ...BRIEF_RUN, data, cacheDir };
  const first = await train({ ...options, out: path.join(root, 'run') }, { log: () => {} });
  assert.equal(first.timings.extractImages, 61);

  const queue = await reviewQueue(path.join(root, 'run'), data, { perClass: 3, checkData: true });
  const cats = queue.items.filter((i) => i.label === 'cats' && i.reasons.some((r) => r.kind === 'top-loss'));
  assert.equal(cats[0]?.file, planted, formatQueue(queue));
  assert.equal(cats[0].predicted, 'dogs');
  assert.equal(queue.scored, 61, 'every image of every split scored once');
  assert.match(formatQueue(queue), /validation\/cats\/planted\.jpg {2}\[cats -> dogs/);

  const store = await ReviewStore.open(data);
  await store.relabel(planted, 'dogs');
  assert.deepEqual(
    readJournal(journalPath(data)).map((e) => e.phase),
    ['intent', 'done'],
  );
  const again = await reviewQueue(path.join(root, 'run'), data, { perClass: 3, checkData: false });
  assert.equal(again.scored, 0, 'the scores follow the moved file: the model does not run again');
  assert.equal(
    again.items.find((i) => i.file === 'validation/dogs/planted.jpg')?.reasons.some((r) => r.kind === 'top-loss') ?? false,
    false,
  );

  const second = await train({ ...options, out: path.join(root, 'run2') }, { log: () => {} });
  assert.equal(second.timings.extractImages, 0, 'a moved file keeps its features: no image through the base');
  const labels = await cachedLabels(cacheDir, 'validation');
  assert.equal(labels.get('validation/dogs/planted.jpg'), 1, "training's labels see a dog");
  assert.equal(labels.has(planted), false);
});
