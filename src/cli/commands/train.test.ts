import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../tfjs/backend.js';
import { makeTinyDataset, makeTinyBase } from '../../testing/tinyRun.js';
import { Command, type Option } from 'commander';
import {
  TRAIN_MODES,
  TRAIN_OPTIONS,
  validateTrainOptions,
  withTrainDefaults,
  type TrainOption,
  type TrainOptionsInput,
} from '../../workflows/options.js';
import { ensureWritableDir } from '../../io/writableDir.js';
import { trainFormSpec, trainOptionsFromForm } from '../../ui/trainForm.js';
import { register, toTrainOptions as parse, type TrainArgs } from './train.js';

/** What `tlkit train` does with its flags before any work: parse, fill in defaults, check. */
function toTrainOptions(a: Parameters<typeof parse>[0]) {
  const o = withTrainDefaults(parse(a));
  validateTrainOptions(o, 'cli');
  return o;
}

/** A value each option refuses: out of range, not a choice, empty, not a boolean. */
function refused(o: TrainOption): { value: unknown; text?: string } {
  const { kind } = o;
  if (kind.name === 'int' || kind.name === 'number') {
    const v = kind.max !== undefined ? kind.max + 1 : (kind.min as number) - 1;
    return { value: v, text: String(v) };
  }
  if (kind.name === 'choice') return { value: 'nope', text: 'nope' };
  if (kind.name === 'text') return { value: '', text: '' };
  return { value: 'yes' };
}

function at(o: object, p: readonly string[]): unknown {
  return p.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
}

function withValue(p: readonly string[], value: unknown, into: Record<string, unknown>): TrainOptionsInput {
  if (p.length === 1) return { ...into, [p[0]]: value } as TrainOptionsInput;
  return { ...into, [p[0]]: { [p[1]]: value } } as TrainOptionsInput;
}

test("one declaration: every option is a flag showing its default, parses to train()'s default, is refused out of range in the three namings (code, flags, the form's labels), and has a field in the page's form", async () => {
  const program = new Command().exitOverride();
  register(program);
  const train = program.commands.find((c) => c.name() === 'train') as Command;
  const words = (s: string) => s.replace(/\s+/g, ' ');
  const help = words(train.helpInformation());
  const helper = train.createHelp();
  let parsed: TrainArgs = {};
  train.action((a: TrainArgs) => {
    parsed = a;
  });
  await program.parseAsync(['train', '--data', 'd', '--base', 'b', '--out', 'o'], { from: 'user' });
  const fromCli = withTrainDefaults(parse(parsed));
  const fromCode = withTrainDefaults({ data: 'd', base: 'b', out: 'o' });
  const form = trainFormSpec();
  const required = { data: 'd', base: 'vgg16', out: 'o' };

  for (const o of TRAIN_OPTIONS) {
    // --help: the flag, with its default (a value, or words where it depends on the base or mode).
    const flag = train.options.find((x) => x.long === o.flag) as Option;
    assert.ok(flag, `${o.flag} is a flag of tlkit train`);
    const description = words(helper.optionDescription(flag));
    assert.ok(help.includes(`${flag.flags} ${description}`), `${o.flag} in --help`);
    const valueless = o.kind.name === 'switch' || o.sets !== undefined;
    if (!valueless && o.default !== undefined) assert.ok(description.endsWith(`(default: ${String(o.default)})`), description);
    if (o.defaultText !== undefined) assert.ok(description.endsWith(`(default: ${o.defaultText})`), description);
    // Commander's value when the flag is left out, and what train() fills in: the same.
    if (o.presence !== 'required') {
      if (!valueless) assert.equal(parsed[flag.attributeName()], o.default, `${o.flag} parses to the declared default`);
      assert.deepEqual(at(fromCli, o.path), at(fromCode, o.path), o.api);
      assert.deepEqual(at(fromCode, o.path), o.default, o.api);
    }

    // A refused value names the option as the caller knows it, where the option applies.
    const bad = refused(o);
    const context: Record<string, unknown> = {
      ...required,
      mode: (o.modes ?? TRAIN_MODES)[0],
      base: o.base === 'onnx' ? 'm.onnx' : 'vgg16',
    };
    if (o.needsAugment && context.mode === 'finetune') context.augment = true;
    const label = form.fields.find((f) => f.name === o.id)?.label;
    for (const naming of ['api', 'cli', 'form'] as const) {
      // The page names a field by its label; an option it sets itself, by what it sets instead.
      const name = naming === 'api' ? o.api : naming === 'cli' ? o.flag : o.form?.hidden ? o.form.hidden.split(':')[0] : `"${label}"`;
      assert.throws(
        () => validateTrainOptions(withTrainDefaults(withValue(o.path, bad.value, context)), naming),
        (e: Error) => e.name === 'UserError' && e.message.startsWith(`${name} `),
        `${o.api} = ${JSON.stringify(bad.value)} (${naming})`,
      );
    }
    if (bad.text !== undefined) {
      const attribute = flag.attributeName();
      assert.throws(
        () => parse({ ...required, [attribute]: bad.text }),
        (e: Error) => e.message.startsWith(`${o.flag} must be ${o.kind.expect}, got '${bad.text}'`),
        `${o.flag} '${bad.text}'`,
      );
    }

    // The page's form: a field with the same default and choices, its text parsed by the same declaration.
    if (o.form?.hidden) continue;
    const field = form.fields.find((f) => f.name === o.id);
    assert.ok(field, `the form has a field for ${o.api}`);
    // The page may start a choice elsewhere (form.default: the recipe) or blank (form.blank: train() picks from the data); every other field on the option's default.
    assert.equal(field.default, o.form?.blank ? undefined : (o.form?.default ?? o.default), `${o.id}: form default`);
    assert.deepEqual(field.choices, o.kind.choices?.map(String), `${o.id}: form choices`);
    assert.deepEqual(field.modes, [...(o.modes ?? TRAIN_MODES)], `${o.id}: form modes`);
    assert.equal(field.flag, o.flag);
    if (bad.text)
      assert.throws(
        () => trainOptionsFromForm({ [o.id]: bad.text }),
        (e: Error) => e.message.startsWith(`"${field.label}" must be`) && !e.message.includes('--'),
        `${o.id}: form value`,
      );
  }
  // --precision and an ONNX base's options are on the form too; options the page sets itself are not.
  for (const id of ['precision', 'preprocess', 'upTo', 'augmentFlip'])
    assert.ok(
      form.fields.some((f) => f.name === id),
      id,
    );
  assert.deepEqual(
    TRAIN_OPTIONS.filter((o) => o.form?.hidden).map((o) => o.id),
    ['data', 'out', 'resume', 'verbose'],
  );
  assert.throws(() => trainOptionsFromForm({ out: '/elsewhere' }), /has no field 'out'/);
});

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(repo, 'bin/tlkit.js');
const env = { ...process.env, TLKIT_BACKEND: 'cpu' };

