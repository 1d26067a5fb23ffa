import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { imageDatasetFromDirectory, type Batch, type ImageDataset } from './imageDataset.js';
import { resolveDataDir } from './splits.js';
import { isUserError } from '../errors.js';
import { makeClassFolders, tempDir } from '../testing/images.js';

const root = tempDir();
const flat = path.join(root, 'flat');
await makeClassFolders(flat, { dogs: 7, cats: 5, birds: 3 }, 6);

async function collect(ds: ImageDataset): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of ds.batches()) out.push(b);
  return out;
}

/** The (class, index) each solid-colour fixture image encodes, read back from the batch pixels. */
function idsOf(b: Batch): string[] {
  const per = b.shape[1] * b.shape[2] * 3;
  return Array.from({ length: b.shape[0] }, (_, i) => `${b.images[i * per] / 60}:${b.images[i * per + 1]}`);
}

test('classes are sorted sub-folders; int labels; batches of batchSize then the rest; pixels resized', async () => {
  const ds = await imageDatasetFromDirectory(flat, { imageSize: [4, 3], batchSize: 4, shuffle: false });
  assert.deepEqual(ds.classNames, ['birds', 'cats', 'dogs']);
  assert.equal(ds.size, 15);
  assert.equal(ds.numBatches, 4);
  const batches = await collect(ds);
  assert.deepEqual(
    batches.map((b) => b.shape),
    [
      [4, 4, 3, 3],
      [4, 4, 3, 3],
      [4, 4, 3, 3],
      [3, 4, 3, 3],
    ],
  );
  assert.deepEqual(
    batches.map((b) => b.labelShape),
    [[4], [4], [4], [3]],
  );
  const labels = batches.flatMap((b) => Array.from(b.labels));
  assert.deepEqual(labels, [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]);
  // Unshuffled order: class by class, files sorted; each file's pixels are its own colour.
  const files = batches.flatMap((b) => b.files.map((f) => path.relative(flat, f)));
  assert.equal(files[0], path.join('birds', '000.png'));
  assert.equal(files[3], path.join('cats', '000.png'));
  // Fixture colours: red = 60 x (index in { dogs, cats, birds }), green = image number.
  assert.deepEqual(idsOf(batches[0]), ['2:0', '2:1', '2:2', '1:0']);
  assert.deepEqual(Array.from(batches[0].images.subarray(0, 3)), [2 * 60, 0, 7]);
});

