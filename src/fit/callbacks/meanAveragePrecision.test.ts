import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogitsTap } from '../../ortTraining/trainingPlan.js';
import type { EpochLogs } from '../../run/history.js';
import { MeanAveragePrecision } from './meanAveragePrecision.js';

test("MeanAveragePrecision: map over the epoch's training batches, val_map over the validation pass, each from the tapped logits", () => {
  const tap: LogitsTap = {};
  const cb = new MeanAveragePrecision(tap, 2);
  cb.onTrainBegin();
  cb.onEpochBegin();
  // Training, two batches: class 0 ranked perfectly, class 1 with its one positive ranked last of three (AP 1/3).
  tap.listener!(Float32Array.from([1, 0, 0, 0]), Float32Array.from([3, 2, -1, 1]));
  tap.listener!(Float32Array.from([1, 1]), Float32Array.from([2, -5]));
  cb.onTestBegin();
  // Validation: both classes ranked perfectly.
  tap.listener!(Float32Array.from([1, 0, 0, 1]), Float32Array.from([4, -4, -4, 4]));
  const logs: EpochLogs = { loss: 1, val_loss: 1 };
  cb.onEpochEnd(0, logs);
  assert.ok(Math.abs(logs.map - (1 + 1 / 3) / 2) < 1e-9, `map ${logs.map}`);
  assert.equal(logs.val_map, 1);
  // A new epoch starts from nothing; the tap is let go when training ends.
  cb.onEpochBegin();
  cb.onTestBegin();
  tap.listener!(Float32Array.from([0, 1, 1, 0]), Float32Array.from([4, -4, -4, 4]));
  const next: EpochLogs = {};
  cb.onEpochEnd(1, next);
  assert.ok(Number.isNaN(next.map), 'no training batch seen');
  assert.equal(next.val_map, 0.5);
  cb.onTrainEnd();
  assert.equal(tap.listener, undefined);
});
