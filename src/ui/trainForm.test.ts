import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRAIN_DEFAULTS } from '../workflows/options.js';
import { trainFormSpec, trainOptionsFromForm } from './trainForm.js';

test("the page's form starts finetune on fastai's recipe while the command line keeps the book's, and the form's choice reaches train()", () => {
  const recipe = trainFormSpec().fields.find((f) => f.name === 'recipe');
  assert.ok(recipe, 'the form has a recipe field');
  assert.equal(recipe.input, 'select');
  assert.deepEqual(recipe.choices, ['book', 'fine-tune']);
  assert.equal(recipe.default, 'fine-tune', 'the select starts on the recipe');
  assert.deepEqual(recipe.modes, ['finetune']);
  assert.equal(TRAIN_DEFAULTS.recipe, 'book', "the schema's (and the command line's) default is the book's");
  // Every other field starts on the option's own default.
  const mode = trainFormSpec().fields.find((f) => f.name === 'mode');
  assert.equal(mode?.default, TRAIN_DEFAULTS.mode);
  assert.deepEqual(trainOptionsFromForm({ mode: 'finetune', recipe: 'fine-tune' }), { mode: 'finetune', recipe: 'fine-tune' });
  assert.throws(() => trainOptionsFromForm({ recipe: 'fastai' }), /"Recipe" must be one of book, fine-tune, got 'fastai'/);
});

test('the form has a box for labels from a table, multi-label included; the separator keeps its spaces, other fields are trimmed', () => {
  const spec = trainFormSpec();
  const box = spec.groups.find((g) => g.id === 'labels');
  assert.ok(box, 'a labels group');
  assert.match(box.title, /^Labels from a table/);
  const names = spec.fields.filter((f) => f.group === 'labels').map((f) => f.name);
  assert.deepEqual(names, ['labels', 'labelDelim', 'fileColumn', 'labelColumn', 'validColumn', 'multiLabel', 'threshold']);
  assert.equal(spec.fields.find((f) => f.name === 'multiLabel')?.input, 'checkbox');
  const delim = spec.fields.find((f) => f.name === 'labelDelim');
  assert.equal(delim?.verbatim, true);
  assert.match(delim?.placeholder ?? '', /type a space/);
  // a space is fastai's separator: not a blank field
  assert.deepEqual(trainOptionsFromForm({ labels: ' labels.csv ', labelDelim: ' ', multiLabel: true, threshold: '0.4' }), {
    labels: 'labels.csv',
    labelDelim: ' ',
    multiLabel: true,
    threshold: 0.4,
  });
  assert.deepEqual(trainOptionsFromForm({ labelDelim: '', epochs: '  ' }), {});
  assert.throws(() => trainOptionsFromForm({ threshold: '1' }), /"Threshold" must be/);
});

test('the pooling field starts blank, so that train() pools a multi-label head and flattens a single-label one', () => {
  const pooling = trainFormSpec().fields.find((f) => f.name === 'pooling');
  assert.equal(pooling?.input, 'select');
  assert.equal(pooling?.default, undefined, 'no choice made for the user');
  assert.match(pooling?.placeholder ?? '', /avg for multi-label/);
  assert.deepEqual(trainOptionsFromForm({ pooling: '' }), {}, 'blank: not given');
  assert.deepEqual(trainOptionsFromForm({ pooling: 'flatten' }), { pooling: 'flatten' });
});
