import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ONNX_SCHEMA } from './onnxSchema.js';
import { protobufCodec } from './protobuf.js';
import { decodeModel, encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from './proto.js';
import { OrtSession, optimizedGraph } from '../ort/ortRunner.js';

// Expected bytes below are worked out by hand from the protobuf encoding rules
// (tag = field << 3 | wire type; varints 7 bits a byte, low first; fixed32/64 little-endian).

const codec = protobufCodec(ONNX_SCHEMA);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'));

test('scalars, strings and nested messages encode as protobuf specifies', () => {
  // OperatorSetIdProto: domain (1, string) then version (2, int64 13).
  assert.equal(hex(codec.encode({ domain: '', version: 13 }, 'OperatorSetIdProto')), '0a00100d');
  // int64 -1 is ten bytes of two's complement; a float is four little-endian bytes (0.5 = 0x3f000000).
  assert.equal(hex(codec.encode({ i: -1 }, 'AttributeProto')), `18${'ff'.repeat(9)}01`);
  assert.equal(hex(codec.encode({ f: 0.5 }, 'AttributeProto')), '150000003f');
  // A negative int32 is sign-extended to ten bytes too.
  assert.equal(hex(codec.encode({ dataType: -2 }, 'TensorProto')), `10fe${'ff'.repeat(8)}01`);
  // 300 = 0b10_0101100: ac 02. Fields go out in field-number order, whatever the object's key order.
  assert.equal(hex(codec.encode({ type: 7, ints: [2, 300], name: 'k' }, 'AttributeProto')), '0a016b' + '4002' + '40ac02' + 'a00107');
  // UTF-8: 'é' is two bytes, '😀' four.
  assert.equal(hex(codec.encode({ key: 'é😀' }, 'StringStringEntryProto')), '0a06c3a9f09f9880');
  // A nested message is length-delimited: ValueInfoProto.type (2) > tensorType (1) > elemType (1) = 1.
  assert.equal(hex(codec.encode({ name: 'x', type: { tensorType: { elemType: 1 } } }, 'ValueInfoProto')), '0a01781204' + '0a020801');
});

test('repeated numbers are packed exactly where onnx.proto says so', () => {
  // dims (1) and AttributeProto.ints (8) are not packed: one tag per value, as onnx.save writes them.
  assert.equal(hex(codec.encode({ dims: [2, 3] }, 'TensorProto')), '08020803');
  // float_data (4) is packed: one tag, the byte length, then the floats.
  assert.equal(hex(codec.encode({ floatData: [1, -2] }, 'TensorProto')), '2208' + '0000803f' + '000000c0');
  // int64_data (7) packed, with a negative value (ten bytes).
  assert.equal(hex(codec.encode({ int64Data: [1, -1] }, 'TensorProto')), `3a0b01${'ff'.repeat(9)}01`);
  // Empty repeated fields are not written at all.
  assert.equal(codec.encode({ dims: [], floatData: new Float32Array(0) }, 'TensorProto').length, 0);
});

test('decoding reads repeated numbers packed or not', () => {
  const unpacked = codec.decode(bytes('08 02 08 ac02'), 'TensorProto') as { dims: number[] };
  const packed = codec.decode(bytes('0a 03 02 ac02'), 'TensorProto') as { dims: number[] };
  assert.deepEqual(unpacked.dims, [2, 300]);
  assert.deepEqual(packed.dims, [2, 300]);
  const floats = codec.decode(bytes('3d 0000803f 3d 000000c0'), 'AttributeProto') as { floats: number[] };
  assert.deepEqual(floats.floats, [1, -2]);
});

test('int64 values keep every bit: numbers within 2^53, bigint beyond', () => {
  const values = [0, -1, 2 ** 53 - 1, -(2 ** 53) + 1, 9223372036854775807n, -9223372036854775808n, 2n ** 53n + 1n];
  const t = codec.decode(codec.encode({ int64Data: values, dims: values }, 'TensorProto'), 'TensorProto') as {
    int64Data: unknown[];
    dims: unknown[];
  };
  const expected = [0, -1, 2 ** 53 - 1, -(2 ** 53) + 1, 9223372036854775807n, -9223372036854775808n, 2n ** 53n + 1n];
  assert.deepEqual(t.int64Data, expected);
  assert.deepEqual(t.dims, expected);
  const u = codec.decode(codec.encode({ uint64Data: [18446744073709551615n, 7] }, 'TensorProto'), 'TensorProto') as {
    uint64Data: unknown[];
  };
  assert.deepEqual(u.uint64Data, [18446744073709551615n, 7]);
  assert.throws(() => codec.encode({ dims: [1.5] }, 'TensorProto'), /TensorProto\.dims must be an integer/);
});

test('absent fields read as defaults and are not written back', () => {
  const m = decodeModel(bytes('0807')); // ir_version 7 only
  assert.equal(m.irVersion, 7);
  assert.equal(m.producerName, '');
  assert.equal(m.graph, null);
  assert.deepEqual(m.opsetImport, []);
  assert.deepEqual(m.metadataProps, []);
  assert.equal(hex(encodeModel(m)), '0807');
  const a = codec.decode(bytes('0a0161'), 'AttributeProto') as { name: string; i: number; f: number; s: Uint8Array; ints: number[] };
  assert.deepEqual([a.name, a.i, a.f, a.s.length, a.ints], ['a', 0, 0, 0, []]);
});

test('fields it does not know are kept and written back', () => {
  // ModelProto with ir_version 8, an unknown varint field 99 and an unknown length-delimited
  // field 26; its graph (7) holds a node (1) with an unknown string field 8 (a newer onnx's `overload`).
  const node = '2203 4164 64' + '4202 6f76'; // op_type "Add", field 8 "ov"
  const graph = `0a09${node}`;
  const model = `0808 9806 05 d20103 010203 3a0b${graph}`;
  const decoded = decodeModel(bytes(model));
  assert.equal(decoded.graph?.node?.[0].opType, 'Add');
  // Known fields first in number order, then the unknown ones as they came.
  const again = encodeModel(decoded);
  assert.equal(hex(again), `08083a0b${graph}980605d20103010203`.replace(/\s/g, ''));
  assert.equal(hex(encodeModel(decodeModel(again))), hex(again));
});

test('bad bytes fail with a message instead of looping or reading past the end', () => {
  assert.throws(() => decodeModel(bytes('3aff01')), /runs past/); // graph claims 255 bytes
  assert.throws(() => decodeModel(bytes('08ff')), /truncated varint/);
  assert.throws(() => decodeModel(bytes('0f')), /wire type 7/);
});

test('weights decode as views of the input, not copies', () => {
  const t = makeTensor('w', [4], new Float32Array([1, 2, 3, 4]));
  const encoded = encodeModel(makeModel(makeGraph([], 'g', [], [], [t])));
  const raw = decodeModel(encoded).graph?.initializer?.[0].rawData as Uint8Array;
  assert.equal(raw.buffer, encoded.buffer);
  assert.deepEqual(new Float32Array(raw.slice().buffer), new Float32Array([1, 2, 3, 4]));
});

function smallConvModel() {
  const w = makeTensor(
    'w',
    [2, 1, 3, 3],
    Float32Array.from({ length: 18 }, (_, i) => (i - 9) / 7),
  );
  const conv = makeNode('Conv', ['x', 'w'], ['y'], 'conv', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const act = makeNode('LeakyRelu', ['y'], ['z'], 'act', { alpha: { float: 0.2 } });
  const g = makeGraph([conv, act], 'g', [makeValueInfo('x', [null, 1, 5, 5])], [makeValueInfo('z', [null, 2, 5, 5])], [w]);
  const model = makeModel(g);
  model.metadataProps = [{ key: 'labels', value: 'chat, chien, 猫' }];
  return model;
}

test('a model written by ONNX Runtime (protobuf C++) round-trips byte for byte', async () => {
  const written = await optimizedGraph(encodeModel(smallConvModel()), 'basic');
  const again = encodeModel(decodeModel(written));
  assert.equal(again.length, written.length);
  assert.ok(Buffer.from(again).equals(Buffer.from(written)));
});

test('ONNX Runtime runs what it encodes, and decoding gives back the model', async () => {
  const model = smallConvModel();
  const encoded = encodeModel(model);
  const back = decodeModel(encoded);
  assert.deepEqual(
    back.metadataProps.map((p) => [p.key, p.value]),
    [['labels', 'chat, chien, 猫']],
  );
  assert.deepEqual(
    back.graph?.node?.map((n) => [n.opType, n.input, n.output, n.attribute?.map((a) => a.name)]),
    [
      ['Conv', ['x', 'w'], ['y'], ['kernel_shape', 'pads']],
      ['LeakyRelu', ['y'], ['z'], ['alpha']],
    ],
  );
  assert.ok(Math.abs((back.graph?.node?.[1].attribute?.[0].f as number) - 0.2) < 1e-7);
  const session = await OrtSession.create(encoded, { threads: 1 });
  const x = Float32Array.from({ length: 25 }, (_, i) => i - 12);
  const { z } = await session.run({ x: { data: x, dims: [1, 1, 5, 5] } });
  await session.dispose();
  // The centre output of channel 0: the 3x3 kernel (i - 9) / 7 over x's centre window, then LeakyRelu(0.2).
  let centre = 0;
  for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) centre += ((dy * 3 + dx - 9) / 7) * x[(1 + dy) * 5 + 1 + dx];
  centre = centre > 0 ? centre : 0.2 * centre;
  assert.deepEqual(z.dims, [1, 2, 5, 5]);
  assert.ok(Math.abs(z.data[2 * 5 + 2] - centre) < 1e-4, `${z.data[12]} vs ${centre}`);
});
