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
