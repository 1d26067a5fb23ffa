import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, progressOf } from './progress.js';
import { labelled } from './classify.js';

test('page progress: fraction of the phase, images a second, time left at that rate', () => {
  // 2 of 4 epochs of 10 batches, third batch of epoch 2: 13 batches of 40 done in 6.5 s, 416 images.
  const p = progressOf({ epoch: 2, epochs: 4, firstEpoch: 0, batch: 3, batches: 10, imagesDone: 416, elapsed: 6.5 });
  assert.equal(p.fraction, 13 / 40);
  assert.equal(p.imagesPerSecond, 64);
  assert.equal(p.etaSeconds, (6.5 * 27) / 13);
  assert.equal(p.text, 'Epoch 2/4, batch 3/10 - 64.0 images/s - ETA 0:14');
  // A resumed (or fine-tuning) phase counts from its own first epoch.
  const r = progressOf({ epoch: 6, epochs: 8, firstEpoch: 5, batch: 10, batches: 10, imagesDone: 320, elapsed: 4 });
  assert.equal(r.fraction, 1 / 3);
  assert.equal(r.etaSeconds, 8);
  assert.ok(Number.isNaN(progressOf({ epoch: 1, epochs: 1, firstEpoch: 0, batch: 1, batches: 1, imagesDone: 0, elapsed: 0 }).etaSeconds));
  // Resumed, not fine-tuning: the run's epochs, as the CLI counts them.
  assert.match(r.text, /^Epoch 6\/8, batch 10\/10 - /);
  assert.deepEqual(
    [formatDuration(0), formatDuration(59.6), formatDuration(61), formatDuration(3 * 3600 + 5), formatDuration(NaN)],
    ['0:00', '1:00', '1:01', '3:00:05', '-'],
  );
});

test("page progress while fine-tuning: fine-tuning's own epochs, as the CLI prints them", () => {
  // 2 fine-tuning epochs after a 20-epoch head phase: its first epoch is the run's 21st.
  const f = progressOf({ epoch: 21, epochs: 22, firstEpoch: 20, fineTuneStart: 20, batch: 3, batches: 10, imagesDone: 96, elapsed: 3 });
  assert.equal(f.text, 'Epoch 1/2 (fine-tuning; 21 overall), batch 3/10 - 32.0 images/s - ETA 0:17');
  assert.equal(f.fraction, 3 / 20);
  // Fine-tuning resumed in its second epoch: the fraction is of what is left, the label still fine-tuning's own.
  const r = progressOf({ epoch: 22, epochs: 22, firstEpoch: 21, fineTuneStart: 20, batch: 5, batches: 10, imagesDone: 160, elapsed: 5 });
  assert.equal(r.text, 'Epoch 2/2 (fine-tuning; 22 overall), batch 5/10 - 32.0 images/s - ETA 0:05');
  assert.equal(r.fraction, 0.5);
  // Fine-tuning from the start of a run (no head phase before it) counts like any run.
  assert.match(
    progressOf({ epoch: 1, epochs: 2, firstEpoch: 0, fineTuneStart: 0, batch: 1, batches: 10, imagesDone: 32, elapsed: 1 }).text,
    /^Epoch 1\/2, batch 1\/10/,
  );
});

test('page prediction: a sigmoid output is P(labels[1]); every class listed, most probable first', () => {
  assert.deepEqual(labelled([0.25], ['cats', 'dogs']), {
    label: 'cats',
    probability: 0.75,
    probabilities: [
      { label: 'cats', probability: 0.75 },
      { label: 'dogs', probability: 0.25 },
    ],
  });
  assert.deepEqual(
    labelled([0.2, 0.5, 0.3], ['a', 'b', 'c']).probabilities.map((p) => p.label),
    ['b', 'c', 'a'],
  );
  assert.equal(labelled([0.5, 0.5], ['x', 'y']).label, 'x', 'ties keep the label order');
});
