// What the page says to people who never open a terminal: the form's field labels, not
// command-line flags; the base that works offline among the suggestions; top losses that
// are losses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isUserError } from '../errors.js';
import { tempDir } from '../testing/images.js';
import { makeTinyDataset } from '../testing/tinyRun.js';
import { validateTrainOptions, withTrainDefaults } from '../workflows/options.js';
import { createUiApp } from './app.js';
import type { EvaluationView } from './protocol.js';
import { TOKEN_COOKIE } from './security.js';
import { inFormWords, trainFormSpec, trainOptionsFromForm } from './trainForm.js';
import { DEFAULT_UPLOAD_LIMITS } from './uploads.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isUserError(e), String(e));
    return (e as Error).message;
  }
  assert.fail('expected a UserError');
}

test("the form's messages name its fields by their labels, never a --flag", () => {
  assert.equal(
    message(() => trainOptionsFromForm({ epochs: '0' })),
    `"Epochs" must be a whole number >= 1, got '0'. Enter e.g. 20.`,
  );
  assert.match(
    message(() => trainOptionsFromForm({ batchSize: 'many' })),
    /^"Batch size" must be a whole number >= 1, got 'many'/,
  );
  // train()'s own checks, as the server runs them before starting.
  const onnxOnly = message(() =>
    validateTrainOptions(withTrainDefaults({ data: 'd', out: 'o', base: 'vgg16', preprocess: 'torch' }), 'form'),
  );
  assert.match(onnxOnly, /^"Preprocess" applies to an ONNX base \("Base" model\.onnx\), got "Base" vgg16/);
  const modeOnly = message(() => validateTrainOptions(withTrainDefaults({ data: 'd', out: 'o', base: 'vgg16', unfreeze: 2 }), 'form'));
  assert.match(modeOnly, /^"Unfreeze" applies to "Mode" finetune only/);
  for (const m of [onnxOnly, modeOnly]) assert.doesNotMatch(m, /--[a-z]/, m);
  // What comes from below train() (the weights download) is put in the form's words on its way to the page.
  assert.equal(
    inFormWords('Could not download the weights; use --weights none for random weights, or --image-size 96 (--exif stays).'),
    'Could not download the weights; use "Weights" none for random weights, or "Image size" 96 (--exif stays).',
  );
});

test('the base suggestions include nsfwjs, the one base that needs no download', () => {
  const base = trainFormSpec().fields.find((f) => f.name === 'base');
  assert.ok(base?.list?.includes('nsfwjs'), JSON.stringify(base?.list));
  assert.ok(base?.list?.includes('mobilenet_v2'));
});

test('top losses list misclassified and unsure images only, and none when every image is right and sure', async () => {
  const root = tempDir();
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 2, validation: 2 });
  const runs = path.join(root, 'runs');
  const scored = (file: string, label: number, pTrue: number) => ({
    file: path.join(root, file),
    label,
    scores: label === 0 ? [pTrue, 1 - pTrue] : [1 - pTrue, pTrue],
  });
  const evaluation = (files: ReturnType<typeof scored>[]) => ({
    dir: path.join(root, 'test'),
    n: files.length,
    accuracy: 1,
    loss: 0.1,
    classes: ['cats', 'dogs'],
    confusion: [
      [2, 1],
      [0, 2],
    ],
    precision: [1, 1],
    recall: [1, 1],
    f1: [1, 1],
    support: [3, 2],
    files,
    seconds: 1,
    imagesPerSecond: 1,
  });
  const write = (id: string, files: ReturnType<typeof scored>[]) => {
    fs.mkdirSync(path.join(runs, id), { recursive: true });
    fs.writeFileSync(path.join(runs, id, 'evaluation.json'), JSON.stringify(evaluation(files)));
  };
  write('mixed', [
    scored('c0.png', 0, 1),
    scored('c1.png', 0, 0.6),
    scored('c2.png', 0, 0.2),
    scored('d0.png', 1, 0.999),
    scored('d1.png', 1, 1),
  ]);
  write('perfect', [scored('c0.png', 0, 1), scored('d0.png', 1, 0.999)]);
  const port = 4711;
  const { app, chooseData } = createUiApp({
    runs,
    token: 'secret-token',
    port: () => port,
    uploadLimits: DEFAULT_UPLOAD_LIMITS,
    pageDir: root,
  });
  await chooseData(data);
  const get = async (id: string) => {
    const r = await app.request(`http://127.0.0.1:${port}/api/runs/${id}/evaluation`, {
      headers: { host: `127.0.0.1:${port}`, cookie: `${TOKEN_COOKIE}=secret-token` },
    });
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as EvaluationView;
  };
  const mixed = await get('mixed');
  assert.deepEqual(
    mixed.topLosses.map((items) => items.map((i) => [path.basename(i.file), Number(i.probability.toFixed(3))])),
    [
      [
        ['c2.png', 0.2],
        ['c1.png', 0.6],
      ],
      [],
    ],
    'the wrong cat, then the unsure one; no image right with P(true) 1.000',
  );
  assert.equal(mixed.lossShownBelow, 0.8);
  // Fewer than 4 a class: the page is told how many of the class are losses at all.
  assert.deepEqual(mixed.topLossesNotes, [
    'Only 2 of the 3 cats images are misclassified or have P(true) below 0.80; the other 1 is classified right with P(true) >= 0.80.',
    'None: all 2 dogs images are classified right with P(true) >= 0.80.',
  ]);
  assert.deepEqual((await get('perfect')).topLosses, [[], []]);

  // The server's refusal of a form value names the field.
  const r = await app.request(`http://127.0.0.1:${port}/api/train`, {
    method: 'POST',
    headers: { host: `127.0.0.1:${port}`, cookie: `${TOKEN_COOKIE}=secret-token`, 'content-type': 'application/json' },
    body: JSON.stringify({ run: 'bad', options: { base: 'nsfwjs', epochs: '0' } }),
  });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error: string }).error, /^"Epochs" must be a whole number >= 1/);
});
