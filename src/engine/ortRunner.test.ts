import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { OrtModel } from './ortRunner.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from './onnx/proto.js';

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
  assert.deepEqual(n.attribute?.map((a) => a.name), ['group', 'kernel_shape', 'strides']);
});
