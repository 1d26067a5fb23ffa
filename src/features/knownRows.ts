import type { InputBatch } from '../ort/int8.js';
import type { OrtOutput } from '../ort/ortRunner.js';
import type { FrozenRunner } from './frozenBase.js';

// Feature rows already computed by the very graph an extraction runs, on the very pixels it
// would decode: the int8 calibration's check runs the quantized graph over its images (the
// same decoding, the same files), and ONNX Runtime gives each image the same output whatever
// else is in its batch. The extraction takes those rows instead of running the images again.

export interface KnownRows {
  /** The shape of one row (the graph's output without the batch axis). */
  rowShape: number[];
  /** Rows by the image's file (as the dataset lists it). */
  rows: Map<string, Float32Array>;
}

/** The rows of `outputs`, the graph's outputs on `batches` (in order), by file; batches without files give none. */
export function knownRowsOf(batches: readonly InputBatch[], outputs: readonly Float32Array[], rowShape: number[]): KnownRows {
  const rows = new Map<string, Float32Array>();
  const per = rowShape.reduce((a, b) => a * b, 1);
  batches.forEach((b, k) => {
    b.files?.forEach((f, i) => rows.set(f, outputs[k].slice(i * per, (i + 1) * per)));
  });
  return { rowShape, rows };
}

/**
 * `runner`'s output on a batch of `files`, taking the rows `known` holds (each once: it is
 * removed from `known`) and running the network on the other images only. `ran` is how many
 * images went through the network.
 */
export async function runKnowing(
  runner: FrozenRunner,
  batch: { images: Float32Array; shape: number[]; files: string[] },
  known?: KnownRows,
): Promise<{ output: OrtOutput; ran: number }> {
  const n = batch.shape[0];
  const have = known ? batch.files.map((f) => known.rows.get(f)) : [];
  if (!known || have.every((r) => r === undefined)) return { output: await runner.run(batch.images, batch.shape), ran: n };
  const perImage = batch.images.length / n;
  const missing = have.flatMap((r, i) => (r === undefined ? [i] : []));
  let computed: OrtOutput | undefined;
  if (missing.length) {
    const images = new Float32Array(missing.length * perImage);
    missing.forEach((i, j) => images.set(batch.images.subarray(i * perImage, (i + 1) * perImage), j * perImage));
    computed = await runner.run(images, [missing.length, ...batch.shape.slice(1)]);
  }
  const per = known.rowShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n * per);
  let j = 0;
  have.forEach((row, i) => {
    if (row) data.set(row, i * per);
    else {
      data.set(computed!.data.subarray(j * per, (j + 1) * per), i * per);
      j++;
    }
  });
  for (const f of batch.files) known.rows.delete(f);
  return { output: { data, shape: [n, ...known.rowShape] }, ran: missing.length };
}
