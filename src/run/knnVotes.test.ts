import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knnProbabilities, nearestIndices, poolFeatureMap, voteWeight, VOTE_FLOOR } from './knnVotes.js';

test('nearestIndices: the k largest, largest first, equal values in index order', () => {
  assert.deepEqual(nearestIndices([0.1, 0.9, 0.5, 0.9, 0.2], 3), [1, 3, 2]);
  assert.deepEqual(nearestIndices([0.3, 0.3, 0.3, 0.3], 2), [0, 1]);
  assert.deepEqual(nearestIndices([0.5, 0.1], 5), [0, 1]);
  // Against a full sort on random values (ties included by rounding).
  let s = 3;
  const values = Array.from({ length: 200 }, () => Math.round(((s = (s * 16807) % 2147483647) / 2147483647) * 40) / 40);
  const sorted = values.map((v, i) => ({ v, i })).sort((a, b) => b.v - a.v || a.i - b.i);
  assert.deepEqual(
    nearestIndices(values, 17),
    sorted.slice(0, 17).map((x) => x.i),
  );
});

test('poolFeatureMap: the mean over positions, at unit length; zero stays zero', () => {
  // 2 positions x 2 channels: mean [2, 1] -> [2, 1] / sqrt(5).
  const into = new Float32Array(2);
  poolFeatureMap(Float32Array.of(1, 2, 3, 0), 2, into);
  assert.ok(Math.abs(into[0] - 2 / Math.sqrt(5)) < 1e-7 && Math.abs(into[1] - 1 / Math.sqrt(5)) < 1e-7, `${into}`);
  poolFeatureMap(new Float32Array(4), 2, into);
  assert.deepEqual([...into], [0, 0]);
});

test('knnProbabilities: the k nearest vote with their similarity, negatives count 0, probabilities sum to 1', () => {
  // Stored (float32, hence 1e-6): class 0 at angle 0 and 10 degrees, class 1 at 40, class 2 opposite.
  const at = (deg: number) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)];
  const stored = { dim: 2, vectors: Float32Array.from([...at(0), ...at(10), ...at(40), ...at(180)]), labels: [0, 0, 1, 2], classCount: 3 };
  const query = Float32Array.from(at(30));
  const sims = [at(0), at(10), at(40)].map((v) => v[0] * query[0] + v[1] * query[1]);
  const w = sims.map(voteWeight);
  const p3 = knnProbabilities(stored, query, 3);
  const total = w[0] + w[1] + w[2];
  assert.ok(Math.abs(p3[0] - (w[0] + w[1]) / total) < 1e-6 && Math.abs(p3[1] - w[2] / total) < 1e-6 && p3[2] === 0, `${p3}`);
  // k 4 reaches the opposite vector: similarity -0.87 votes only the floor.
  const p4 = knnProbabilities(stored, query, 4);
  assert.ok(Math.abs(p4[2] - VOTE_FLOOR / (total + VOTE_FLOOR)) < 1e-12, `${p4}`);
  // k 1: the nearest alone (40 degrees is 10 from 30, as 10 degrees is 20 away).
  assert.deepEqual(knnProbabilities(stored, query, 1), [0, 1, 0]);
  // A zero query (a blank image) has no similarity to anything: a plain vote of the first k stored.
  const blank = knnProbabilities(stored, new Float32Array(2), 3);
  assert.ok(Math.abs(blank[0] - 2 / 3) < 1e-9 && Math.abs(blank[1] - 1 / 3) < 1e-9, `${blank}`);
});
