import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeCollector } from './calibrate.js';
import { activationParams, quantizeWeights } from './quantize.js';

test('ranges: min-max is exact; percentile clips the rare outliers, over batches that widen the histogram', () => {
  const c = new RangeCollector();
  // 10,000 values in [0, 1), then a batch with one outlier at 50 (the histogram range doubles 6 times).
  c.add(
    'x',
    Float32Array.from({ length: 10000 }, (_, i) => i / 10000),
  );
  c.add('x', Float32Array.from([...Array.from({ length: 9999 }, (_, i) => i / 9999), 50]));
  assert.deepEqual(c.ranges('minmax').x, [0, 50]);
  const [lo, hi] = c.ranges('percentile', 99.9).x;
  assert.equal(lo, 0);
  assert.ok(hi >= 0.99 && hi < 1.1, `percentile 99.9 high end ${hi}`);
  // A tensor that goes negative gets a symmetric percentile range.
  c.add(
    'y',
    Float32Array.from({ length: 1000 }, (_, i) => (i - 500) / 100),
  );
  const [ylo, yhi] = c.ranges('percentile', 99.99).y;
  assert.ok(ylo < -4.9 && ylo >= -5 && yhi > 4.9 && yhi <= 4.99, `${ylo}, ${yhi}`);
});

test('uint8 activation parameters cover 0; int8 weights are symmetric, one scale per output channel', () => {
  const a = activationParams([0, 2.55]);
  assert.ok(a.zeroPoint === 0 && Math.abs(a.scale - 0.01) < 1e-12);
  const p = activationParams([-1, 3]);
  assert.equal(p.zeroPoint, 64);
  assert.ok(Math.abs(p.scale - 4 / 255) < 1e-9);
  assert.deepEqual(activationParams([1, 2]), { scale: 2 / 255, zeroPoint: 0 });
  // Two output channels of [2, 3]: channel 0 up to 1.27, channel 1 up to 0.127.
  const { q, scales } = quantizeWeights(Float32Array.from([1.27, -0.6, 0, 0.127, 0.05, -0.127]), [2, 3], 0);
  assert.deepEqual([...q], [127, -60, 0, 127, 50, -127]);
  assert.ok(Math.abs(scales[0] - 0.01) < 1e-7 && Math.abs(scales[1] - 0.001) < 1e-8);
});