test('labelMode binary and categorical shapes and values; binary needs exactly 2 classes', async () => {
  const cat = await imageDatasetFromDirectory(flat, { imageSize: [2, 2], batchSize: 15, shuffle: false, labelMode: 'categorical' });
  const [b] = await collect(cat);
  assert.deepEqual(b.labelShape, [15, 3]);
  assert.deepEqual(Array.from(b.labels.subarray(0, 3)), [1, 0, 0]);
  assert.deepEqual(Array.from(b.labels.subarray(14 * 3)), [0, 0, 1]);
  await assert.rejects(
    imageDatasetFromDirectory(flat, { labelMode: 'binary' }),
    (e: unknown) => isUserError(e) && /exactly 2 classes/.test((e as Error).message),
  );
  const bin = await imageDatasetFromDirectory(flat, {
    imageSize: [2, 2],
    batchSize: 32,
    shuffle: false,
    labelMode: 'binary',
    classNames: ['dogs', 'cats'],
  });
  assert.deepEqual(bin.classNames, ['dogs', 'cats']);
  const [bb] = await collect(bin);
  assert.deepEqual(bb.labelShape, [12, 1]);
  assert.deepEqual(Array.from(bb.labels), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  await assert.rejects(imageDatasetFromDirectory(flat, { classNames: ['cats', 'cows'] }), /do not match the class folders/);
});

test('same seed gives the same batches; each epoch reshuffles; no seed differs', async () => {
  const opts = { imageSize: [2, 2] as [number, number], batchSize: 4, seed: 42 };
  const a = await imageDatasetFromDirectory(flat, opts);
  const b = await imageDatasetFromDirectory(flat, opts);
  const a1 = (await collect(a)).flatMap((x) => x.files);
  const b1 = (await collect(b)).flatMap((x) => x.files);
  assert.deepEqual(a1, b1);
  const a2 = (await collect(a)).flatMap((x) => x.files);
  assert.notDeepEqual(a1, a2, 'second epoch should be in another order');
  assert.deepEqual([...a2].sort(), [...a1].sort());
  assert.deepEqual(
    a2,
    (await collect(b)).flatMap((x) => x.files),
  );
  const c = (await collect(await imageDatasetFromDirectory(flat, { ...opts, seed: 43 }))).flatMap((x) => x.files);
  assert.notDeepEqual(a1, c);
  // batches(epoch) gives that epoch's order, however many epochs the dataset gave before (a resumed run's
  // first epoch), and counts on from it.
  const files = async (it: AsyncIterable<Batch>) => {
    const out: string[] = [];
    for await (const x of it) out.push(...x.files);
    return out;
  };
  const fresh = await imageDatasetFromDirectory(flat, opts);
  assert.deepEqual(await files(fresh.batches(1)), a2);
  assert.deepEqual(await files(fresh.batches(0)), a1);
  assert.deepEqual(await files(fresh.batches()), a2);
  // Pixels and labels travel with their files.
  const batch = (await collect(await imageDatasetFromDirectory(flat, opts)))[0];
  batch.files.forEach((f, i) => {
    const name = path.basename(path.dirname(f));
    assert.equal(batch.labels[i], ['birds', 'cats', 'dogs'].indexOf(name));
    assert.equal(batch.images[i * 12], ['dogs', 'cats', 'birds'].indexOf(name) * 60);
    assert.equal(batch.images[i * 12 + 1], Number(path.basename(f, '.png')));
  });
});

test('validationSplit + subset: disjoint subsets covering every file, Keras sizes, seed required', async () => {
  const [train, val] = await imageDatasetFromDirectory(flat, { validationSplit: 0.2, subset: 'both', seed: 7, imageSize: [2, 2] });
  assert.equal(val.size, 3); // int(0.2 * 15)
  assert.equal(train.size, 12);
  assert.deepEqual([...train.files, ...val.files].sort(), (await imageDatasetFromDirectory(flat, { shuffle: false })).files.slice().sort());
  const valOnly = await imageDatasetFromDirectory(flat, { validationSplit: 0.2, subset: 'validation', seed: 7 });
  assert.deepEqual(valOnly.files, val.files);
  const trainOnly = await imageDatasetFromDirectory(flat, { validationSplit: 0.2, subset: 'training', seed: 7 });
  assert.deepEqual(trainOnly.files, train.files);
  await assert.rejects(imageDatasetFromDirectory(flat, { validationSplit: 0.2, subset: 'training' }), /needs a seed/);
  await assert.rejects(imageDatasetFromDirectory(flat, { validationSplit: 0.2 }), /needs subset/);
  await assert.rejects(imageDatasetFromDirectory(flat, { validationSplit: 1.5, subset: 'training', seed: 1 }), /between 0 and 1/);
});

test('a corrupt file stops the epoch with a UserError naming it, or is skipped with a warning and counted', async () => {
  const d = path.join(root, 'bad');
  await makeClassFolders(d, { a: 3, b: 3 }, 4);
  fs.writeFileSync(path.join(d, 'a', '001.png'), 'not a png');
  fs.writeFileSync(path.join(d, 'b', 'zero.jpg'), '');
  const strict = await imageDatasetFromDirectory(d, { imageSize: [2, 2], batchSize: 2, shuffle: false });
  await assert.rejects(collect(strict), (e: unknown) => isUserError(e) && (e as Error).message.includes(path.join(d, 'a', '001.png')));
  const warned: string[] = [];
  const lenient = await imageDatasetFromDirectory(d, {
    imageSize: [2, 2],
    batchSize: 2,
    shuffle: false,
    skipBadImages: true,
    onBadImage: (f) => warned.push(f),
  });
  const batches = await collect(lenient);
  assert.deepEqual(
    batches.map((b) => b.shape[0]),
    [2, 2, 1],
  );
  assert.deepEqual(lenient.skipped, [path.join(d, 'a', '001.png'), path.join(d, 'b', 'zero.jpg')]);
  assert.deepEqual(warned, lenient.skipped);
  await collect(lenient); // a second epoch warns no more
  assert.equal(warned.length, 2);
});

test('streaming keeps a bounded number of decodes in flight', async () => {
  const ds = await imageDatasetFromDirectory(flat, { imageSize: [2, 2], batchSize: 2, shuffle: false, prefetch: 1 });
  // With prefetch 1 and batch 2, at most (1 + 1) x 2 images are decoded ahead of the consumer,
  // however many files there are; every image still comes exactly once.
  const files = (await collect(ds)).flatMap((b) => b.files);
  assert.equal(new Set(files).size, 15);
  assert.equal(ds.maxInFlight, 4);
  const wide = await imageDatasetFromDirectory(flat, { imageSize: [2, 2], batchSize: 2, shuffle: false, prefetch: 3 });
  await collect(wide);
  assert.equal(wide.maxInFlight, 8);
});

test('bad folders: missing, no class folders, empty class, book layout passed whole', async () => {
  await assert.rejects(
    imageDatasetFromDirectory(path.join(root, 'nope')),
    (e: unknown) => isUserError(e) && /does not exist/.test((e as Error).message),
  );
  const noClasses = path.join(root, 'noclasses');
  fs.mkdirSync(noClasses);
  fs.writeFileSync(path.join(noClasses, 'x.jpg'), 'x');
  await assert.rejects(imageDatasetFromDirectory(noClasses), /no class folders/);
  const emptyClass = path.join(root, 'emptyclass');
  await makeClassFolders(emptyClass, { a: 1 }, 4);
  fs.mkdirSync(path.join(emptyClass, 'b'));
  await assert.rejects(
    imageDatasetFromDirectory(emptyClass),
    (e: unknown) => isUserError(e) && (e as Error).message.includes(path.join(emptyClass, 'b')),
  );
  const book = path.join(root, 'book');
  await makeClassFolders(path.join(book, 'train'), { cats: 2, dogs: 2 }, 4);
  await assert.rejects(imageDatasetFromDirectory(book), /pass one split folder/);
});

test('resolveDataDir: book layout, class folders directly, and class mismatches between splits', async () => {
  const book = path.join(root, 'book2');
  await makeClassFolders(path.join(book, 'train'), { cats: 2, dogs: 2 }, 4);
  await makeClassFolders(path.join(book, 'validation'), { cats: 1, dogs: 1 }, 4);
  await makeClassFolders(path.join(book, 'test'), { cats: 1, dogs: 1 }, 4);
  const r = resolveDataDir(book);
  assert.equal(r.layout, 'splits');
  assert.deepEqual(r.classNames, ['cats', 'dogs']);
  assert.equal(r.splits.validation, path.join(book, 'validation'));
  const f = resolveDataDir(flat);
  assert.equal(f.layout, 'classes');
  assert.equal(f.splits.train, flat);
  assert.equal(f.splits.validation, undefined);

  const missing = path.join(root, 'missing');
  await makeClassFolders(path.join(missing, 'train'), { cats: 2, dogs: 2 }, 4);
  await makeClassFolders(path.join(missing, 'validation'), { cats: 1 }, 4);
  assert.throws(
    () => resolveDataDir(missing),
    (e: unknown) => isUserError(e) && /'dogs'.*missing from .*validation/.test((e as Error).message),
  );
  const extra = path.join(root, 'extra');
  await makeClassFolders(path.join(extra, 'train'), { cats: 2 }, 4);
  await makeClassFolders(path.join(extra, 'test'), { cats: 1, dogs: 1 }, 4);
  assert.throws(() => resolveDataDir(extra), /'dogs' that .*train lacks/);
  const noTrain = path.join(root, 'notrain');
  await makeClassFolders(path.join(noTrain, 'validation'), { cats: 1 }, 4);
  assert.throws(() => resolveDataDir(noTrain), /no train\/ folder/);
  const emptyClass = path.join(root, 'emptyclass2');
  await makeClassFolders(path.join(emptyClass, 'train'), { cats: 1 }, 4);
  fs.mkdirSync(path.join(emptyClass, 'train', 'dogs'));
  assert.throws(() => resolveDataDir(emptyClass), /dogs has no images/);
});
