import { createHash } from 'node:crypto';
import { int8Graph, type CalibrationRecord } from '../ort/int8.js';
import { OrtModel, type OrtOutput } from '../ort/ortRunner.js';
import { calibration, storedCalibration, type CalibrationOutcome, type FrozenGraphOptions } from './calibration.js';
import { frozenGraphBytes, frozenGraphKey, type FrozenRunner } from './frozenBase.js';
import { cachedGraph, readCachedGraph, type GraphCacheOptions, type GraphKey } from './graphCache.js';

// The frozen graph a feature cache is computed with, through the on-disk graph cache:
// the fp32 export keyed by the base, the int8 graph also by its calibration. What
// calibration.ts's frozenGraph computes, without rebuilding what an earlier process built.

function int8Key(fp32: GraphKey, record: Pick<CalibrationRecord, 'settings' | 'ranges' | 'fp32Depthwise'>): GraphKey {
  const calibrated = createHash('sha256')
    .update(JSON.stringify({ settings: record.settings, ranges: record.ranges, fp32Depthwise: record.fp32Depthwise }))
    .digest('hex');
  return { ...fp32, precision: 'int8', extra: { ...fp32.extra, calibration: calibrated } };
}

/**
 * The ONNX graph of the frozen base (cut at `upTo`) at the asked precision, with its
 * calibration when int8. With the calibration already stored beside the features and
 * its int8 graph in the graph cache, the fp32 graph is not even read.
 */
export async function cachedFrozenGraph(
  opts: FrozenGraphOptions,
  cache: GraphCacheOptions = {},
): Promise<{ bytes: Uint8Array; calibration?: CalibrationRecord; hit: boolean } & Pick<CalibrationOutcome, 'known' | 'cost'>> {
  const fp32Key = frozenGraphKey(opts.base, opts.imageSize, opts.upTo);
  if (opts.precision === 'int8' && !opts.base.randomWeights) {
    const stored = await storedCalibration(opts);
    const bytes = stored && readCachedGraph(int8Key(fp32Key, stored.record), cache);
    if (stored && bytes) return { bytes, calibration: stored.record, hit: true };
  }
  const fp32 = await frozenGraphBytes(opts.base, opts.imageSize, opts.upTo, cache);
  if (opts.precision === 'fp32') return { bytes: fp32.bytes, hit: fp32.hit };
  // A calibration computed here comes with its int8 graph (the same bytes int8Graph gives) and that graph's features of its images.
  const { record, graph, known, cost } = await calibration(opts, fp32.bytes);
  const build = async () => graph ?? int8Graph(fp32.bytes, record);
  if (opts.base.randomWeights) return { bytes: await build(), calibration: record, hit: false, known, cost };
  const int8 = await cachedGraph(int8Key(fp32Key, record), build, cache);
  return { bytes: int8.bytes, calibration: record, hit: fp32.hit && int8.hit, known, cost };
}

/**
 * A runner whose ONNX Runtime session is still being created: the caller starts decoding
 * its first batches at once, and the first `run` waits for the session.
 */
export function runnerWhenReady(session: Promise<OrtModel>): FrozenRunner {
  // A failed creation is reported by the first run (or dispose), not as an unhandled rejection.
  session.catch(() => {});
  return {
    run: async (images: Float32Array, shape: number[]): Promise<OrtOutput> => (await session).run(images, shape),
    dispose: async () => {
      const model = await session.catch(() => undefined);
      await model?.dispose();
    },
  };
}

/** The frozen graph of `opts` (cached, see cachedFrozenGraph) with its session being created in the background. */
export async function openFrozenGraph(
  opts: FrozenGraphOptions,
  cache: GraphCacheOptions = {},
): Promise<{ runner: FrozenRunner; calibration?: CalibrationRecord; hit: boolean } & Pick<CalibrationOutcome, 'known' | 'cost'>> {
  const graph = await cachedFrozenGraph(opts, cache);
  const runner = runnerWhenReady(OrtModel.create(graph.bytes, { threads: opts.threads }));
  return { runner, calibration: graph.calibration, hit: graph.hit, known: graph.known, cost: graph.cost };
}
