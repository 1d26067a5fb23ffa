import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../io/rng.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import { encodeModel, makeGraph, makeModel, makeValueInfo } from '../onnx/proto.js';
import { OrtSession, type HostTensor } from '../ort/ortRunner.js';
import {
  decayInput,
  emitUpdate,
  INPUT,
  isAdam,
  optimizerState,
  rateInput,
  reserveTrainingNames,
  updateInputs,
  type OptimizerSpec,
  type StepValues,
} from './trainingOps.js';
import { arenaFits, MAX_ARENA_BYTES, UpdateKernels } from './updateKernels.js';
import { UpdateRates } from './updateRates.js';

const OPTIMIZERS: OptimizerSpec[] = [
  { kind: 'rmsprop', learningRate: 1e-3, rho: 0.9, epsilon: 1e-7 },
  { kind: 'adam', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  { kind: 'adamw', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.05 },
  { kind: 'sgd', learningRate: 0.05 },
];

/** Step 3's values, each tensor at its own rate (multipliers 1, 0.5, 2, 0.1, ...), after a schedule moved the rates. */
function stepValues(o: OptimizerSpec, tensors: number): StepValues {
  const rates = new UpdateRates(
    o,
    Array.from({ length: tensors }, (_, i) => [1, 0.5, 2, 0.1][i % 4]),
  );
  rates.set({ learningRate: o.learningRate * 0.7, momentum: 0.85 });
  return rates.values(3);
}

/** The update rules written as float32 steps in plain JS (every operation rounded), the kernels' reference. */
function referenceUpdate(o: OptimizerSpec, s: StepValues, p: number, w: Float32Array, g: Float32Array, slots: Float32Array[]): void {
  const f = Math.fround;
  const [rate, momentum, keep] = [f(s.rates[p]), f(s.momentum), f(s.keepMomentum)];
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    if (o.kind === 'rmsprop') {
      const v = f(f(slots[0][i] * momentum) + f(f(gi * gi) * keep));
      slots[0][i] = v;
      w[i] = f(w[i] - f(f(gi * rate) / f(Math.sqrt(f(v + f(o.epsilon))))));
    } else if (o.kind === 'adam' || o.kind === 'adamw') {
      const decayed = o.kind === 'adamw' ? f(w[i] - f(w[i] * f(s.decays[p]))) : w[i];
      const m = f(f(slots[0][i] * momentum) + f(gi * keep));
      const v = f(f(slots[1][i] * f(o.beta2)) + f(f(gi * gi) * f(1 - o.beta2)));
      slots[0][i] = m;
      slots[1][i] = v;
      const ratio = f(f(m / f(s.c1)) / f(f(Math.sqrt(f(v / f(s.c2)))) + f(o.epsilon)));
      w[i] = f(f(ratio * rate) + decayed);
    } else w[i] = f(f(rate * gi) + w[i]);
  }
}

function randomArray(rng: Rng, n: number, scale: number, positive = false): Float32Array {
  return Float32Array.from({ length: n }, () => (positive ? scale * rng.next() : scale * (rng.next() - 0.5)));
}

const slotCount = (o: OptimizerSpec) => optimizerState(o, [{ name: 'p', shape: [1] }]).length;

/** Fill an arena of [w..., g..., slots...] for tensors of `lengths`; return the pieces and copies of them. */
function fillArena(o: OptimizerSpec, lengths: number[], seed: number) {
  const rng = new Rng(seed);
  const k = slotCount(o);
  const kernels = new UpdateKernels([...lengths, ...lengths, ...Array.from({ length: k }, () => lengths).flat()]);
  const n = lengths.length;
  const w = kernels.arrays.slice(0, n);
  const g = kernels.arrays.slice(n, 2 * n);
  const state = kernels.arrays.slice(2 * n);
  w.forEach((a) => a.set(randomArray(rng, a.length, 0.2)));
  g.forEach((a) => a.set(randomArray(rng, a.length, 0.02)));
  // Adam's m is signed; RMSprop's and Adam's v are mean squares.
  state.forEach((a, i) => a.set(randomArray(rng, a.length, 1e-4, !(isAdam(o) && i < n))));
  return { kernels, w, g, state };
}

