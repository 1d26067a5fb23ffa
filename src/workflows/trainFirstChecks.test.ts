import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isUserError } from '../errors.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { describeTrainResult } from './options.js';
import { train } from './train.js';

// What a new user met: problems found only after minutes of extraction, empty run folders
// left behind by a failed check, and Ctrl-C that did not stop feature extraction.

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-firstchecks-'));
const baseReady = makeTinyBase(path.join(root, 'base'));

async function rejectsUserError(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isUserError(e), `expected a UserError, got ${(e as Error)?.stack ?? e}`);
    assert.match((e as Error).message, message);
    return true;
  });
}

test('Ctrl-C during feature extraction stops after the current batch: no epoch, no half split cached, no run folder, no curves promised', async () => {
  const data = await makeTinyDataset(path.join(root, 'many'), { train: 64, validation: 8 });
  const out = path.join(root, 'runs', 'stopped');
  const cacheDir = path.join(root, 'cache-stopped');
  const controller = new AbortController();
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    // The first progress line comes after the first batch of 8 of the 128 training images.
    if (/^ {2}train: \d+\/128 images/.test(line)) controller.abort();
  };
  const result = await train(
    { data, base: await baseReady, out, epochs: 3, batchSize: 8, headUnits: 4, cacheDir, signal: controller.signal },
    { log },
  );
  assert.ok(controller.signal.aborted, `extraction ran: ${lines.join('\n')}`);
  assert.equal(result.interrupted, true);
  assert.equal(result.bestEpoch, -1);
  assert.deepEqual(result.history.epoch, [], 'no epoch trained');
  const progress = lines.filter((l) => /^ {2}train: /.test(l));
  assert.equal(progress.length, 1, `stopped after the batch that printed the first progress line:\n${lines.join('\n')}`);
  assert.equal(lines.filter((l) => /^ {2}validation: /.test(l)).length, 0, 'validation was not extracted');
  // The split in progress was not published to the cache.
  const cached = fs.readdirSync(cacheDir, { recursive: true }).map(String);
  assert.ok(!cached.some((f) => /(^|\/)train\/meta\.json$/.test(f)), `no train split cached: ${cached.join(', ')}`);
  assert.ok(!fs.existsSync(out), 'no empty run folder is left');
  const said = describeTrainResult(result, out);
  assert.doesNotMatch(said, /Curves:|accuracy\.png/, said);
  assert.match(said, /Stopped before the first epoch finished/);
});

test('Ctrl-C during int8 calibration stops after the current batch: no calibration cached, no features, no run folder, and it says what was kept', async () => {
  const data = await makeTinyDataset(path.join(root, 'calibrate'), { train: 32, validation: 4 });
  const out = path.join(root, 'runs', 'calibration-stopped');
  const cacheDir = path.join(root, 'cache-calibration');
  const controller = new AbortController();
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    // Ctrl-C as calibration starts: it stops before its first batch (calibration.test.ts stops one mid-way).
    if (/^int8: calibrating on 32 training images/.test(line)) controller.abort();
  };
  const result = await train(
    { data, base: await baseReady, out, epochs: 2, batchSize: 8, headUnits: 4, cacheDir, precision: 'int8', signal: controller.signal },
    { log },
  );
  assert.ok(controller.signal.aborted, `calibration started: ${lines.join('\n')}`);
  assert.equal(result.interrupted, true);
  assert.equal(result.bestEpoch, -1);
  assert.deepEqual(result.history.epoch, []);
  assert.ok(
    lines.some((l) =>
      /int8 calibration was interrupted after 0 of 32 training images\. Nothing of it was kept \(no calibration-int8\.json was written\) and no features were extracted/.test(
        l,
      ),
    ),
    lines.join('\n'),
  );
  assert.ok(
    !lines.some((l) => /relative L2|^ {2}(train|validation): /.test(l)),
    `neither the error measurement nor extraction ran:\n${lines.join('\n')}`,
  );
  const cached = fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir, { recursive: true }).map(String) : [];
  assert.ok(
    !cached.some((f) => /calibration-int8\.json|meta\.json$|\.npy$/.test(f)),
    `nothing half-written is cached: ${cached.join(', ')}`,
  );
  assert.ok(!fs.existsSync(out), 'no empty run folder is left');
  assert.match(describeTrainResult(result, out), /Stopped before the first epoch finished/);
});

test('one class is refused before any image is read or any folder made', async () => {
  const data = await makeTinyDataset(path.join(root, 'one-class'), { train: 2, validation: 2 });
  for (const split of ['train', 'validation']) fs.rmSync(path.join(data, split, 'dogs'), { recursive: true });
  const out = path.join(root, 'runs', 'one-class');
  const lines: string[] = [];
  await rejectsUserError(
    train({ data, base: await baseReady, out, cacheDir: path.join(root, 'cache') }, { log: (l) => lines.push(l) }),
    /one class folder \('cats'\); a classifier needs at least 2 classes/,
  );
  assert.deepEqual(lines, [], 'nothing extracted');
  assert.ok(!fs.existsSync(out));
});

test('a misspelt base and a failed weights download leave no run folder', async () => {
  const data = await makeTinyDataset(path.join(root, 'two'), { train: 2, validation: 2 });
  const typo = path.join(root, 'runs', 'typo');
  await rejectsUserError(train({ data, base: 'mobilnet', out: typo }, { log: () => {} }), /Did you mean mobilenet\?/);
  assert.ok(!fs.existsSync(typo));

  // Offline: nothing cached, and the weights storage unreachable (a closed port).
  const saved = { ...process.env };
  Object.assign(process.env, {
    TLKIT_CACHE: path.join(root, 'empty-cache'),
    KERAS_HOME: path.join(root, 'no-keras'),
    TLKIT_WEIGHTS_URL: 'http://127.0.0.1:9/',
  });
  try {
    const offline = path.join(root, 'runs', 'offline');
    await rejectsUserError(
      train({ data, base: 'vgg16', imageSize: 32, out: offline }, { log: () => {} }),
      /Could not download the pretrained weights/,
    );
    assert.ok(!fs.existsSync(offline));
  } finally {
    for (const k of ['TLKIT_CACHE', 'KERAS_HOME', 'TLKIT_WEIGHTS_URL']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});
