import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeDirAtomic } from '../io/atomicWrite.js';
import type { RunMeta } from './meta.js';
import { runPaths } from './paths.js';

// The saved model's last Dense as bytes in model/'s weight files: temperature scaling is
// folded in there (kernel and bias times 1/T) and recognised there (their sha256), without
// loading or re-serialising the whole model. See docs/calibration.md.

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
}

interface ModelJsonFile {
  weightsManifest?: Array<{ paths: string[]; weights: WeightSpec[] }>;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, float16: 2, int16: 2, uint8: 1, bool: 1 };

/** model.json's weight files, read, and where the kernel and bias of `layer` lie in them. */
async function locateLayer(modelDir: string, layer: string) {
  const json = JSON.parse(await fsp.readFile(path.join(modelDir, 'model.json'), 'utf8')) as ModelJsonFile;
  const shards: Array<{ file: string; bytes: Buffer }> = [];
  const at = new Map<string, { shard: number; offset: number; count: number }>();
  for (const group of json.weightsManifest ?? []) {
    const first = shards.length;
    for (const p of group.paths) shards.push({ file: p, bytes: await fsp.readFile(path.join(modelDir, p)) });
    // A group's weights lie end to end across its files.
    let offset = 0;
    for (const w of group.weights) {
      const count = w.shape.reduce((a, b) => a * b, 1);
      const size = count * (BYTES[w.quantization?.dtype ?? w.dtype] ?? 4);
      if (w.name === `${layer}/kernel` || w.name === `${layer}/bias`) {
        if (w.dtype !== 'float32' || w.quantization) throw new Error(`${w.name} in ${modelDir} is not stored as float32`);
        let shard = first;
        let local = offset;
        while (shard < shards.length && local >= shards[shard].bytes.length) local -= shards[shard++].bytes.length;
        if (shard === shards.length || local + size > shards[shard].bytes.length)
          throw new Error(`${w.name} in ${modelDir} is cut off or spans two weight files`);
        at.set(w.name, { shard, offset: local, count });
      }
      offset += size;
    }
  }
  const found = ['kernel', 'bias'].map((k) => {
    const hit = at.get(`${layer}/${k}`);
    if (!hit) throw new Error(`the model in ${modelDir} has no weight ${layer}/${k}`);
    return hit;
  });
  return { shards, found };
}

function digestOf(located: Awaited<ReturnType<typeof locateLayer>>): string {
  const hash = createHash('sha256');
  for (const w of located.found) hash.update(located.shards[w.shard].bytes.subarray(w.offset, w.offset + w.count * 4));
  return hash.digest('hex');
}

/** sha256 of the kernel and bias bytes of `layer` as model/ holds them. */
export async function layerDigest(modelDir: string, layer: string): Promise<string> {
  return digestOf(await locateLayer(modelDir, layer));
}

/**
 * Multiply the kernel and bias of `layer` by `factor` in the model folder (replaced
 * atomically: a crash leaves the old or the new folder, whole). Returns their new sha256.
 */
export async function scaleLayer(modelDir: string, layer: string, factor: number): Promise<string> {
  const located = await locateLayer(modelDir, layer);
  for (const w of located.found) {
    const bytes = located.shards[w.shard].bytes;
    for (let i = 0; i < w.count; i++) {
      const at = w.offset + i * 4;
      bytes.writeFloatLE(bytes.readFloatLE(at) * factor, at);
    }
  }
  await writeDirAtomic(modelDir, async (tmp) => {
    await fsp.cp(modelDir, tmp, { recursive: true });
    for (const s of located.shards) await fsp.writeFile(path.join(tmp, s.file), s.bytes);
  });
  return digestOf(located);
}

/**
 * The temperature folded into the run's saved model, or undefined: meta.json records one
 * and model/'s output layer still holds the weights it was folded into (a checkpoint
 * written after it, or a crash between the two writes, leaves an uncalibrated model).
 */
export async function savedTemperature(runDir: string, meta: Pick<RunMeta, 'calibration'>): Promise<number | undefined> {
  const c = meta.calibration;
  const model = runPaths(runDir).model;
  if (!c || !existsSync(path.join(model, 'model.json'))) return undefined;
  try {
    return (await layerDigest(model, c.layer)) === c.sha256 ? c.temperature : undefined;
  } catch {
    return undefined;
  }
}
