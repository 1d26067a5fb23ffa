import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { isUserError } from '../errors.js';
import { mountTmpfs } from '../testing/tmpfs.js';
import { OrtModel, OrtSession, optimizedGraph } from './ortRunner.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../onnx/proto.js';

/** y = x * 2 + 1 over a [batch, 3] input, built with the pure proto builders. */
function affineModel(): Uint8Array {
  const graph = makeGraph(
    [makeNode('Mul', ['x', 'two'], ['t'], 'mul'), makeNode('Add', ['t', 'one'], ['y'], 'add')],
    'affine',
    [makeValueInfo('x', [null, 3])],
    [makeValueInfo('y', [null, 3])],
    [makeTensor('two', [], Float32Array.of(2)), makeTensor('one', [], Float32Array.of(1))],
  );
  return encodeModel(makeModel(graph));
}

test('runs batches of any size, uses every core by default', async () => {
  const m = await OrtModel.create(affineModel());
  assert.equal(m.threads, os.availableParallelism());
  assert.equal(m.inputName, 'x');
  const r = await m.run(Float32Array.of(0, 1, 2, 3, 4, 5), [2, 3]);
  assert.deepEqual(r.shape, [2, 3]);
  assert.deepEqual([...r.data], [1, 3, 5, 7, 9, 11]);
  const one = await m.run(Float32Array.of(-1, 0, 1), [1, 3]);
  assert.deepEqual([...one.data], [-1, 1, 3]);
  await assert.rejects(m.run(Float32Array.of(1, 2), [1, 3]), /holds 3 values/);
  await m.dispose();
  await assert.rejects(m.run(Float32Array.of(1, 2, 3), [1, 3]), /after dispose/);
});

test('proto builders check sizes and sort attributes', () => {
  assert.throws(() => makeTensor('w', [2, 2], Float32Array.of(1, 2, 3)), /hold 4 values, data has 3/);
  const n = makeNode('Conv', ['x', 'w'], ['y'], 'c', { strides: [1, 1], group: 1, kernel_shape: [3, 3], auto_pad: undefined });
  assert.deepEqual(
    n.attribute?.map((a) => a.name),
    ['group', 'kernel_shape', 'strides'],
  );
});

test('OrtSession: named inputs and outputs; an output given a buffer is written into it; missing or mis-sized inputs are named', async () => {
  // s = a + b, d = a * b over [n, 2].
  const graph = makeGraph(
    [makeNode('Add', ['a', 'b'], ['s'], 'add'), makeNode('Mul', ['a', 'b'], ['d'], 'mul')],
    'two',
    [makeValueInfo('a', [null, 2]), makeValueInfo('b', [null, 2])],
    [makeValueInfo('s', [null, 2]), makeValueInfo('d', [null, 2])],
  );
  const s = await OrtSession.create(encodeModel(makeModel(graph)), { threads: 1 });
  assert.deepEqual(s.inputNames, ['a', 'b']);
  assert.deepEqual(s.outputNames, ['s', 'd']);
  const a = { data: Float32Array.of(1, 2, 3, 4), dims: [2, 2] };
  const b = { data: Float32Array.of(10, 20, 30, 40), dims: [2, 2] };
  const buffer = new Float32Array(4);
  const out = await s.run({ a, b }, { s: { data: buffer, dims: [2, 2] } });
  assert.equal(out.s.data, buffer, "the caller's buffer comes back");
  assert.deepEqual([...buffer], [11, 22, 33, 44]);
  assert.deepEqual([...out.d.data], [10, 40, 90, 160]);
  assert.deepEqual(out.d.dims, [2, 2]);
  await assert.rejects(s.run({ a }), /no value for input b/);
  await assert.rejects(s.run({ a, b: { data: Float32Array.of(1), dims: [2, 2] } }), /input b has shape \[2,2\] \(4 values\) but 1 values/);
  await s.dispose();
  await assert.rejects(s.run({ a, b }), /after dispose/);
});

test('a full temporary disk while ONNX Runtime writes the optimized graph: a UserError naming the folder and TMPDIR', async (t) => {
  const full = mountTmpfs(t, 'size=4k');
  if (!full) return;
  // 8 KB of weights: more than the 4 KB disk holds.
  const graph = makeGraph(
    [makeNode('Add', ['x', 'w'], ['y'], 'add')],
    'big',
    [makeValueInfo('x', [2048])],
    [makeValueInfo('y', [2048])],
    [makeTensor('w', [2048], new Float32Array(2048).fill(1))],
  );
  const tmpdir = process.env.TMPDIR;
  process.env.TMPDIR = full;
  try {
    await assert.rejects(optimizedGraph(encodeModel(makeModel(graph)), 'basic'), (e: Error) => {
      assert.ok(isUserError(e), `not a UserError: ${e.message}`);
      assert.match(e.message, new RegExp(`temporary folder ${full}: its disk is full .*set TMPDIR`));
      return true;
    });
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
});
