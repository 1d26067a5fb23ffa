/**
 * A session on the graph in ONNX Runtime's own format, the weights used where they were read
 * (what `tlkit predict` of a few images opens), against a session made from the ONNX graph
 * (what every other command opens), on VGG16@180's conv base with random weights (58 MB).
 * Prints the time of each run, for a batch of 1 and of 16, and the time to open each: the
 * baseline is the ONNX session, measured in the same process. The opening times are a warm
 * process's (the graph's memory already touched); a fresh process's are bench/coldStart.ts (d).
 *
 *   node --import tsx bench/ortFormat.ts [--runs 4]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { vgg16Architecture } from '../src/applications/vgg16.js';
import { exportToOnnx } from '../src/onnx/export.js';
import { OrtModel, type OrtModelOptions } from '../src/ort/ortRunner.js';
import { initBackend } from '../src/tfjs/backend.js';
import { numberArg } from './args.js';
import { machineLine } from './pytorch.js';

const runs = numberArg('--runs', 4);
const SIZE = 180;
await initBackend();
const model = vgg16Architecture({ includeTop: false, weights: 'none', inputShape: [SIZE, SIZE, 3] });
const onnx = exportToOnnx(model);
model.dispose();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tlkit-bench-ortformat-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const ortFile = path.join(work, 'vgg16.ort');
await (await OrtModel.create(onnx, { saveOrtFormatTo: ortFile })).dispose();
const ortBytes = new Uint8Array(fs.readFileSync(ortFile));
console.log(
  `VGG16@${SIZE} conv base, random weights: ONNX graph ${(onnx.length / 2 ** 20).toFixed(1)} MB, ORT format ${(ortBytes.length / 2 ** 20).toFixed(1)} MB`,
);
console.log(machineLine());

async function measure(name: string, bytes: Uint8Array, opts: OrtModelOptions): Promise<Record<number, number>> {
  const t0 = performance.now();
  const session = await OrtModel.create(bytes, opts);
  const open = performance.now() - t0;
  const medians: Record<number, number> = {};
  const cells: string[] = [];
  for (const batch of [1, 16]) {
    const x = new Float32Array(batch * SIZE * SIZE * 3).map((_, i) => (i * 7919) % 256);
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      await session.run(x, [batch, SIZE, SIZE, 3]);
      times.push(performance.now() - t);
    }
    // The first run of a session pays its one-off allocations: the steady state is the rest.
    const steady = times.slice(1).sort((a, b) => a - b);
    medians[batch] = steady[Math.floor(steady.length / 2)];
    cells.push(`batch ${batch}: ${times.map((v) => v.toFixed(0)).join(' ')} ms`);
  }
  await session.dispose();
  console.log(`  ${name.padEnd(44)} open ${open.toFixed(0).padStart(5)} ms   ${cells.join('   ')}`);
  return { 0: open, ...medians };
}

const base = await measure('ONNX graph (the baseline)', onnx, {});
const inPlace = await measure('ORT format, weights in place, no prepacking', ortBytes, { ortFormat: true, prepack: false });
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
console.log(`open: ORT format ${ratio(inPlace[0], base[0])} the baseline's time`);
console.log(
  `steady run (median after the first): batch 1 ${ratio(inPlace[1], base[1])}, batch 16 ${ratio(inPlace[16], base[16])} the baseline's time`,
);
