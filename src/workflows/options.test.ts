import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRAIN_DEFAULTS, validateTrainOptions, withTrainDefaults } from './options.js';
import { train } from './train.js';

test('train() from code: every default filled in, errors name the API option (not a CLI flag)', async () => {
  const o = withTrainDefaults({ data: 'd', base: 'vgg16', out: 'o' });
  assert.equal(o.mode, 'features');
  for (const [k, v] of Object.entries(TRAIN_DEFAULTS)) assert.equal(o[k as keyof typeof o], v, k);
  validateTrainOptions(o, 'api');

  await assert.rejects(
    train({ data: 'd', base: 'vgg16', out: 'o', epochs: 0 }),
    (e: Error) => e.name === 'UserError' && e.message.startsWith('epochs must be a whole number >= 1, got 0. Use e.g. epochs: 20'),
  );
  await assert.rejects(
    train({ data: 'd', base: 'vgg16', out: 'o', headUnits: 2.5 }),
    (e: Error) => /^headUnits must be a whole number/.test(e.message) && !/--/.test(e.message),
  );
  await assert.rejects(train({ data: 'd', base: 'vgg16', out: 'o', from: 'r' }), (e: Error) =>
    e.message.startsWith('from applies to mode finetune only (got mode features)'),
  );
  await assert.rejects(
    train({ data: 'd', base: 'vgg16', out: 'o', mode: 'augment', augmentation: { zoom: 2 } }),
    /augmentation\.zoom must be a number from 0 to 1, got 2/,
  );
  await assert.rejects(train({ data: '', base: 'vgg16', out: 'o' }), /^UserError: data is required/);
  // A misspelt option is refused, not dropped.
  await assert.rejects(
    train({ data: 'd', base: 'vgg16', out: 'o', epoch: 3 } as never),
    /^UserError: There is no training option 'epoch'\. Did you mean epochs\?/,
  );
  await assert.rejects(
    train({ data: 'd', base: 'vgg16', out: 'o', headActivation: 'tanh' as 'relu' }),
    /headActivation must be one of linear, relu, got 'tanh'/,
  );
  // The same checks from the command line name the flags.
  assert.throws(
    () => validateTrainOptions(withTrainDefaults({ data: 'd', base: 'b', out: 'o', earlyStoppingPatience: -1 }), 'cli'),
    /--early-stopping must be a whole number >= 0, got -1/,
  );
});
