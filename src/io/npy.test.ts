import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeNpy, encodeNpy, npyHeader, NpyStreamWriter, readNpy, writeNpy } from './npy.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-npy-'));

test('header is the exact NumPy 1.0 layout, data aligned to 64 bytes', () => {
  const h = npyHeader('<f4', [2, 3]);
  assert.equal(h.length % 64, 0);
  assert.deepEqual([...h.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const len = h[8] | (h[9] << 8);
  assert.equal(len, h.length - 10);
  const text = Buffer.from(h.subarray(10)).toString('latin1');
  assert.match(text, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
  assert.match(Buffer.from(npyHeader('<i4', [5])).toString('latin1'), /'shape': \(5,\)/);
});

test('round trip of float32 and int32 arrays through files', async () => {
  const dir = tmp();
  const f = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);
  await writeNpy(path.join(dir, 'f.npy'), f, [2, 3, 4]);
  const back = await readNpy(path.join(dir, 'f.npy'));
  assert.equal(back.dtype, '<f4');
  assert.deepEqual(back.shape, [2, 3, 4]);
  assert.deepEqual([...back.data], [...f]);
  const i = Int32Array.of(1, 0, 1, 1);
  const bi = decodeNpy(encodeNpy(i, [4]));
  assert.equal(bi.dtype, '<i4');
  assert.deepEqual([...bi.data], [1, 0, 1, 1]);
});

test('streamed rows get the final count written into the header', async () => {
  const dir = tmp();
  const file = path.join(dir, 's.npy');
  const w = NpyStreamWriter.open(file, '<f4', [2, 2]);
  w.append(Float32Array.of(1, 2, 3, 4));
  w.append(Float32Array.of(5, 6, 7, 8, 9, 10, 11, 12));
  assert.throws(() => w.append(Float32Array.of(1, 2, 3)), /whole number of rows/);
  w.close();
  const back = await readNpy(file);
  assert.deepEqual(back.shape, [3, 2, 2]);
  assert.deepEqual([...back.data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

test('a truncated or foreign file is a UserError naming it', () => {
  const good = encodeNpy(Float32Array.of(1, 2, 3, 4), [4]);
  assert.throws(
    () => decodeNpy(good.subarray(0, good.length - 4), 'x.npy'),
    (e: Error) => e.name === 'UserError' && /x\.npy.*truncated/.test(e.message),
  );
  assert.throws(
    () => decodeNpy(new Uint8Array(20), 'y.npy'),
    (e: Error) => e.name === 'UserError' && /y\.npy/.test(e.message),
  );
});
