import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../io/rng.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import { encodeModel, makeGraph, makeModel, makeValueInfo } from '../onnx/proto.js';
import { OrtSession, type HostTensor } from '../ort/ortRunner.js';
import { emitUpdate, INPUT, optimizerState, type OptimizerSpec } from './trainingOps.js';
import { arenaFits, MAX_ARENA_BYTES, UpdateKernels } from './updateKernels.js';

const OPTIMIZERS: OptimizerSpec[] = [
  { kind: 'rmsprop', learningRate: 1e-3, rho: 0.9, epsilon: 1e-7 },
  { kind: 'adam', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  { kind: 'sgd', learningRate: 0.05 },
];
const ADAM = { c1: 1 - 0.9 ** 3, c2: 1 - 0.999 ** 3 };

/** The update rules written as float32 steps in plain JS (every operation rounded), the kernels' reference. */
function referenceUpdate(o: OptimizerSpec, w: Float32Array, g: Float32Array, slots: Float32Array[]): void {
  const f = Math.fround;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    if (o.kind === 'rmsprop') {
      const v = f(f(slots[0][i] * f(o.rho)) + f(f(gi * gi) * f(1 - o.rho)));
      slots[0][i] = v;
      w[i] = f(w[i] - f(f(gi * f(o.learningRate)) / f(Math.sqrt(f(v + f(o.epsilon))))));
    } else if (o.kind === 'adam') {
      const m = f(f(slots[0][i] * f(o.beta1)) + f(gi * f(1 - o.beta1)));
      const v = f(f(slots[1][i] * f(o.beta2)) + f(f(gi * gi) * f(1 - o.beta2)));
      slots[0][i] = m;
      slots[1][i] = v;
      const ratio = f(f(m / f(ADAM.c1)) / f(f(Math.sqrt(f(v / f(ADAM.c2)))) + f(o.epsilon)));
      w[i] = f(f(ratio * f(-o.learningRate)) + w[i]);
    } else w[i] = f(f(f(-o.learningRate) * gi) + w[i]);
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
  state.forEach((a, i) => a.set(randomArray(rng, a.length, 1e-4, !(o.kind === 'adam' && i < n))));
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
    lengths.forEach((_, p) => {
      const slots = o.kind === 'adam' ? [expectState[p], expectState[n + p]] : o.kind === 'rmsprop' ? [expectState[p]] : [];
      referenceUpdate(o, expectW[p], g[p], slots);
    });
    kernels.update(o, w, g, state, ADAM);
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
    for (const t of [...params, ...slots]) {
      b.reserve(t.name);
      b.reserve(`${t.name}_new`);
    }
    params.forEach((p) => b.reserve(`g_${p.name}`));
    params.forEach((p) => emitUpdate(b, o, p.name, `g_${p.name}`));
    const scalars = o.kind === 'adam' ? [INPUT.adamC1, INPUT.adamC2] : [];
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
    if (o.kind === 'adam') {
      feeds[INPUT.adamC1] = { data: Float32Array.of(ADAM.c1), dims: [] };
      feeds[INPUT.adamC2] = { data: Float32Array.of(ADAM.c2), dims: [] };
    }
    const out = await session.run(feeds);
    await session.dispose();
    kernels.update(o, w, g, state, ADAM);
    params.forEach((p, i) => assert.deepEqual(w[i], out[`${p.name}_new`].data, p.name));
    slots.forEach((s, i) => assert.deepEqual(state[i], out[`${s.name}_new`].data, s.name));
  });
}

test('update kernels refuse arrays that are not in their arena, and say when arrays would not fit one', () => {
  const kernels = new UpdateKernels([8, 8]);
  const [w] = kernels.arrays;
  assert.throws(() => kernels.update({ kind: 'sgd', learningRate: 0.1 }, [w], [new Float32Array(8)], []), /not in the arena/);
  assert.equal(arenaFits([1000, 1000]), true);
  assert.equal(arenaFits([MAX_ARENA_BYTES / 4 + 1]), false);
  assert.throws(() => new UpdateKernels([MAX_ARENA_BYTES / 4 + 1]), RangeError);
});
