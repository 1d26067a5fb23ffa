import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeCollector, StatsCollector, withStatistics } from './calibrate.js';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from './proto.js';
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

/** A graph x -> Relu -> r -> Mul(0.5) -> y, with x and r observed through withStatistics. */
async function statisticsSession(images: number, lowestPercentile: number) {
  const { OrtSession } = await import('../ort/ortRunner.js');
  const base = makeModel(
    makeGraph(
      [makeNode('Relu', ['x'], ['r'], 'relu'), makeNode('Mul', ['r', 'half'], ['y'], 'mul')],
      'g',
      [makeValueInfo('x', [null, 6, 5, 3])],
      [makeValueInfo('y', [null, 6, 5, 3])],
      [makeTensor('half', [], Float32Array.of(0.5))],
    ),
  );
  const { model, outputs } = withStatistics(base, ['x', 'r'], { images, lowestPercentile });
  const session = await OrtSession.create(encodeModel(model), { threads: 1 });
  return { session, outputs };
}

/** Values like activations: mostly small, a few far out (both signs on x). */
function batchValues(n: number, seed: number): Float32Array {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return Float32Array.from({ length: n * 90 }, () => {
    const u = rand();
    return u < 0.002 ? (rand() - 0.5) * 400 : (rand() - 0.3) * 3;
  });
}

test('ranges from the statistics graph: min-max exact, percentiles the exact order statistic, within one histogram bin of RangeCollector', async () => {
  const batches = [8, 8, 8, 3].map((n, i) => ({ n, data: batchValues(n, i + 1) }));
  const images = batches.reduce((a, b) => a + b.n, 0);
  const { session, outputs } = await statisticsSession(images, 99.9);
  const reference = new RangeCollector();
  const stats = new StatsCollector();
  const all: Record<string, number[]> = { x: [], r: [] };
  try {
    for (const b of batches) {
      const out = await session.run({ x: { data: b.data, dims: [b.n, 6, 5, 3] } });
      const relu = b.data.map((v) => Math.max(v, 0));
      for (const [t, values] of [
        ['x', b.data],
        ['r', relu],
      ] as const) {
        const o = outputs[t];
        // Only the kept top values come back, not the tensor.
        assert.ok(out[o.top].data.length < values.length, `${t}: ${out[o.top].data.length} values back`);
        stats.add(t, out[o.min].data[0], out[o.max].data[0], out[o.top].data, out[o.shape].data);
        reference.add(t, values);
        all[t].push(...values);
      }
    }
  } finally {
    await session.dispose();
  }
  assert.deepEqual(stats.ranges('minmax'), reference.ranges('minmax'));
  for (const p of [99.9, 99.99, 99.999]) {
    const got = stats.ranges('percentile', p);
    const old = reference.ranges('percentile', p);
    for (const t of ['x', 'r']) {
      // The exact order statistic of |x|, as RangeCollector counts ranks.
      const sorted = all[t].map(Math.abs).sort((a, b) => a - b);
      const exact = Math.fround(sorted[Math.ceil((sorted.length * p) / 100) - 1]);
      const [lo, hi] = got[t];
      assert.equal(hi, Math.min(exact, Math.max(...all[t])), `${t} @${p}`);
      assert.equal(lo, t === 'r' ? 0 : Math.max(-exact, Math.min(...all[t])));
      // RangeCollector's threshold is the upper edge of the bin that holds it.
      const binWidth = (2 * Math.max(...all[t].map(Math.abs))) / 2048;
      assert.ok(old[t][1] >= hi && old[t][1] - hi <= binWidth, `${t} @${p}: ${old[t][1]} vs ${hi}`);
    }
  }
  // Kept for percentiles down to 99.9: a lower one would need values no batch kept.
  assert.throws(() => stats.ranges('percentile', 99), /needs its \d+ largest values/);
});
