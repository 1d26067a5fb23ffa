// Keras 3's tests of image_dataset_from_directory (keras/src/utils/image_dataset_utils_test.py),
// case by case with their counts, shapes and dtypes. Keras runs each case for its "tf"
// and "grain" formats; tlkit has one kind of dataset, which behaves as the "tf" one.
// Cases that cannot apply are listed in docs/keras-differences.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { imageDatasetFromDirectory, type Batch, type ImageDataset, type ImageDatasetOptions } from './imageDataset.js';
import { isUserError } from '../errors.js';
import { tempDir } from '../testing/images.js';

let seq = 0;
/** Random 24x24 images; rgb as .jpg, rgba and grayscale as .png (as Keras's fixture does). */
async function writeRandomImage(file: string, colorMode: 'rgb' | 'rgba' | 'grayscale'): Promise<void> {
  const channels = colorMode === 'rgba' ? 4 : colorMode === 'grayscale' ? 1 : 3;
  const data = Buffer.from(Array.from({ length: 24 * 24 * channels }, () => Math.floor(Math.random() * 256)));
  const img = sharp(data, { raw: { width: 24, height: 24, channels } });
  await (colorMode === 'rgb' ? img.jpeg() : img.png()).toFile(file);
}

/** Keras's _prepare_directory: class_0..class_{n-1}, optionally nested sub-folders, images spread round-robin. */
async function prepareDirectory(
  o: { numClasses?: number; nested?: boolean; colorMode?: 'rgb' | 'rgba' | 'grayscale'; count?: number } = {},
): Promise<string> {
  const { numClasses = 2, nested = false, colorMode = 'rgb', count = 16 } = o;
  const root = path.join(tempDir(), `keras-${seq++}`);
  const paths: string[] = [];
  for (let c = 0; c < numClasses; c++) {
    const cls = `class_${c}`;
    const sub = nested
      ? [cls, path.join(cls, 'subfolder_1'), path.join(cls, 'subfolder_2'), path.join(cls, 'subfolder_1', 'sub-subfolder')]
      : [cls];
    for (const p of sub) fs.mkdirSync(path.join(root, p), { recursive: true });
    paths.push(...sub);
  }
  for (let i = 0; i < count; i++) {
    await writeRandomImage(path.join(root, paths[i % paths.length], `image_${i}.${colorMode === 'rgb' ? 'jpg' : 'png'}`), colorMode);
  }
  return root;
}

async function first(ds: ImageDataset): Promise<Batch> {
  for await (const b of ds.batches()) return b;
  throw new Error('empty dataset');
}
async function all(ds: ImageDataset): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of ds.batches()) out.push(b);
  return out;
}
const count = (batches: Batch[]) => batches.reduce((n, b) => n + b.shape[0], 0);
/** Every pixel of an epoch, concatenated (np.concatenate of the batches). */
const pixels = (batches: Batch[]) => batches.flatMap((b) => Array.from(b.images));
const size18 = { imageSize: [18, 18] as [number, number] };

test('keras test_image_dataset_from_directory_no_labels: labels null reads the whole tree, plain float32 images, no class names', async () => {
  const dir = await prepareDirectory({ count: 7, numClasses: 2 });
  for (let i = 0; i < 3; i++) await writeRandomImage(path.join(dir, `image_${i}.jpg`), 'rgb');
  const ds = await imageDatasetFromDirectory(dir, { ...size18, batchSize: 5, labels: null });
  assert.equal(ds.classNames, null);
  const b = await first(ds);
  assert.deepEqual(b.shape, [5, 18, 18, 3]);
  assert.ok(b.images instanceof Float32Array);
  assert.equal(b.labels.length, 0, 'images only');
  const batches = await all(ds);
  assert.equal(batches.length, 2);
  assert.equal(count(batches), 10);
});

test('keras test_image_dataset_from_directory_binary: int labels are int32 [8]; binary float32 [8, 1]; categorical float32 [8, 2]', async () => {
  const dir = await prepareDirectory({ numClasses: 2 });
  const int = await first(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: 'int' }));
  assert.deepEqual(int.shape, [8, 18, 18, 3]);
  assert.ok(int.images instanceof Float32Array);
  assert.deepEqual(int.labelShape, [8]);
  assert.ok(int.labels instanceof Int32Array, 'Keras yields int32 labels in int mode');
  const bin = await first(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: 'binary' }));
  assert.deepEqual(bin.shape, [8, 18, 18, 3]);
  assert.deepEqual(bin.labelShape, [8, 1]);
  assert.ok(bin.labels instanceof Float32Array);
  const cat = await first(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: 'categorical' }));
  assert.deepEqual(cat.labelShape, [8, 2]);
  assert.ok(cat.labels instanceof Float32Array);
});

test('keras test_sample_count: labelMode null over 4 classes counts all 15 images', async () => {
  const dir = await prepareDirectory({ numClasses: 4, count: 15 });
  assert.equal(count(await all(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: null }))), 15);
});

