import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../tfjs/backend.js';
import { makeTinyBase, makeTinyDataset } from '../testing/tinyRun.js';
import { readMeta } from '../run/meta.js';
import { progressOf } from './page/progress.js';
import type { TrainEvent } from './protocol.js';
import { Trainer } from './trainer.js';

// The page's progress bar counted fine-tuning's epochs over the whole run ("Epoch 21/22");
// the batch events now say where fine-tuning started, so the page counts its own, as the CLI does.

test("the trainer's batch events: fine-tuning after the head phase says where it started; the page shows its own epochs", async () => {
  await initBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-trainer-'));
  const data = await makeTinyDataset(path.join(root, 'data'), { train: 8, validation: 4 });
  const base = await makeTinyBase(path.join(root, 'base'));
  const out = path.join(root, 'run');
  const trainer = new Trainer();
  const events: TrainEvent[] = [];
  trainer.subscribe((e) => events.push(e));
  await trainer.start(
    'run',
    { data, base, out, mode: 'finetune', unfreeze: 2, epochs: 2, batchSize: 8, headUnits: 4, cacheDir: path.join(root, 'cache') },
    () => '',
  );
  assert.equal(events.at(-1)?.type, 'end', JSON.stringify(events.at(-1)));
  const start = (await readMeta(out)).fineTuneStartEpoch ?? 0;
  assert.ok(start > 0, 'a head phase came first');
  const batches = events.filter((e): e is Extract<TrainEvent, { type: 'batch' }> => e.type === 'batch');
  const head = batches.filter((b) => b.epoch <= start);
  const tuning = batches.filter((b) => b.epoch > start);
  assert.ok(head.length > 0 && tuning.length > 0);
  assert.ok(
    head.every((b) => b.fineTuneStart === undefined),
    'the head phase counts as any run',
  );
  assert.ok(
    tuning.every((b) => b.fineTuneStart === start),
    JSON.stringify(tuning[0]),
  );
  const last = tuning.at(-1) as (typeof tuning)[number];
  assert.match(
    progressOf(last).text,
    new RegExp(`^Epoch 2/2 \\(fine-tuning; ${start + 2} overall\\), batch ${last.batches}/${last.batches} - `),
  );
  assert.match(progressOf(head.at(-1) as (typeof head)[number]).text, new RegExp(`^Epoch ${start}/${start}, batch`));
});