for (const o of OPTIMIZERS) {
  test(`update kernels equal the float32 reference to the bit: ${o.kind}, lengths not whole vectors`, () => {
    const lengths = [1, 7, 1001, 4096];
    const { kernels, w, g, state } = fillArena(o, lengths, 3);
    const n = lengths.length;
    const expectW = w.map((a) => a.slice());
    const expectState = state.map((a) => a.slice());
    const gradients = g.map((a) => a.slice());
    const step = stepValues(o, n);
    lengths.forEach((_, p) => {
      const slots = isAdam(o) ? [expectState[p], expectState[n + p]] : o.kind === 'rmsprop' ? [expectState[p]] : [];
      referenceUpdate(o, step, p, expectW[p], g[p], slots);
    });
    kernels.update(o, w, g, state, step);
    w.forEach((a, p) => assert.deepEqual(a, expectW[p], `weights ${p}`));
    state.forEach((a, i) => assert.deepEqual(a, expectState[i], `slot ${i}`));
    // The gradients are read, not written, and no array's padding spills into its neighbour.
    g.forEach((a, p) => assert.deepEqual(a, gradients[p], `gradients ${p}`));
  });

  test(`update kernels equal the ONNX graph's update (trainingOps.emitUpdate) to the bit: ${o.kind}`, async () => {
    const lengths = [5, 2048];
    const { kernels, w, g, state } = fillArena(o, lengths, 11);
    const b = new GraphBuilder();
    const params = lengths.map((len, i) => ({ name: `p${i}`, shape: [len] }));
    const slots = optimizerState(o, params);
    reserveTrainingNames(b, o, params, true);
    params.forEach((p) => b.reserve(`g_${p.name}`));
    params.forEach((p) => emitUpdate(b, o, p.name, `g_${p.name}`));
    const scalars = updateInputs(o, params);
    const graph = makeGraph(
      b.nodes,
      'update',
      [
        ...params.map((p) => makeValueInfo(`g_${p.name}`, p.shape)),
        ...[...params, ...slots].map((t) => makeValueInfo(t.name, t.shape)),
        ...scalars.map((s) => makeValueInfo(s, [])),
      ],
      [...params, ...slots].map((t) => makeValueInfo(`${t.name}_new`, t.shape)),
      b.initializers,
    );
    const session = await OrtSession.create(encodeModel(makeModel(graph)), { threads: 1 });
    const feeds: Record<string, HostTensor> = {};
    params.forEach((p, i) => {
      feeds[p.name] = { data: w[i].slice(), dims: p.shape };
      feeds[`g_${p.name}`] = { data: g[i].slice(), dims: p.shape };
    });
    slots.forEach((s, i) => (feeds[s.name] = { data: state[i].slice(), dims: s.shape }));
    const step = stepValues(o, params.length);
    const values = new Map<string, number>([
      ...params.map((p, i) => [rateInput(p.name), step.rates[i]] as const),
      ...params.map((p, i) => [decayInput(p.name), step.decays[i]] as const),
      [INPUT.momentum, step.momentum],
      [INPUT.keepMomentum, step.keepMomentum],
      [INPUT.adamC1, step.c1],
      [INPUT.adamC2, step.c2],
    ]);
    for (const name of scalars) feeds[name] = { data: Float32Array.of(values.get(name) as number), dims: [] };
    const out = await session.run(feeds);
    await session.dispose();
    kernels.update(o, w, g, state, step);
    params.forEach((p, i) => assert.deepEqual(w[i], out[`${p.name}_new`].data, p.name));
    slots.forEach((s, i) => assert.deepEqual(state[i], out[`${s.name}_new`].data, s.name));
  });
}

test('update kernels refuse arrays that are not in their arena, and say when arrays would not fit one', () => {
  const kernels = new UpdateKernels([8, 8]);
  const [w] = kernels.arrays;
  const sgd: OptimizerSpec = { kind: 'sgd', learningRate: 0.1 };
  assert.throws(() => kernels.update(sgd, [w], [new Float32Array(8)], [], stepValues(sgd, 1)), /not in the arena/);
  assert.equal(arenaFits([1000, 1000]), true);
  assert.equal(arenaFits([MAX_ARENA_BYTES / 4 + 1]), false);
  assert.throws(() => new UpdateKernels([MAX_ARENA_BYTES / 4 + 1]), RangeError);
});