test('keras test_image_dataset_from_directory_multiclass: 4 classes, shapes and label dtypes', async () => {
  const dir = await prepareDirectory({ numClasses: 4, count: 15 });
  const none = await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: null });
  assert.deepEqual((await first(none)).shape, [8, 18, 18, 3]);
  assert.equal(count(await all(none)), 15);
  const int = await first(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: 'int' }));
  assert.deepEqual([int.shape, int.labelShape], [[8, 18, 18, 3], [8]]);
  assert.ok(int.labels instanceof Int32Array);
  const cat = await first(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: 'categorical' }));
  assert.deepEqual(
    [cat.shape, cat.labelShape],
    [
      [8, 18, 18, 3],
      [8, 4],
    ],
  );
  assert.ok(cat.labels instanceof Float32Array);
});

test('keras test_image_dataset_from_directory_color_modes: rgba gives 4 channels, grayscale 1', async () => {
  const rgba = await prepareDirectory({ numClasses: 4, colorMode: 'rgba' });
  const a = await first(await imageDatasetFromDirectory(rgba, { ...size18, batchSize: 8, colorMode: 'rgba' }));
  assert.deepEqual(a.shape, [8, 18, 18, 4]);
  assert.equal(a.images.length, 8 * 18 * 18 * 4);
  const gray = await prepareDirectory({ numClasses: 4, colorMode: 'grayscale' });
  const g = await first(await imageDatasetFromDirectory(gray, { ...size18, batchSize: 8, colorMode: 'grayscale' }));
  assert.deepEqual(g.shape, [8, 18, 18, 1]);
  assert.equal(g.images.length, 8 * 18 * 18);
});

test('keras test_image_dataset_from_directory_validation_split: 10 images, split 0.2: 8 training, 2 validation, also with subset both', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 10 });
  const o = { ...size18, batchSize: 10, validationSplit: 0.2, seed: 1337 };
  assert.deepEqual((await first(await imageDatasetFromDirectory(dir, { ...o, subset: 'training' }))).shape, [8, 18, 18, 3]);
  assert.deepEqual((await first(await imageDatasetFromDirectory(dir, { ...o, subset: 'validation' }))).shape, [2, 18, 18, 3]);
  const [train, val] = await imageDatasetFromDirectory(dir, { ...o, subset: 'both' });
  assert.deepEqual((await first(train)).shape, [8, 18, 18, 3]);
  assert.deepEqual((await first(val)).shape, [2, 18, 18, 3]);
});

test('keras test_image_dataset_from_directory_manual_labels: a labels array, one per file in path order', async () => {
  const one = await prepareDirectory({ numClasses: 1, count: 4 });
  await assert.rejects(
    imageDatasetFromDirectory(one, { ...size18, batchSize: 8, labels: [0, 1, 0], shuffle: false }),
    (e: unknown) => isUserError(e) && /labels has 3 entries but .* holds 4 image files/.test((e as Error).message),
  );
  const ds = await imageDatasetFromDirectory(one, { ...size18, batchSize: 8, labels: [0, 1, 0, 1], shuffle: false });
  assert.deepEqual(ds.classNames, ['0', '1']);
  const b = await first(ds);
  assert.deepEqual(b.shape, [4, 18, 18, 3]);
  assert.deepEqual(Array.from(b.labels), [0, 1, 0, 1]);
  const three = await prepareDirectory({ numClasses: 3, count: 6 });
  const ds3 = await imageDatasetFromDirectory(three, { ...size18, batchSize: 8, labels: [0, 1, 0, 1, 1, 1], shuffle: false });
  assert.deepEqual(ds3.classNames, ['0', '1']);
  const b3 = await first(ds3);
  assert.deepEqual(b3.shape, [6, 18, 18, 3]);
  assert.deepEqual(Array.from(b3.labels), [0, 1, 0, 1, 1, 1]);
});

test('keras test_image_dataset_from_directory_follow_links: 25 images in nested folders are all found', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 25, nested: true });
  assert.equal(count(await all(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 8, labelMode: null, followLinks: true }))), 25);
});

test('keras test_image_dataset_from_directory_no_images: class folders without images are an error', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 0 });
  await assert.rejects(imageDatasetFromDirectory(dir), (e: unknown) => isUserError(e) && /no images/.test((e as Error).message));
  await assert.rejects(
    imageDatasetFromDirectory(dir, { labels: null }),
    (e: unknown) => isUserError(e) && /No images found/.test((e as Error).message),
  );
});

test('keras test_image_dataset_from_directory_crop_to_aspect_ratio and _pad_to_aspect_ratio: [5, 18, 18, 3]', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 5 });
  assert.deepEqual(
    (await first(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 5, cropToAspectRatio: true }))).shape,
    [5, 18, 18, 3],
  );
  assert.deepEqual(
    (await first(await imageDatasetFromDirectory(dir, { ...size18, batchSize: 5, padToAspectRatio: true }))).shape,
    [5, 18, 18, 3],
  );
});