test('augmentation flags reach augment and finetune modes, and are refused where they would be ignored', () => {
  const base = { data: 'd', base: 'b', out: 'o' };
  const a = toTrainOptions({ ...base, mode: 'augment', augmentFlip: 'horizontal_and_vertical', augmentRotation: '0.05', augmentZoom: '0' });
  assert.deepEqual(a.augmentation, { flip: 'horizontal_and_vertical', rotation: 0.05, zoom: 0 });
  assert.equal(a.augment, false);
  const f = toTrainOptions({ ...base, mode: 'finetune', augment: true, augmentFlip: 'none' });
  assert.equal(f.augment, true);
  assert.equal(f.augmentation?.flip, 'none');
  assert.equal(f.augmentation?.rotation, undefined); // book default filled in by the mode
  assert.throws(() => toTrainOptions({ ...base, mode: 'features', augmentZoom: '0.2' }), /--augment-zoom applies to --mode augment/);
  assert.throws(() => toTrainOptions({ ...base, mode: 'augment', augment: true }), /--augment applies to --mode finetune only/);
  assert.throws(
    () => toTrainOptions({ ...base, mode: 'augment', augmentFlip: 'sideways' }),
    /--augment-flip must be one of none, horizontal, vertical, horizontal_and_vertical, got 'sideways'/,
  );
  assert.throws(() => toTrainOptions({ ...base, mode: 'augment', augmentRotation: '-0.1' }), /--augment-rotation/);
});

