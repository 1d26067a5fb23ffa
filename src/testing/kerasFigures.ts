import assert from 'node:assert/strict';
import type * as tfl from '@tensorflow/tfjs-layers';

/** What Keras says about a built application: model.count_params(), len(model.layers), names, shapes. */
export interface KerasFigures {
  params: number;
  nonTrainable: number;
  output: Array<number | null>;
  layers: number;
  name: string;
  /** Layer names that must be present, in this order ... */
  has: string[];
  /** ... and absent. */
  hasNot?: string[];
}

export function nonTrainableCount(m: tfl.LayersModel): number {
  return m.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b as number), 1), 0);
}

/** Assert that `m` has Keras's totals, output shape, layer count, name and layer names (in Keras's order). */
export function assertKerasFigures(m: tfl.LayersModel, k: KerasFigures): void {
  assert.equal(m.countParams(), k.params);
  assert.equal(nonTrainableCount(m), k.nonTrainable);
  assert.deepEqual(m.outputs[0].shape, k.output);
  assert.equal(m.layers.length, k.layers);
  assert.equal(m.name, k.name);
  const names = m.layers.map((l) => l.name);
  const positions = k.has.map((n) => names.indexOf(n));
  assert.ok(
    positions.every((p) => p >= 0),
    `missing layers: ${k.has.filter((_, i) => positions[i] < 0).join(', ')}`,
  );
  assert.deepEqual(
    [...positions].sort((a, b) => a - b),
    positions,
    'layers in Keras order',
  );
  for (const n of k.hasNot ?? []) assert.ok(!names.includes(n), `unexpected layer ${n}`);
}