test("keras test_image_dataset_from_directory_errors: each bad argument is named, in Keras's order", async () => {
  const dir = await prepareDirectory({ numClasses: 3, count: 5 });
  const cases: Array<[ImageDatasetOptions, RegExp]> = [
    [{ labels: 'other' as unknown as 'inferred' }, /^labels must be 'inferred'/],
    [{ labelMode: 'other' as 'int' }, /^labelMode must be 'int', 'binary', 'categorical', 'multi_hot' or null/],
    [{ colorMode: 'other' as 'rgb' }, /^colorMode must be one of/],
    [{ labels: [0, 0, 1, 1, 1], classNames: ['class_0', 'class_1', 'class_2'] }, /^classNames can only be given with labels 'inferred'/],
    [{ labels: [0, 0, 1, 1] }, /^labels has 4 entries but .* holds 5 image files/],
    [{ classNames: ['class_0', 'wrong_class'] }, /^classNames \["class_0","wrong_class"\] do not match the class folders/],
    [{ labelMode: 'binary' }, /^labelMode 'binary' needs exactly 2 classes/],
    [{ validationSplit: 2 }, /^validationSplit must be between 0 and 1/],
    [{ validationSplit: 0.2, subset: 'other' as 'training' }, /^subset must be 'training', 'validation' or 'both'/],
    [{ validationSplit: 0, subset: 'training' }, /^subset 'training' needs validationSplit/],
    [{ validationSplit: 0.2, subset: 'training' }, /^validationSplit with shuffling needs a seed/],
  ];
  for (const [opts, message] of cases) {
    await assert.rejects(imageDatasetFromDirectory(dir, opts), (e: unknown) => {
      assert.ok(isUserError(e), `${JSON.stringify(opts)}: ${e}`);
      assert.match((e as Error).message, message, JSON.stringify(opts));
      return true;
    });
  }
});

test('keras test_image_dataset_from_directory_not_batched: batchSize null yields single (18, 18, 3) images', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 2 });
  const ds = await imageDatasetFromDirectory(dir, { ...size18, batchSize: null, labelMode: null, shuffle: false });
  assert.equal(ds.unbatched, true);
  const samples = [];
  for await (const e of ds.elements()) samples.push(e);
  assert.equal(samples.length, 2);
  assert.deepEqual(samples[0].shape, [18, 18, 3]);
  assert.equal(samples[0].image.length, 18 * 18 * 3);
});

test('keras test_image_dataset_from_directory_shuffle: unshuffled differs from shuffled, epochs differ, the seed repeats', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 25, nested: true });
  const o: Omit<ImageDatasetOptions, 'subset'> = { ...size18, batchSize: 8, labelMode: null, followLinks: true };
  const unshuffled = pixels(await all(await imageDatasetFromDirectory(dir, { ...o, shuffle: false })));
  const ds = await imageDatasetFromDirectory(dir, { ...o, shuffle: true, seed: 1337 });
  const epoch1 = pixels(await all(ds));
  const epoch2 = pixels(await all(ds));
  assert.notDeepEqual(unshuffled, epoch1);
  assert.notDeepEqual(epoch1, epoch2, 'tf.data reshuffles each iteration');
  const again = pixels(await all(await imageDatasetFromDirectory(dir, { ...o, shuffle: true, seed: 1337 })));
  assert.deepEqual(again, epoch1);
});

test('keras test_image_dataset_from_directory_shuffle_with_split: training reshuffles each epoch, validation never does', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 25, nested: true });
  const o: Omit<ImageDatasetOptions, 'subset'> = {
    ...size18,
    batchSize: 8,
    labelMode: null,
    followLinks: true,
    validationSplit: 0.2,
    seed: 1337,
  };
  const [plainTrain] = await imageDatasetFromDirectory(dir, { ...o, shuffle: false, subset: 'both' });
  const unshuffledTrain = pixels(await all(plainTrain));
  const [train, val] = await imageDatasetFromDirectory(dir, { ...o, shuffle: true, subset: 'both' });
  const train1 = pixels(await all(train));
  const val1 = pixels(await all(val));
  const train2 = pixels(await all(train));
  const val2 = pixels(await all(val));
  assert.notDeepEqual(unshuffledTrain, train1);
  assert.notDeepEqual(train1, train2);
  assert.deepEqual(val1, val2, 'the validation set keeps its order across epochs');
  const [trainAlt, valAlt] = await imageDatasetFromDirectory(dir, { ...o, shuffle: true, subset: 'both' });
  assert.deepEqual(pixels(await all(trainAlt)), train1);
  assert.deepEqual(pixels(await all(valAlt)), val1);
});

test('subset both: validation labels gathered in one pass line up with the files of another (files and labels in the same fixed order)', async () => {
  const dir = await prepareDirectory({ numClasses: 2, count: 20 });
  const [, val] = await imageDatasetFromDirectory(dir, { ...size18, batchSize: 3, validationSplit: 0.3, subset: 'both', seed: 7 });
  const pass = async () =>
    (await all(val)).flatMap((b) => b.files.map((f, i) => `${path.basename(path.dirname(f))}/${path.basename(f)}:${b.labels[i]}`));
  const a = await pass();
  assert.deepEqual(await pass(), a);
  assert.deepEqual(
    a.map((s) => s.split(':')[0]),
    val.files.map((f) => `${path.basename(path.dirname(f))}/${path.basename(f)}`),
    'the batches follow val.files',
  );
});