test('argument checking: bad values are UserErrors naming the flag', () => {
  const base = { data: 'd', base: 'b', mode: 'features', out: 'o' };
  assert.throws(() => toTrainOptions({ ...base, mode: 'magic' }), /--mode must be one of features, augment, finetune/);
  assert.throws(() => toTrainOptions({ ...base, epochs: '0' }), /--epochs must be a whole number >= 1, got '0'/);
  assert.throws(() => toTrainOptions({ ...base, dropout: '1.5' }), /--dropout/);
  assert.throws(() => toTrainOptions({ ...base, pooling: 'max' }), /--pooling must be one of flatten, avg, got 'max'/);
  assert.throws(() => toTrainOptions({ ...base, engine: 'gpu' }), /--engine must be one of tfjs, ort, got 'gpu'/);
  assert.equal(toTrainOptions({ ...base, engine: 'ort' }).engine, 'ort');
  // Values Number() would take but a user did not mean, and sizes that crashed allocating them.
  assert.throws(() => toTrainOptions({ ...base, seed: '' }), /--seed must be a whole number from 0 to 2147483647, got ''/);
  assert.throws(() => toTrainOptions({ ...base, epochs: '0x2' }), /--epochs must be a whole number >= 1, got '0x2'/);
  assert.throws(
    () => toTrainOptions({ ...base, imageSize: '100000' }),
    /--image-size must be a whole number from 32 to 2048, got '100000'/,
  );
  // Options of finetune were silently ignored in the other modes.
  assert.throws(() => toTrainOptions({ ...base, from: 'some/run' }), /--from applies to --mode finetune only \(got --mode features\)/);
  assert.throws(() => toTrainOptions({ ...base, mode: 'augment', unfreeze: '4' }), /--unfreeze applies to --mode finetune only/);
  assert.equal(toTrainOptions({ ...base, mode: 'finetune', from: 'some/run', unfreeze: '4' }).unfreeze, 4);
  const notes = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-')), 'notes.txt');
  fs.writeFileSync(notes, 'hi');
  assert.throws(() => ensureWritableDir('--cache-dir', notes), /--cache-dir .*notes\.txt is an existing file, not a folder/);
  const o = toTrainOptions({ ...base, epochs: '3', learningRate: '0.01', headUnits: '64', pooling: 'avg' });
  assert.equal(o.epochs, 3);
  assert.equal(o.learningRate, 0.01);
  assert.equal(o.batchSize, 32);
  assert.equal(o.headUnits, 64);
  assert.equal(o.pooling, 'avg');
  assert.equal(o.optimizer, 'rmsprop');
});

test('tlkit train: Ctrl-C keeps the best checkpoint and says where; --resume continues', async () => {
  await initBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 32, validation: 8 });
  const baseDir = path.join(root, 'base');
  await makeTinyBase(baseDir);
  const out = path.join(root, 'run');
  const args = [
    'train',
    '--data',
    data,
    '--base',
    baseDir,
    '--mode',
    'features',
    '--out',
    out,
    '--batch-size',
    '2',
    '--head-units',
    '8',
    '--cache-dir',
    path.join(root, 'cache'),
  ];

  const child = spawn(process.execPath, [bin, ...args, '--epochs', '200'], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    if (/^Epoch 3\//m.test(stdout) && !child.killed) child.kill('SIGINT');
  });
  child.stderr.on('data', (d) => (stderr += d));
  // Bounded: "Epoch 3/" comes after about 2 s; if it never does (or Ctrl-C is ignored), kill the child rather than run 200 epochs.
  const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(guard);
  assert.match(stdout, /^Epoch 3\//m, `no "Epoch 3/" within 90 s; stderr: ${stderr}`);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted; stopping after the current batch/);
  assert.match(stdout, new RegExp(`Model \\(best checkpoint.*: ${path.join(out, 'model').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(stdout, /--resume/);
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'meta.json'), 'utf8'));
  assert.equal(meta.finished, false);
  assert.ok(meta.epochsDone >= 2 && meta.epochsDone < 200);
  assert.ok(fs.existsSync(path.join(out, 'model', 'model.json')));

  // The interrupted run is usable as it is...
  const ev = spawnSync(process.execPath, [bin, 'evaluate', '--model', out, '--data', path.join(data, 'validation'), '--json'], {
    env,
    encoding: 'utf8',
  });
  assert.equal(ev.status, 0, ev.stderr);
  // ...and --resume continues it to the requested number of epochs.
  const done = meta.epochsDone as number;
  const resumed = spawnSync(process.execPath, [bin, ...args, '--epochs', String(done + 2), '--resume', '--quiet'], {
    env,
    encoding: 'utf8',
  });
  assert.equal(resumed.status, 0, resumed.stderr);
  const after = JSON.parse(fs.readFileSync(path.join(out, 'meta.json'), 'utf8'));
  assert.equal(after.epochsDone, done + 2);
  assert.equal(after.finished, true);
  const history = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8'));
  assert.deepEqual(
    history.epoch,
    Array.from({ length: done + 2 }, (_, i) => i),
  );
});
