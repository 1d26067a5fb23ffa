import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionsTable } from './optionsDoc.js';
import {
  TRAIN_DEFAULTS,
  TRAIN_MODES,
  TRAIN_OPTIONS,
  trainOptionsFromText,
  validateTrainOptions,
  withTrainDefaults,
  type TrainOption,
  type TrainOptionsInput,
} from './options.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('docs/options.md is the table the declaration makes (run `npm run docs:options` after changing an option)', () => {
  const committed = fs.readFileSync(path.join(repo, 'docs/options.md'), 'utf8');
  assert.equal(committed, optionsTable(), 'docs/options.md is out of date: run `npm run docs:options`');
});

test('TRAIN_DEFAULTS are the declared defaults; text parses by the declaration (--quiet sets verbose 0)', () => {
  for (const o of TRAIN_OPTIONS)
    if (o.presence === 'default' && o.path.length === 1)
      assert.equal(TRAIN_DEFAULTS[o.api as keyof typeof TRAIN_DEFAULTS], o.default, o.api);
  assert.deepEqual(Object.keys(TRAIN_DEFAULTS).length, TRAIN_OPTIONS.filter((o) => o.presence === 'default').length);
  assert.deepEqual(trainOptionsFromText({ epochs: '3', verbose: true, augmentZoom: '0', augment: true, mode: 'finetune' }, 'cli'), {
    epochs: 3,
    verbose: 0,
    augmentation: { zoom: 0 },
    augment: true,
    mode: 'finetune',
  });
  assert.throws(() => trainOptionsFromText({ epoch: '3' }, 'api'), /There is no training option 'epoch'/);
  assert.throws(
    () => trainOptionsFromText({ learningRate: '0' }, 'cli'),
    /^UserError: --learning-rate must be a number above 0 and at most 10, got '0'\. Pass e\.g\. --learning-rate 1e-3\.$/,
  );
  assert.throws(
    () => trainOptionsFromText({ learningRate: '0' }, 'api'),
    /^UserError: learningRate must be a number above 0 and at most 10, got '0'\. Use e\.g\. learningRate: 1e-3\.$/,
  );
});

/** A valid value other than the default. */
function sample(o: TrainOption): unknown {
  const { kind } = o;
  if (kind.name === 'int' || kind.name === 'number') return Number(o.example ?? o.defaultText ?? (kind.min as number) + 1);
  if (kind.name === 'choice') return kind.choices?.find((c) => c !== o.default);
  if (kind.name === 'switch') return !o.default;
  return o.api === 'preprocess' ? 'torch' : 'x';
}

test('every option that only some modes or bases read is refused elsewhere, named in both namings', () => {
  let checked = 0;
  for (const o of TRAIN_OPTIONS) {
    const value = sample(o);
    const contexts: Array<Record<string, unknown>> = [];
    const outside = TRAIN_MODES.find((m) => !(o.modes ?? TRAIN_MODES).includes(m));
    if (outside) contexts.push({ mode: outside });
    if (o.needsAugment) contexts.push({ mode: 'finetune', augment: false });
    if (o.base === 'onnx') contexts.push({ base: 'vgg16' });
    if (o.base === 'family') contexts.push({ base: 'model.onnx' });
    for (const context of contexts) {
      const input = { data: 'd', base: 'vgg16', out: 'o', ...context } as Record<string, unknown>;
      if (o.path.length === 1) input[o.path[0]] = value;
      else input[o.path[0]] = { [o.path[1]]: value };
      for (const naming of ['api', 'cli'] as const) {
        const name = naming === 'api' ? o.api : o.flag;
        assert.throws(
          () => validateTrainOptions(withTrainDefaults(input as TrainOptionsInput), naming),
          (e: Error) => e.message.startsWith(`${name} applies to`) || e.message.startsWith(`${name} cannot be combined`),
          `${name} in ${JSON.stringify(context)}`,
        );
      }
      checked++;
    }
  }
  assert.ok(checked >= 8, `${checked} cases`);
  const ok = withTrainDefaults({
    data: 'd',
    base: 'vgg16',
    out: 'o',
    mode: 'finetune',
    augment: true,
    unfreeze: 4,
    from: 'r',
    augmentation: { flip: 'none' },
  });
  validateTrainOptions(ok, 'api');
  validateTrainOptions(
    withTrainDefaults({ data: 'd', base: 'm.onnx', out: 'o', mode: 'augment', preprocess: 'torch', upTo: 'x', augmentation: { zoom: 0 } }),
    'api',
  );
  assert.throws(
    () => validateTrainOptions(withTrainDefaults({ data: 'd', base: 'm.onnx', out: 'o', precision: 'int8' }), 'api'),
    /^UserError: precision int8 quantizes tlkit's own bases/,
  );
});
